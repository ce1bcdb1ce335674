#include "test/chaos/chaos_plan.h"

#include <algorithm>
#include <deque>

namespace envop::chaos {

using Json = nlohmann::json;

const char* faultName(Fault f) {
  switch (f) {
    case Fault::kLeaderKill:
      return "leader-kill";
    case Fault::kApiserverStop:
      return "apiserver-sigstop-20s";
    case Fault::kApiserverRestart:
      return "apiserver-restart";
    case Fault::kEtcdCompaction:
      return "etcd-compaction";
    case Fault::kRegistryDown:
      return "chart-registry-down-60s";
    case Fault::kRegistry5xx:
      return "chart-registry-5xx";
    case Fault::kRegistrySlow:
      return "chart-registry-slow";
    case Fault::kHarborDown:
      return "harbor-down-60s";
    case Fault::kHarbor5xx:
      return "harbor-5xx";
    case Fault::kHarborSlow:
      return "harbor-slow";
    case Fault::kHelmKill:
      return "helm-child-sigkill";
  }
  return "?";
}

bool isDurative(Fault f) {
  switch (f) {
    case Fault::kApiserverStop:
    case Fault::kRegistryDown:
    case Fault::kRegistry5xx:
    case Fault::kRegistrySlow:
    case Fault::kHarborDown:
    case Fault::kHarbor5xx:
    case Fault::kHarborSlow:
      return true;
    default:
      return false;
  }
}

bool isInstant(Fault f) {
  return f == Fault::kLeaderKill || f == Fault::kApiserverRestart || f == Fault::kEtcdCompaction;
}

namespace {

int windowOf(Fault f, const PlanOptions& o) {
  switch (f) {
    case Fault::kRegistryDown:
    case Fault::kHarborDown:
      return o.outageMs;
    case Fault::kApiserverStop:
      return o.stopMs;
    case Fault::kRegistry5xx:
    case Fault::kRegistrySlow:
    case Fault::kHarbor5xx:
    case Fault::kHarborSlow:
      return o.degradedMs;
    case Fault::kHelmKill:
      return o.helmKillWindowMs;
    default:
      return 8'000;  // an instant fault leading a round of its own
  }
}

// Whether a degraded spell (5xx or slow) of a dependency may run inside `host`'s window: one
// of the other dependency during an outage, any during an apiserver stop, Harbor's during a
// helm kill (which needs the chart registry, not Harbor).
bool pairs(Fault host, Fault degraded) {
  const bool harbor = degraded == Fault::kHarbor5xx || degraded == Fault::kHarborSlow;
  const bool registry = degraded == Fault::kRegistry5xx || degraded == Fault::kRegistrySlow;
  switch (host) {
    case Fault::kRegistryDown:
      return harbor;
    case Fault::kHarborDown:
      return registry;
    case Fault::kApiserverStop:
      return harbor || registry;
    case Fault::kHelmKill:
      return harbor;
    default:
      return false;
  }
}

}  // namespace

std::vector<Round> planRounds(Rng& rng, const PlanOptions& o) {
  const int n = std::max(1, o.faults);
  const int others = n <= 1 ? 0 : std::max(std::min(n - 1, 10), n - n / 2);
  const int leaderKills = n - others;
  std::vector<Fault> kinds = {
      Fault::kApiserverStop, Fault::kApiserverRestart, Fault::kEtcdCompaction, Fault::kRegistryDown,
      Fault::kRegistry5xx,   Fault::kRegistrySlow,     Fault::kHarborDown,     Fault::kHarbor5xx,
      Fault::kHarborSlow,    Fault::kHelmKill};
  std::shuffle(kinds.begin(), kinds.end(), rng.gen());
  std::vector<Fault> primaries;
  std::deque<Fault> instants(leaderKills, Fault::kLeaderKill);
  for (int i = 0; i < others; ++i) {
    const Fault f = kinds[i % kinds.size()];
    (isInstant(f) ? instants.push_back(f) : primaries.push_back(f));
  }
  std::shuffle(primaries.begin(), primaries.end(), rng.gen());
  std::shuffle(instants.begin(), instants.end(), rng.gen());

  std::vector<Round> rounds;
  std::vector<bool> used(primaries.size(), false);
  for (size_t i = 0; i < primaries.size(); ++i) {
    if (used[i]) continue;
    used[i] = true;
    Round r{.primary = primaries[i], .windowMs = windowOf(primaries[i], o)};
    // The window hosts degraded spells of another dependency, one after the other, as many
    // as fit with 2 s before, 6 s between and room after.
    const int slot = o.degradedMs + 6'000;
    int slots = std::max(0, (r.windowMs - 4'000) / slot);
    for (size_t j = i + 1; slots > 0 && j < primaries.size(); ++j) {
      if (!used[j] && pairs(r.primary, primaries[j])) {
        used[j] = true;
        const int k = static_cast<int>(r.secondaries.size());
        r.secondaries.push_back({primaries[j], 2'000 + k * slot + rng.between(0, 2'000)});
        --slots;
      }
    }
    rounds.push_back(std::move(r));
  }
  // Instant faults ride in the windows: one or two per round (three in an outage), at random
  // points at least 3 s apart from the window's ends.
  for (Round& r : rounds) {
    const int most = r.windowMs >= 60'000 ? 3 : 2;
    int take = std::min<int>(rng.between(1, most), static_cast<int>(instants.size()));
    for (auto it = instants.begin(); take > 0 && it != instants.end();) {
      // A restart would kill the stopped apiserver and so end the hang early.
      if (r.primary == Fault::kApiserverStop && *it == Fault::kApiserverRestart) {
        ++it;
        continue;
      }
      r.secondaries.push_back({*it, rng.between(3'000, std::max(3'000, r.windowMs - 3'000))});
      it = instants.erase(it);
      --take;
    }
  }
  // What is left leads rounds of its own, with up to two more in each.
  while (!instants.empty()) {
    Round r{.primary = instants.front(), .windowMs = windowOf(instants.front(), o)};
    instants.pop_front();
    for (int k = rng.between(0, 2); k > 0 && !instants.empty(); --k) {
      r.secondaries.push_back({instants.front(), rng.between(2'000, r.windowMs - 1'000)});
      instants.pop_front();
    }
    rounds.push_back(std::move(r));
  }
  std::shuffle(rounds.begin(), rounds.end(), rng.gen());
  for (Round& r : rounds) {
    std::sort(r.secondaries.begin(), r.secondaries.end(),
              [](const Injection& a, const Injection& b) { return a.atMs < b.atMs; });
    // One edit just before the primary fault starts, and often one more inside the window
    // (not while the apiserver is stopped: kubectl would hang with it).
    r.editsAtMs.push_back(0);
    if (r.primary != Fault::kApiserverStop && rng.coin(0.6)) {
      r.editsAtMs.push_back(rng.between(1'000, std::max(1'000, r.windowMs)));
    }
  }
  return rounds;
}

int countFaults(const std::vector<Round>& rounds) {
  int n = 0;
  for (const Round& r : rounds) n += 1 + static_cast<int>(r.secondaries.size());
  return n;
}

std::vector<StageModel> initialStages() {
  std::vector<StageModel> stages;
  const std::vector<std::pair<std::string, std::string>> names = {
      {"pro", "production"}, {"pre", "gray"}, {"test", "test"}, {"dev", "development"}};
  int octet = 10;
  for (const auto& [name, stage] : names) {
    StageModel s{.name = name, .stage = stage};
    s.releases["config-server"] = {.chart = "config-server"};
    s.releases["registry"] = {.chart = "registry"};
    s.releases["gateway"] = {.chart = "gateway", .dependsOn = {"config-server"}};
    s.releases["orders"] = {.chart = "orders", .dependsOn = {"config-server", "registry"}};
    s.ext[name + "-postgresql"] = {"10.20." + std::to_string(octet) + ".11"};
    s.ext[name + "-redis"] = {"10.20." + std::to_string(octet) + ".31"};
    octet += 10;
    stages.push_back(std::move(s));
  }
  return stages;
}

Json environmentManifest(const StageModel& s, const Endpoints& e) {
  Json releases = Json::array();
  for (const auto& [name, r] : s.releases) {
    Json rel = {{"name", name},
                {"chart", r.chart},
                {"version", r.version},
                // Short: a helm child killed mid-upgrade leaves a lock that is taken as
                // abandoned only after the timeout and helm's kill grace have passed.
                {"timeout", "30s"}};
    if (r.chart != "agent") {
      rel["values"] = {{"replicaCount", r.replicas}, {"greeting", r.greeting}};
    }
    if (!r.dependsOn.empty()) {
      Json deps = Json::array();
      for (const std::string& d : r.dependsOn) {
        if (s.releases.count(d) != 0) deps.push_back(d);
      }
      if (!deps.empty()) rel["dependsOn"] = deps;
    }
    releases.push_back(rel);
  }
  Json services = Json::array();
  for (const auto& [name, addresses] : s.ext) {
    services.push_back({{"name", name},
                        {"addresses", addresses},
                        {"ports", Json::array({{{"name", "tcp"}, {"port", 5432}}})}});
  }
  return {
      {"apiVersion", "envop.io/v1alpha1"},
      {"kind", "Environment"},
      {"metadata", {{"name", s.name}}},
      {"spec",
       {{"stage", s.stage},
        {"namespace",
         {{"name", s.name},
          {"labels", {{"team", "springcloud"}}},
          // Every stage's namespace goes with its Environment, production too: the run
          // deletes and recreates Environments and checks nothing is left behind.
          {"deletionPolicy", "Delete"},
          {"resourceQuota", {{"hard", {{"pods", "100"}, {"requests.cpu", "32"}}}}},
          {"limitRange",
           {{"default", {{"cpu", "200m"}, {"memory", "256Mi"}}},
            {"defaultRequest", {{"cpu", "50m"}, {"memory", "64Mi"}}}}},
          {"networkIsolation", "Isolated"}}},
        {"registry",
         {{"harbor",
           {{"url", e.harborUrl},
            {"credentialsSecretRef", {{"name", "harbor-admin"}}},
            {"caSecretRef", {{"name", "harbor-ca"}}},
            {"project", {{"name", "springcloud"}, {"public", false}, {"deletionPolicy", "Retain"}}},
            {"pullSecret",
             {{"name", "harbor-pull"}, {"serviceAccounts", Json::array({"default"})}}}}}}},
        {"charts", {{"repository", e.chartRepository}, {"plainHTTP", true}}},
        {"values", {{"global", {{"env", s.name}}}}},
        {"releases", releases},
        {"externalServices", {{"namespace", "ext"}, {"services", services}}}}}};
}

Edit randomEdit(Rng& rng, std::vector<StageModel>& stages) {
  std::vector<StageModel*> live, gone;
  for (StageModel& s : stages) {
    if (s.exists) live.push_back(&s);
    if (!s.exists && !s.deleting) gone.push_back(&s);
  }
  if (!gone.empty() && (live.empty() || rng.coin(0.6))) {
    StageModel& s = *gone[rng.below(static_cast<int>(gone.size()))];
    s.exists = true;
    return {s.name, "recreate the Environment", false, true};
  }
  StageModel& s = *live[rng.below(static_cast<int>(live.size()))];
  const int dice = rng.below(100);
  if (dice < 8 && live.size() >= 3) {
    s.exists = false;
    s.deleting = true;
    return {s.name, "delete the Environment", true, false};
  }
  std::vector<std::string> names;
  for (const auto& [n, r] : s.releases) names.push_back(n);
  const std::string pick = names[rng.below(static_cast<int>(names.size()))];
  ReleaseModel& r = s.releases[pick];
  if (dice < 45) {
    if (r.chart == "agent" || rng.coin()) {
      r.version = r.version == "1.0.0" ? "1.0.1" : "1.0.0";
      return {s.name, "release " + pick + " to version " + r.version};
    }
    r.replicas = r.replicas == 1 ? 2 : 1;
    return {s.name, "release " + pick + " replicaCount " + std::to_string(r.replicas)};
  }
  if (dice < 65 && r.chart != "agent") {
    r.greeting = "hello-" + std::to_string(rng.below(1'000'000));
    return {s.name, "release " + pick + " greeting " + r.greeting};
  }
  if (dice < 85) {
    // Releases come and go: the agent (a DaemonSet) and orders; config-server, registry and
    // gateway stay, so the dependency order is always exercised.
    const std::string toggled = rng.coin() ? "agent" : "orders";
    if (s.releases.erase(toggled) != 0) return {s.name, "remove release " + toggled};
    s.releases[toggled] = toggled == "agent"
                              ? ReleaseModel{.chart = "agent"}
                              : ReleaseModel{.chart = "orders", .dependsOn = {"config-server"}};
    return {s.name, "add release " + toggled};
  }
  // ext Services: one changes its address, or a third comes and goes.
  const std::string extra = s.name + "-rabbitmq";
  if (rng.coin()) {
    if (s.ext.erase(extra) != 0) return {s.name, "remove ext Service " + extra};
    s.ext[extra] = {"10.30.0." + std::to_string(rng.between(1, 250))};
    return {s.name, "add ext Service " + extra};
  }
  auto& addresses = s.ext.begin()->second;
  addresses = {"10.40.0." + std::to_string(rng.between(1, 250))};
  return {s.name, "ext Service " + s.ext.begin()->first + " to " + addresses[0]};
}

}  // namespace envop::chaos
