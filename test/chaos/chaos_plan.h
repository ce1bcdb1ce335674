// The chaos run's plan, as pure logic: which faults, in which rounds, at which offsets, and the
// four stages' desired state with the edits the driver makes to it. Everything here is drawn
// from one seeded generator, so a seed printed in the log replays the same plan (the timing of
// real processes under it is, of course, the machine's).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace envop::chaos {

enum class Fault {
  kLeaderKill,        // SIGKILL of the replica holding the Lease
  kApiserverStop,     // SIGSTOP of kube-apiserver for 20 s: hung, connections open
  kApiserverRestart,  // test/cluster/restart kube-apiserver
  kEtcdCompaction,    // compaction of every revision: every watch gets 410 Gone
  kRegistryDown,      // the chart registry killed for 60 s, back on the same port
  kRegistry5xx,       // the chart registry answering 503
  kRegistrySlow,      // the chart registry answering seconds late
  kHarborDown,        // the Harbor double stopped for 60 s, back with its state
  kHarbor5xx,         // the Harbor double answering 503
  kHarborSlow,        // the Harbor double answering seconds late
  kHelmKill,          // a helm child of the leader SIGKILLed mid-upgrade
};
const char* faultName(Fault f);
// A fault with a window of its own (it starts, lasts, ends) rather than a single moment.
bool isDurative(Fault f);
// A single-moment fault another fault's window may host.
bool isInstant(Fault f);

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : gen_(seed) {}
  int below(int n) { return std::uniform_int_distribution<int>(0, n - 1)(gen_); }
  int between(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(gen_); }
  bool coin(double p = 0.5) { return std::bernoulli_distribution(p)(gen_); }
  std::mt19937_64& gen() { return gen_; }

 private:
  std::mt19937_64 gen_;
};

// One injection inside a round, `atMs` after the round started.
struct Injection {
  Fault fault;
  int atMs = 0;
};

// A round: one primary fault whose window (windowMs) may host instant faults and a durative
// fault on the other outside dependency, and edits to the stages at random offsets; then the
// driver waits for convergence and checks the invariants.
struct Round {
  Fault primary;
  int windowMs = 0;
  std::vector<Injection> secondaries;
  std::vector<int> editsAtMs;
};

struct PlanOptions {
  int faults = 40;
  int outageMs = 60'000;    // registry and Harbor down
  int stopMs = 20'000;      // apiserver SIGSTOP
  int degradedMs = 15'000;  // 5xx / slow
  int helmKillWindowMs = 30'000;
};

// Half the faults are leader kills, but at least ten (when there are eleven) are of the other
// kinds, which they go round in an order the seed shuffles: every kind is injected at least
// once when faults >= 11, and twice at 40 (with 20 leader kills). Instant faults ride in other
// faults' windows, and an outage of one outside dependency may host a degraded spell of the other,
// which keeps a 40-fault run short.
std::vector<Round> planRounds(Rng& rng, const PlanOptions& options);
int countFaults(const std::vector<Round>& rounds);

// The desired state of one release and of one stage.
struct ReleaseModel {
  std::string chart;
  std::string version = "1.0.0";
  int replicas = 1;
  std::string greeting = "hello";
  std::vector<std::string> dependsOn;
};

struct StageModel {
  std::string name;   // Environment, namespace and robot name
  std::string stage;  // production | gray | test | development
  bool exists = true;
  // Deleted and not yet gone: the driver clears it once a convergence saw it gone, and only
  // then may it be recreated (an apply would land on the terminating object).
  bool deleting = false;
  std::map<std::string, ReleaseModel> releases;
  std::map<std::string, std::vector<std::string>> ext;  // ext Service name -> addresses
};

struct Endpoints {
  std::string chartRepository;  // oci://127.0.0.1:PORT/springcloud
  std::string harborUrl;
};

// pro, pre, test, dev: four releases each, two ext Services each.
std::vector<StageModel> initialStages();
// The Environment manifest for a stage as the model says it.
nlohmann::json environmentManifest(const StageModel& stage, const Endpoints& endpoints);

// One edit the driver makes: what it did, for the log and a failure's message.
struct Edit {
  std::string stage;
  std::string what;
  bool deleted = false;    // the Environment is to be deleted
  bool recreated = false;  // the Environment is to be applied again after a deletion
};
// Changes one stage of `stages` at random: a values edit, a version bump, a release added or
// removed, an ext Service edit, the Environment deleted, or a deleted one recreated. Never to
// a broken chart version: no release the driver touches may be rolled back or uninstalled.
Edit randomEdit(Rng& rng, std::vector<StageModel>& stages);

}  // namespace envop::chaos
