// The chaos run (issue 14): four stages kept changing on a control plane of the run's own,
// with two envop-controller replicas under leader election, while faults are injected at random
// points from a seeded plan; after each round of faults and at the end the invariants a user
// relies on are checked. The seed is printed first (CHAOS_SEED replays the plan); a failure
// names the seed, the round and the step.
//
// Knobs (environment): CHAOS_SEED, CHAOS_FAULTS (default 12, which holds every kind of fault; `make
// chaos` runs 40), CHAOS_CONVERGE_SECONDS (the convergence bound, default 300), CHAOS_QUIET_SECONDS
// (the final quiet window, default 30), CHAOS_ROUND_QUIET_SECONDS (after each round, default 5),
// CHAOS_OUTAGE_SECONDS (registry/Harbor down, default 60), CHAOS_CREDENTIALS (chart-sa, the
// default: the controllers run with the token of the chart's ServiceAccount and its RBAC; or
// admin: a cluster-admin kubeconfig),
// CHAOS_REPORT (where the figures go as JSON; default build/chaos-report-<seed>.json).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <boost/process.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "controller/kube/config.h"
#include "controller/util/gzip.h"
#include "test/chaos/chaos_plan.h"
#include "test/support/charts.h"
#include "test/support/controller_process.h"
#include "test/support/harbor.h"
#include "test/support/local_cluster.h"
#include "test/support/secret_scan.h"

namespace envop::testing {
namespace {

namespace fs = std::filesystem;
namespace bp = boost::process;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using chaos::Fault;

constexpr const char* kUserAgentEnvop = "envop-controller";
constexpr const char* kUserAgentHelm = "Helm/";

std::string envOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v == nullptr || *v == '\0' ? fallback : std::string(v);
}
int envInt(const char* name, int fallback) {
  return std::stoi(envOr(name, std::to_string(fallback)));
}

std::string fileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
std::string tailOf(const std::string& text, size_t n) {
  return text.size() > n ? text.substr(text.size() - n) : text;
}
double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
std::string nowUtc() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S", std::gmtime(&t));
  return buf;
}
double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

bool processGone(int pid) {
  const std::string stat = fileText("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return true;
  const auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
}

// Children of `parent` whose argv[0] is helm, with their argv.
std::vector<std::pair<int, std::vector<std::string>>> helmChildren(int parent) {
  std::vector<std::pair<int, std::vector<std::string>>> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    const std::string stat = fileText(entry.path().string() + "/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid != parent) continue;
    const std::string raw = fileText(entry.path().string() + "/cmdline");
    std::vector<std::string> argv;
    std::string cur;
    for (char c : raw) {
      if (c == '\0') {
        argv.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (argv.empty() || fs::path(argv[0]).filename() != "helm") continue;
    out.emplace_back(std::stoi(name), argv);
  }
  return out;
}

// One revision of a helm release, decoded from Helm's storage Secret.
struct HelmRevision {
  std::string ns, name, status, description, chartVersion;
  int revision = 0;
};

std::optional<HelmRevision> decodeReleaseSecret(const Json& secret) {
  const Json& labels = secret["metadata"].value("labels", Json::object());
  HelmRevision r{.ns = secret["metadata"].value("namespace", ""),
                 .name = labels.value("name", ""),
                 .status = labels.value("status", "")};
  r.revision = std::atoi(labels.value("version", "0").c_str());
  const auto outer = kube::decodeBase64(secret.value("data", Json::object()).value("release", ""));
  if (!outer) return r;
  const auto inner = kube::decodeBase64(*outer);
  if (!inner) return r;
  const auto text = util::gunzip(*inner);
  const Json release = Json::parse(text.value_or(*inner), nullptr, false);
  if (release.is_object()) {
    r.description = release.value("info", Json::object()).value("description", "");
    r.chartVersion = release.value("chart", Json::object())
                         .value("metadata", Json::object())
                         .value("version", "");
  }
  return r;
}

// The audit log's write requests from envop and its helm children.
struct AuditWrite {
  std::string verb, resource, subresource, ns, name, userAgent;
  int code = 0;
  std::string describe() const {
    return verb + " " + resource + (subresource.empty() ? "" : "/" + subresource) + " " +
           (ns.empty() ? "" : ns + "/") + name + " (" + userAgent + ", " + std::to_string(code) +
           ")";
  }
};

class ChaosRun {
 public:
  ChaosRun()
      : seed_(std::stoull(
            envOr("CHAOS_SEED", std::to_string(std::random_device{}() |
                                               (std::uint64_t(std::random_device{}()) << 32))))),
        rng_(seed_) {}

  std::uint64_t seed() const { return seed_; }

  // Everything up, the four stages applied and Ready: the run's starting point.
  void setUp() {
    std::cout << "CHAOS SEED=" << seed_ << " (replay with CHAOS_SEED=" << seed_ << ")" << std::endl;
    started_ = Clock::now();
    cluster_ = std::make_unique<ScopedCluster>();
    cluster_->applyCrds();
    enableAudit();
    registry_ = std::make_unique<TestRegistry>();
    pushTestCharts(*registry_, cluster_->helm());
    startProxy();
    harbor_ = std::make_unique<TestHarbor>(cluster_->dir() + "/harbor");
    harbor_->installCredentials(*cluster_);
    controllerKubeconfig_ = makeControllerKubeconfig(envOr("CHAOS_CREDENTIALS", "chart-sa"));
    for (int i = 0; i < 2; ++i) {
      replicas_.push_back({.name = "envop-chaos-" + std::string(1, char('a' + i))});
      startReplica(replicas_.back());
    }
    stages_ = chaos::initialStages();
    endpoints_ = {
        .chartRepository = "oci://127.0.0.1:" + std::to_string(proxyPort_) + "/springcloud",
        .harborUrl = harbor_->value("HARBOR_URL")};
    for (const auto& s : stages_) applyStage(s);
    log("set-up done in " + std::to_string(int(secondsSince(started_))) + " s; waiting for Ready");
  }

  void tearDown() {
    if (stoppedApiserver_ > 0) ::kill(stoppedApiserver_, SIGCONT);
    for (auto& r : replicas_) r.proc.reset();
    if (proxy_.valid() && proxy_.running()) {
      ::kill(proxy_.id(), SIGKILL);
      proxy_.wait();
    }
    harbor_.reset();
    registry_.reset();
    cluster_.reset();
  }

  // A failure is reported with the seed and the step; the run stops at the first.
  [[nodiscard]] bool fail(const std::string& what) {
    failure_ = "CHAOS FAILURE seed=" + std::to_string(seed_) + " round " + std::to_string(round_) +
               " step \"" + step_ + "\": " + what;
    std::cout << failure_ << std::endl;
    return false;
  }
  const std::string& failure() const { return failure_; }
  std::string diagnostics() {
    std::string out = "\nEnvironments:\n";
    const Json envs = cluster_->get({"environments"});
    for (const Json& e : envs.is_object() ? envs["items"] : Json::array()) {
      out += e["metadata"].value("name", "") + " gen " +
             std::to_string(e["metadata"].value("generation", 0)) + ": " +
             e.value("status", Json::object()).dump() + "\n";
    }
    for (auto& r : replicas_) {
      for (const std::string& l : r.logs)
        out += "\n--- " + l + " (tail)\n" + tailOf(fileText(l), 6000);
    }
    return out;
  }

  bool run() {
    step_ = "initial convergence";
    double t = 0;
    if (!converge(envInt("CHAOS_CONVERGE_SECONDS", 300) * 2, t)) return false;
    log("initial convergence in " + std::to_string(int(t)) + " s");
    step_ = "initial invariants";
    if (!checkInvariants()) return false;

    options_ = {.faults = envInt("CHAOS_FAULTS", 12),
                .outageMs = envInt("CHAOS_OUTAGE_SECONDS", 60) * 1000};
    auto rounds = chaos::planRounds(rng_, options_);
    log("plan: " + std::to_string(chaos::countFaults(rounds)) + " faults in " +
        std::to_string(rounds.size()) + " rounds");
    for (size_t i = 0; i < rounds.size(); ++i) {
      round_ = static_cast<int>(i) + 1;
      if (!runRound(rounds[i])) return false;
    }
    round_ = 0;
    step_ = "final quiet window";
    if (!quiet(envInt("CHAOS_QUIET_SECONDS", 30))) return false;
    step_ = "final invariants";
    if (!checkInvariants()) return false;
    // The idle-write witness must see envop's writes when there are some, its helm children's
    // included: else "no write while idle" would hold whatever envop did.
    step_ = "audit witness";
    for (const AuditWrite& w : envopWritesSince(0)) {
      ++(w.userAgent.rfind(kUserAgentHelm, 0) == 0 ? helmWrites_ : controllerWrites_);
    }
    if (controllerWrites_ == 0 || helmWrites_ == 0) {
      return fail("the audit log shows " + std::to_string(controllerWrites_) + " envop and " +
                  std::to_string(helmWrites_) +
                  " helm writes over the whole run: the witness is blind");
    }
    step_ = "secret scan";
    if (!scanSecrets()) return false;
    report();
    return true;
  }

 private:
  struct Replica {
    std::string name;
    std::unique_ptr<ControllerProcess> proc;
    std::vector<std::string> logs;
    int restarts = 0;
    std::set<std::pair<std::string, std::string>> helmInFlight;  // seen at the last look
  };

  void log(const std::string& line) {
    std::cout << "[chaos " << nowUtc() << "] " << line << std::endl;
  }

  // ---- set-up -------------------------------------------------------------------------------

  // The apiserver writes an audit log of every write (Metadata level), which is how the run
  // counts envop's writes by user agent; restart picks the flags up from the args file.
  void enableAudit() {
    const std::string dir = cluster_->dir();
    auditLog_ = dir + "/audit.log";
    std::ofstream(dir + "/audit-policy.yaml") << "apiVersion: audit.k8s.io/v1\nkind: Policy\n"
                                                 "omitStages: [RequestReceived]\nrules:\n"
                                                 "- level: None\n  verbs: [get, list, watch]\n"
                                                 "- level: Metadata\n";
    std::ofstream args(dir + "/kube-apiserver.args", std::ios::app | std::ios::binary);
    for (const std::string& a :
         {"--audit-policy-file=" + dir + "/audit-policy.yaml", "--audit-log-path=" + auditLog_,
          std::string("--audit-log-maxsize=0")}) {
      args << a << '\0';
    }
    args.close();
    cluster_->restart("kube-apiserver");
    if (!within(30s, [&] { return fs::exists(auditLog_); })) {
      throw std::runtime_error("the apiserver writes no audit log at " + auditLog_);
    }
  }

  void startProxy() {
    proxyPort_ = freePort();
    proxyControl_ = freePort();
    proxy_ = bp::child(bp::search_path("python3"),
                       std::string(ENVOP_SOURCE_DIR) + "/test/chaos/fault_proxy.py",
                       "--listen-port", std::to_string(proxyPort_), "--upstream", registry_->host,
                       "--control-port", std::to_string(proxyControl_), bp::std_in.close(),
                       (bp::std_out & bp::std_err) > (cluster_->dir() + "/fault-proxy.log"));
    if (!within(20s, [&] { return httpGet(proxyControl_, "/healthz").first == 200; })) {
      throw std::runtime_error("the chart registry's fault proxy did not start");
    }
  }

  // The kubeconfig the controllers run with. admin: a copy of the cluster-admin one. chart-sa:
  // the chart's ServiceAccount and RBAC (helm template of helm/envop) applied, and a token of
  // that ServiceAccount in a kubeconfig of its own, so the run proves the chart's rights.
  std::string makeControllerKubeconfig(const std::string& mode) {
    const std::string path = cluster_->dir() + "/controller-" + mode + ".kubeconfig";
    if (mode == "admin") {
      fs::copy_file(cluster_->kubeconfig(), path, fs::copy_options::overwrite_existing);
      return path;
    }
    if (mode != "chart-sa") throw std::runtime_error("CHAOS_CREDENTIALS: admin or chart-sa");
    const CommandResult rendered = runCommand(
        {cluster_->helm(), "template", "envop", std::string(ENVOP_SOURCE_DIR) + "/helm/envop",
         "--namespace", "envop-system", "--show-only", "templates/serviceaccount.yaml",
         "--show-only", "templates/rbac.yaml"},
        isolatedHelmEnv(cluster_->dir() + "/template"));
    if (rendered.exitCode != 0) throw std::runtime_error("helm template: " + rendered.err);
    const CommandResult applied = cluster_->apply(rendered.out);
    if (applied.exitCode != 0)
      throw std::runtime_error("applying the chart's RBAC: " + applied.err);
    // The controller binds its release rights per stage namespace (least privilege): told
    // which ClusterRole and which ServiceAccount, as the chart's Deployment tells it.
    credentialFlags_ = {"--release-cluster-role=envop-releases",
                        "--service-account-name=envop-controller"};
    const CommandResult token = cluster_->kubectl(
        {"create", "token", "envop-controller", "-n", "envop-system", "--duration", "6h"});
    if (token.exitCode != 0) throw std::runtime_error("kubectl create token: " + token.err);
    std::string tok = token.out;
    while (!tok.empty() && (tok.back() == '\n' || tok.back() == '\r')) tok.pop_back();
    // The admin kubeconfig names its CA by path: the same file, and the apiserver's URL.
    std::ofstream out(path);
    out << "apiVersion: v1\nkind: Config\nclusters:\n- name: chaos\n  cluster:\n    server: "
        << cluster_->value("APISERVER_URL") << "\n    certificate-authority: " << cluster_->dir()
        << "/pki/ca.crt\nusers:\n- name: envop-controller\n  user:\n    token: " << tok
        << "\ncontexts:\n- name: chaos\n  context: {cluster: chaos, user: envop-controller}\n"
           "current-context: chaos\n";
    out.close();
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
    return path;
  }

  void startReplica(Replica& r) {
    const std::string helmState = cluster_->dir() + "/helm-state-" + r.name;
    if (helmShim_.empty()) {
      // Every helm child's argv is logged for the secret scan; the shim execs helm, so the
      // child the helm kill looks for is still helm, the controller's own child.
      helmShim_ = cluster_->dir() + "/helm-shim";
      helmArgvLog_ = cluster_->dir() + "/helm-argv.log";
      writeHelmArgvShim(helmShim_, cluster_->helm(), helmArgvLog_);
    }
    std::vector<std::string> flags = {"--leader-elect",
                                      "--namespace",
                                      "envop-system",
                                      "--helm-binary",
                                      helmShim_,
                                      "--helm-state-dir",
                                      helmState,
                                      "--log-level",
                                      "debug",
                                      "--chart-recheck-interval",
                                      "30s",
                                      "--harbor-recheck-interval",
                                      "30s"};
    flags.insert(flags.end(), credentialFlags_.begin(), credentialFlags_.end());
    r.proc = std::make_unique<ControllerProcess>(r.name, controllerKubeconfig_, flags);
    r.logs.push_back(r.proc->log());
  }

  // A replica that exited by itself (a lost Lease exits at once) is started again, as the
  // kubelet restarts a container.
  void supervise() {
    for (Replica& r : replicas_) {
      if (!r.proc) continue;
      if (const auto code = r.proc->waitExitFor(0ms)) {
        ++selfExits_;
        log("replica " + r.name + " exited by itself (code " + std::to_string(*code) +
            "); starting it again");
        helmDiedWith(r);
        startReplica(r);
      } else {
        noteHelmChildren(r);
      }
    }
  }

  // The helm upgrades a replica runs now, as (namespace, release).
  void noteHelmChildren(Replica& r) {
    r.helmInFlight.clear();
    for (const auto& [pid, argv] : helmChildren(r.proc->pid())) {
      const auto ns = std::find(argv.begin(), argv.end(), "--namespace");
      if (argv.size() > 2 && argv[1] == "upgrade" && ns != argv.end() && ns + 1 != argv.end()) {
        r.helmInFlight.insert({*(ns + 1), argv[2]});
      }
    }
  }
  // A replica's helm children die with it (PR_SET_PDEATHSIG), each leaving its release locked
  // in pending-upgrade or pending-install: envop's designed recovery rolls the release back (or
  // uninstalls a first install) before upgrading again, which is then no violation.
  void helmDiedWith(Replica& r) {
    for (const auto& key : r.helmInFlight) {
      log("  helm upgrade " + key.first + "/" + key.second + " dies with " + r.name);
      mayRollBack_.insert(key);
      highWater_.erase(key);
    }
    r.helmInFlight.clear();
  }

  int leaderIndex() {
    for (size_t i = 0; i < replicas_.size(); ++i) {
      if (!replicas_[i].proc) continue;
      if (sumSamples(replicas_[i].proc->metrics(), "leader_election_master_status", {}) >= 1) {
        lastLeader_ = static_cast<int>(i);
        return static_cast<int>(i);
      }
    }
    return -1;
  }
  // Waits up to `limit` for a leader, restarting replicas that exit meanwhile.
  int awaitLeader(std::chrono::seconds limit) {
    int leader = -1;
    within(limit, [&] {
      supervise();
      leader = leaderIndex();
      return leader >= 0;
    });
    return leader;
  }

  // ---- the stages -----------------------------------------------------------------------------

  bool kubectlRetrying(const std::vector<std::string>& args, const std::string& what) {
    CommandResult r;
    const bool ok = within(90s, [&] {
      r = cluster_->kubectl(args);
      return r.exitCode == 0;
    });
    if (!ok) return fail(what + ": kubectl " + args[0] + " failed: " + r.err);
    return true;
  }
  bool applyStage(const chaos::StageModel& s) {
    const std::string file = cluster_->dir() + "/env-" + s.name + ".json";
    std::ofstream(file) << chaos::environmentManifest(s, endpoints_).dump(2);
    return kubectlRetrying({"apply", "-f", file}, "apply Environment " + s.name);
  }
  bool edit() {
    const chaos::Edit e = chaos::randomEdit(rng_, stages_);
    log("  edit " + e.stage + ": " + e.what);
    ++edits_;
    const chaos::StageModel& s = stage(e.stage);
    if (e.deleted) {
      forgetStage(e.stage);
      return kubectlRetrying({"delete", "environment", e.stage, "--wait=false"},
                             "delete Environment " + e.stage);
    }
    if (e.recreated) forgetStage(e.stage);
    // A release the driver removed starts a new life if it comes back.
    for (auto it = highWater_.begin(); it != highWater_.end();) {
      if (it->first.first == e.stage && s.releases.count(it->first.second) == 0) {
        it = highWater_.erase(it);
      } else {
        ++it;
      }
    }
    return applyStage(s);
  }
  void forgetStage(const std::string& name) {
    for (auto it = highWater_.begin(); it != highWater_.end();) {
      it = it->first.first == name ? highWater_.erase(it) : std::next(it);
    }
    for (auto it = mayRollBack_.begin(); it != mayRollBack_.end();) {
      it = it->first == name ? mayRollBack_.erase(it) : std::next(it);
    }
    for (auto it = expectedRollbacks_.begin(); it != expectedRollbacks_.end();) {
      if (it->rfind(name + "/", 0) != 0) {
        ++it;
        continue;
      }
      ++rollbacksAccounted_;
      it = expectedRollbacks_.erase(it);
    }
  }
  chaos::StageModel& stage(const std::string& name) {
    for (auto& s : stages_) {
      if (s.name == name) return s;
    }
    throw std::logic_error("no stage " + name);
  }

  // ---- faults ---------------------------------------------------------------------------------

  bool leaderKill() {
    // While the apiserver is stopped nobody can take the Lease over: the leader is the one
    // that held it last (it exits by itself once it cannot renew).
    const int i = stoppedApiserver_ != 0 ? (leaderIndex() >= 0 ? leaderIndex() : lastLeader_)
                                         : awaitLeader(60s);
    if (i < 0) return fail("no replica became the leader within 60 s");
    Replica& r = replicas_[i];
    log("  SIGKILL leader " + r.name + " (pid " + std::to_string(r.proc->pid()) + ")");
    noteHelmChildren(r);
    r.proc->signal(SIGKILL);
    r.proc->waitExit();
    helmDiedWith(r);
    ++r.restarts;
    startReplica(r);  // as a Pod's container is restarted
    return true;
  }
  bool apiserverStop() {
    stoppedApiserver_ = std::stoi(cluster_->value("APISERVER_PID"));
    log("  SIGSTOP kube-apiserver (pid " + std::to_string(stoppedApiserver_) + ")");
    return ::kill(stoppedApiserver_, SIGSTOP) == 0 || fail("SIGSTOP of the apiserver failed");
  }
  bool apiserverCont() {
    log("  SIGCONT kube-apiserver");
    const int pid = stoppedApiserver_;
    stoppedApiserver_ = 0;
    return ::kill(pid, SIGCONT) == 0 || fail("SIGCONT of the apiserver failed");
  }
  bool apiserverRestart() {
    log("  restart kube-apiserver");
    try {
      cluster_->restart("kube-apiserver");
    } catch (const std::exception& e) {
      return fail(e.what());
    }
    return true;
  }
  bool etcdCompaction() {
    const std::string etcd = cluster_->value("ETCD_ENDPOINT");
    const CommandResult range =
        runCommand({"curl", "-sf", "-X", "POST", etcd + "/v3/kv/range", "-d", R"({"key":"Lw=="})"});
    if (range.exitCode != 0) return fail("etcd range: " + range.err);
    const std::string revision = Json::parse(range.out)["header"]["revision"];
    const CommandResult compact =
        runCommand({"curl", "-sf", "-X", "POST", etcd + "/v3/kv/compaction", "-d",
                    R"({"revision":")" + revision + R"(","physical":true})"});
    log("  etcd compaction to revision " + revision);
    return compact.exitCode == 0 || fail("etcd compaction: " + compact.err + compact.out);
  }
  bool registryDown() {
    const int pid = std::stoi(readEnvFile(registry_->dir + "/registry.env").at("REGISTRY_PID"));
    log("  SIGKILL the chart registry (pid " + std::to_string(pid) + ")");
    ::kill(pid, SIGKILL);
    return within(10s, [&] { return processGone(pid); }) || fail("the registry did not die");
  }
  bool registryUp() {
    const int pid = registry_->serveAgain();
    if (pid == 0) return fail("the chart registry did not come back");
    log("  the chart registry is back (pid " + std::to_string(pid) + ")");
    return true;
  }
  bool proxyMode(const Json& mode) {
    log("  chart registry proxy: " + mode.dump());
    const CommandResult r =
        runCommand({"curl", "-sf", "-X", "POST", "-H", "Content-Type: application/json", "-d",
                    mode.dump(), "http://127.0.0.1:" + std::to_string(proxyControl_) + "/mode"});
    return r.exitCode == 0 || fail("the fault proxy refused " + mode.dump() + ": " + r.err);
  }
  Json harborControl(const std::string& method, const std::string& path,
                     const Json& body = nullptr) {
    std::vector<std::string> argv = {"curl", "-sS", "-X", method,
                                     harbor_->value("HARBOR_CONTROL") + path};
    if (!body.is_null()) {
      argv.insert(argv.end(), {"-H", "Content-Type: application/json", "-d", body.dump()});
    }
    const CommandResult r = runCommand(argv);
    return r.exitCode == 0 ? Json::parse(r.out, nullptr, false) : Json();
  }
  bool harborFault(const Json& fault) {
    log("  Harbor fault: " + fault.dump());
    return harborControl("POST", "/faults", fault).is_object() || fail("POST /faults failed");
  }
  bool harborClear() {
    log("  Harbor faults cleared");
    return harborControl("DELETE", "/faults").is_object() || fail("DELETE /faults failed");
  }
  bool harborDown() {
    log("  Harbor double down (state kept)");
    const CommandResult r =
        runCommand({clusterScripts() + "/harbor-down", harbor_->dir, "--keep-state"});
    return r.exitCode == 0 || fail("harbor-down: " + r.err);
  }
  bool harborUp() {
    const CommandResult r = runCommand({clusterScripts() + "/harbor-up", harbor_->dir});
    log("  Harbor double back up");
    return r.exitCode == 0 || fail("harbor-up: " + r.out + r.err);
  }

  // Edits a live stage's release values, waits for the leader's `helm upgrade` of it and
  // SIGKILLs it once helm has written its pending-upgrade lock (or, if helm finished first,
  // tries again with another edit).
  bool helmKill() {
    for (int attempt = 0; attempt < 6; ++attempt) {
      std::vector<chaos::StageModel*> live;
      for (auto& s : stages_) {
        if (s.exists) live.push_back(&s);
      }
      if (live.empty()) {
        stages_[0].exists = true;
        forgetStage(stages_[0].name);
        if (!applyStage(stages_[0])) return false;
        continue;
      }
      chaos::StageModel& s = *live[rng_.below(static_cast<int>(live.size()))];
      std::vector<std::string> names;
      for (const auto& [n, rel] : s.releases) {
        if (rel.chart != "agent") names.push_back(n);
      }
      const std::string release = names[rng_.below(static_cast<int>(names.size()))];
      // More replicas make helm's --wait last long enough to be caught in.
      s.releases[release].replicas = s.releases[release].replicas == 1 ? 3 : 1;
      s.releases[release].greeting = "kill-" + std::to_string(rng_.below(1'000'000));
      log("  edit " + s.name + ": release " + release + " for a helm kill");
      ++edits_;
      if (!applyStage(s)) return false;
      int pid = 0;
      within(90s, [&] {
        supervise();
        for (const Replica& r : replicas_) {
          if (!r.proc) continue;
          for (const auto& [child, argv] : helmChildren(r.proc->pid())) {
            if (argv.size() > 2 && argv[1] == "upgrade" && argv[2] == release &&
                std::find(argv.begin(), argv.end(), s.name) != argv.end()) {
              pid = child;
              return true;
            }
          }
        }
        return false;
      });
      if (pid == 0) continue;
      // Mid-upgrade: once helm's pending-upgrade revision is in its storage.
      const bool locked = within(20s, [&] {
        if (processGone(pid)) return false;
        const Json secrets =
            cluster_->get({"secrets", "-n", s.name, "-l",
                           "owner=helm,name=" + release + ",status=pending-upgrade"});
        return secrets.is_object() && !secrets.value("items", Json::array()).empty();
      });
      if (!locked || processGone(pid)) {
        log("  helm upgrade of " + s.name + "/" + release + " finished before the kill; again");
        continue;
      }
      ::kill(pid, SIGKILL);
      log("  SIGKILL helm upgrade " + s.name + "/" + release + " (pid " + std::to_string(pid) +
          ") holding its pending-upgrade lock");
      // envop takes the lock as abandoned and rolls back to the last deployed revision, then
      // upgrades again: a rollback of this release is expected, and only of this one.
      mayRollBack_.insert({s.name, release});
      ++helmKills_;
      return true;
    }
    return fail("no helm upgrade could be caught mid-way in 6 attempts");
  }

  bool startFault(Fault f) {
    ++injected_[chaos::faultName(f)];
    switch (f) {
      case Fault::kLeaderKill:
        return leaderKill();
      case Fault::kApiserverStop:
        return apiserverStop();
      case Fault::kApiserverRestart:
        return apiserverRestart();
      case Fault::kEtcdCompaction:
        return etcdCompaction();
      case Fault::kRegistryDown:
        return registryDown();
      case Fault::kRegistry5xx:
        return proxyMode({{"mode", "status"}, {"status", 500 + rng_.below(4)}});
      case Fault::kRegistrySlow:
        return proxyMode({{"mode", "latency"}, {"latency_ms", rng_.between(3000, 8000)}});
      case Fault::kHarborDown:
        return harborDown();
      case Fault::kHarbor5xx:
        return harborFault({{"action", "status"}, {"status", 500 + rng_.below(4)}});
      case Fault::kHarborSlow:
        return harborFault({{"action", "latency"}, {"latency_ms", rng_.between(3000, 8000)}});
      case Fault::kHelmKill:
        return helmKill();
    }
    return true;
  }
  bool endFault(Fault f) {
    switch (f) {
      case Fault::kApiserverStop:
        return apiserverCont();
      case Fault::kRegistryDown:
        return registryUp();
      case Fault::kRegistry5xx:
      case Fault::kRegistrySlow:
        return proxyMode({{"mode", "pass"}});
      case Fault::kHarborDown:
        return harborUp();
      case Fault::kHarbor5xx:
      case Fault::kHarborSlow:
        return harborClear();
      default:
        return true;
    }
  }
  int durationOf(Fault f, const chaos::PlanOptions& o) {
    switch (f) {
      case Fault::kRegistry5xx:
      case Fault::kRegistrySlow:
      case Fault::kHarbor5xx:
      case Fault::kHarborSlow:
        return o.degradedMs;
      default:
        return 0;
    }
  }

  // ---- a round --------------------------------------------------------------------------------

  bool runRound(const chaos::Round& r) {
    std::string names = chaos::faultName(r.primary);
    for (const auto& s : r.secondaries) names += std::string(" + ") + chaos::faultName(s.fault);
    log("round " + std::to_string(round_) + ": " + names);
    struct Event {
      int atMs;
      int order;
      std::string label;
      std::function<bool()> act;
    };
    std::vector<Event> events;
    int order = 0;
    const int lead = 1000;
    for (int at : r.editsAtMs) {
      events.push_back({at == 0 ? 0 : lead + at, order++, "edit", [this] { return edit(); }});
    }
    events.push_back({lead, order++, std::string("start ") + chaos::faultName(r.primary),
                      [this, f = r.primary] { return startFault(f); }});
    if (isDurative(r.primary)) {
      events.push_back({lead + r.windowMs, order++,
                        std::string("end ") + chaos::faultName(r.primary),
                        [this, f = r.primary] { return endFault(f); }});
    }
    const chaos::PlanOptions& o = options_;
    for (const chaos::Injection& s : r.secondaries) {
      events.push_back({lead + s.atMs, order++, std::string("inject ") + chaos::faultName(s.fault),
                        [this, f = s.fault] { return startFault(f); }});
      if (isDurative(s.fault)) {
        events.push_back({lead + s.atMs + durationOf(s.fault, o), order++,
                          std::string("end ") + chaos::faultName(s.fault),
                          [this, f = s.fault] { return endFault(f); }});
      }
    }
    events.push_back({lead + r.windowMs, order++, "window end", [] { return true; }});
    std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
      return a.atMs != b.atMs ? a.atMs < b.atMs : a.order < b.order;
    });
    const auto start = Clock::now();
    for (const Event& e : events) {
      const auto due = start + std::chrono::milliseconds(e.atMs);
      // The plan's schedule: faults land at their planned offsets.
      while (Clock::now() < due) {
        if (r.primary != Fault::kApiserverStop || stoppedApiserver_ == 0) supervise();
        std::this_thread::sleep_for(std::min<Clock::duration>(200ms, due - Clock::now()));
      }
      step_ = e.label;
      if (!e.act()) return false;
    }
    ++rounds_;
    step_ = "convergence after round";
    double t = 0;
    if (!converge(envInt("CHAOS_CONVERGE_SECONDS", 300), t)) return false;
    convergence_.push_back(t);
    log("  converged in " + std::to_string(t).substr(0, 5) + " s");
    step_ = "invariants after round";
    if (!checkInvariants()) return false;
    step_ = "quiet window after round";
    return quiet(envInt("CHAOS_ROUND_QUIET_SECONDS", 5));
  }

  // ---- invariants -----------------------------------------------------------------------------

  // `kubectl get ... -o json`'s items, retried for a while (the apiserver may be restarting);
  // throws when it keeps failing, which fails the run with the step.
  Json listOf(const std::vector<std::string>& what) {
    Json got;
    if (!within(60s, [&] {
          got = cluster_->get(what);
          return got.is_object();
        })) {
      throw std::runtime_error("kubectl get " + what[0] + " keeps failing");
    }
    return got.value("items", Json::array());
  }

  static Json conditionOf(const Json& env, const std::string& type) {
    for (const Json& c : env.value("status", Json::object()).value("conditions", Json::array())) {
      if (c.value("type", "") == type) return c;
    }
    return Json();
  }

  // Why the stage is not (yet) where the model says; "" when it is.
  std::string notConverged(const chaos::StageModel& s, const std::map<std::string, Json>& envs,
                           const std::set<std::string>& namespaces) {
    const auto it = envs.find(s.name);
    if (!s.exists) {
      if (it != envs.end()) return "still there (deleting)";
      if (namespaces.count(s.name) != 0) return "its namespace is still there";
      return "";
    }
    if (it == envs.end()) return "missing";
    const Json& env = it->second;
    if (env["metadata"].contains("deletionTimestamp")) return "still being deleted";
    const Json ready = conditionOf(env, "Ready");
    if (!ready.is_object() || ready.value("status", "") != "True") {
      return "Ready is " + (ready.is_object()
                                ? ready.value("status", "") + "/" + ready.value("reason", "") +
                                      ": " + ready.value("message", "")
                                : std::string("absent"));
    }
    if (ready.value("observedGeneration", -1) != env["metadata"].value("generation", 0)) {
      return "Ready speaks of an older generation";
    }
    std::map<std::string, Json> listed;
    for (const Json& r : env["status"].value("releases", Json::array()))
      listed[r.value("name", "")] = r;
    for (const auto& [name, rel] : s.releases) {
      const auto l = listed.find(name);
      if (l == listed.end()) return "status.releases lacks " + name;
      if (l->second.value("version", "") != rel.version)
        return "status says " + name + " " + l->second.value("version", "");
      if (l->second.value("status", "") != "deployed")
        return name + " is " + l->second.value("status", "");
    }
    if (listed.size() != s.releases.size())
      return "status.releases lists a release the spec does not";
    return "";
  }

  bool converge(int boundSeconds, double& took) {
    const auto start = Clock::now();
    std::string why;
    const bool ok = within(std::chrono::seconds(boundSeconds), [&] {
      if (stoppedApiserver_ == 0) supervise();
      const Json envList = cluster_->get({"environments"});
      const Json nsList = cluster_->get({"namespaces"});
      if (!envList.is_object() || !nsList.is_object()) {
        why = "the apiserver does not answer";
        return false;
      }
      std::map<std::string, Json> envs;
      for (const Json& e : envList.value("items", Json::array())) envs[e["metadata"]["name"]] = e;
      std::set<std::string> namespaces;
      for (const Json& n : nsList.value("items", Json::array()))
        namespaces.insert(n["metadata"]["name"]);
      for (const auto& s : stages_) {
        const std::string w = notConverged(s, envs, namespaces);
        if (!w.empty()) {
          why = s.name + ": " + w;
          return false;
        }
      }
      return true;
    });
    took = secondsSince(start);
    if (ok) {
      for (auto& s : stages_) s.deleting = false;  // seen gone
    }
    if (!ok) return fail("not converged within " + std::to_string(boundSeconds) + " s: " + why);
    return true;
  }

  bool checkInvariants() {
    std::vector<std::string> v;
    std::map<std::string, Json> envs;
    for (const Json& e : listOf({"environments"})) envs[e["metadata"]["name"]] = e;
    std::set<std::string> expectedRobots, expectedNamespaces = {"ext"}, expectedExt;
    for (const auto& s : stages_) {
      if (!s.exists) continue;
      expectedRobots.insert("robot$springcloud+" + s.name);
      expectedNamespaces.insert(s.name);
      for (const auto& [n, a] : s.ext) expectedExt.insert(n);
    }

    // Harbor: one robot per live stage, none left over, no name twice, one project.
    const Json state = harborControl("GET", "/state");
    if (!state.is_object()) v.push_back("the Harbor double's control API does not answer");
    std::multiset<std::string> robots;
    for (const Json& r : state.value("robots", Json::array())) robots.insert(r.value("name", ""));
    for (const std::string& r : robots) {
      if (robots.count(r) > 1)
        v.push_back("Harbor robot " + r + " exists " + std::to_string(robots.count(r)) + " times");
      if (expectedRobots.count(r) == 0) v.push_back("leaked Harbor robot " + r);
    }
    for (const std::string& r : expectedRobots) {
      if (robots.count(r) == 0) v.push_back("no Harbor robot " + r);
    }
    int projects = 0;
    for (const Json& p : state.value("projects", Json::array()))
      projects += p.value("name", "") == "springcloud";
    if (projects != 1)
      v.push_back("Harbor has " + std::to_string(projects) + " projects springcloud");

    // Namespaces envop manages: the live stages' and ext, nothing else.
    std::set<std::string> namespaces;
    for (const Json& n : listOf({"namespaces", "-l", "app.kubernetes.io/managed-by=envop"}))
      namespaces.insert(n["metadata"]["name"]);
    for (const std::string& n : namespaces) {
      if (expectedNamespaces.count(n) == 0) v.push_back("leaked namespace " + n);
    }
    for (const std::string& n : expectedNamespaces) {
      if (namespaces.count(n) == 0) v.push_back("namespace " + n + " is not envop's");
    }

    // ext: exactly the live stages' Services, each with its EndpointSlice.
    std::map<std::string, int> services;
    for (const Json& s :
         listOf({"services", "-n", "ext", "-l", "app.kubernetes.io/managed-by=envop"})) {
      ++services[s["metadata"]["name"]];
    }
    for (const auto& [n, c] : services) {
      if (expectedExt.count(n) == 0) v.push_back("leaked ext Service " + n);
    }
    for (const std::string& n : expectedExt) {
      if (services.count(n) == 0) v.push_back("no ext Service " + n);
    }
    std::map<std::string, int> slices;
    for (const Json& s :
         listOf({"endpointslices", "-n", "ext", "-l", "app.kubernetes.io/managed-by=envop"})) {
      ++slices
          [s["metadata"].value("labels", Json::object()).value("kubernetes.io/service-name", "")];
    }
    for (const auto& [n, c] : slices) {
      if (expectedExt.count(n) == 0) v.push_back("leaked EndpointSlice of " + n);
      if (c > 1) v.push_back(std::to_string(c) + " EndpointSlices of " + n);
    }

    // Helm's storage everywhere: releases only where the model has them, the newest revision
    // deployed, no rollback of a release the run did not break, no release uninstalled.
    std::map<std::pair<std::string, std::string>, std::vector<HelmRevision>> history;
    for (const Json& secret : listOf({"secrets", "-A", "-l", "owner=helm"})) {
      if (auto r = decodeReleaseSecret(secret)) history[{r->ns, r->name}].push_back(*r);
    }
    for (auto& [key, revs] : history) {
      std::sort(revs.begin(), revs.end(),
                [](const auto& a, const auto& b) { return a.revision < b.revision; });
      const auto& [ns, name] = key;
      const chaos::StageModel* s = nullptr;
      for (const auto& st : stages_) {
        if (st.name == ns && st.exists) s = &st;
      }
      if (s == nullptr || s->releases.count(name) == 0) {
        v.push_back("leaked helm release " + ns + "/" + name + " (revision " +
                    std::to_string(revs.back().revision) + " " + revs.back().status + ")");
        continue;
      }
      const HelmRevision& latest = revs.back();
      if (latest.status != "deployed")
        v.push_back("helm release " + ns + "/" + name + " is " + latest.status);
      if (latest.chartVersion != s->releases.at(name).version) {
        v.push_back("helm release " + ns + "/" + name + " runs chart " + latest.chartVersion +
                    ", the spec says " + s->releases.at(name).version);
      }
      for (const HelmRevision& r : revs) {
        if (r.status == "failed")
          failedRevisions_.insert(ns + "/" + name + "#" + std::to_string(r.revision));
        if (r.description.rfind("Rollback", 0) == 0) {
          // Allowed once, in the round its helm died: a rollback seen then stays accounted
          // for; a later one of the same release needs a death of its own.
          const std::string key = ns + "/" + name + "#" + std::to_string(r.revision);
          if (expectedRollbacks_.count(key) != 0) {
          } else if (mayRollBack_.count({ns, name}) != 0) {
            expectedRollbacks_.insert(key);
          } else {
            v.push_back("healthy release " + ns + "/" + name + " was rolled back: revision " +
                        std::to_string(r.revision) + " \"" + r.description + "\"");
          }
        }
      }
      // A killed first install is uninstalled and installed again by design.
      int& hw = highWater_[{ns, name}];
      if (mayRollBack_.count({ns, name}) != 0 && latest.revision < hw) hw = 0;
      if (latest.revision < hw) {
        v.push_back("release " + ns + "/" + name +
                    " was uninstalled and installed again: revision " +
                    std::to_string(latest.revision) + " after " + std::to_string(hw));
      }
      hw = std::max(hw, latest.revision);
    }

    // The stages' objects in one read per kind set: kind -> "namespace/name" -> object.
    std::map<std::pair<std::string, std::string>, Json> objects;
    for (const auto& what : std::vector<std::vector<std::string>>{
             {"configmaps,deployments,daemonsets,resourcequotas,limitranges,networkpolicies", "-A"},
             {"secrets", "-A", "--field-selector", "metadata.name=harbor-pull"}}) {
      for (const Json& o : listOf(what)) {
        objects[{o.value("kind", ""),
                 o["metadata"].value("namespace", "") + "/" + o["metadata"].value("name", "")}] = o;
      }
    }
    for (const auto& [key, o] : objects) {
      if (key.first == "Secret") rememberPullSecret(key.second, o);
    }
    for (const auto& s : stages_) {
      if (!s.exists) continue;
      if (envs.count(s.name) == 0) {
        v.push_back("Environment " + s.name + " is missing");
        continue;
      }
      const Json& env = envs[s.name];
      const Json status = env.value("status", Json::object());
      // Status equals what the cluster holds.
      if (status.value("namespace", "") != s.name)
        v.push_back(s.name + ": status.namespace is " + status.value("namespace", ""));
      const std::string robot = status.value("registry", Json::object()).value("robot", "");
      if (robot != "robot$springcloud+" + s.name || robots.count(robot) != 1) {
        v.push_back(s.name + ": status.registry.robot " + robot + " is not Harbor's");
      }
      const std::string summary =
          std::to_string(s.releases.size()) + "/" + std::to_string(s.releases.size());
      if (status.value("releaseSummary", "") != summary)
        v.push_back(s.name + ": releaseSummary " + status.value("releaseSummary", "") + ", want " +
                    summary);
      for (const Json& r : status.value("releases", Json::array())) {
        const std::string name = r.value("name", "");
        const auto h = history.find({s.name, name});
        if (h == history.end() || h->second.empty()) {
          v.push_back(s.name + ": status lists release " + name + " helm does not have");
          continue;
        }
        const HelmRevision& latest = h->second.back();
        if (r.value("revision", 0) != latest.revision || r.value("status", "") != latest.status ||
            r.value("version", "") != latest.chartVersion) {
          v.push_back(s.name + ": status.releases " + r.dump() + " but helm has revision " +
                      std::to_string(latest.revision) + " " + latest.status + " " +
                      latest.chartVersion);
        }
      }
      for (const auto& [name, rel] : s.releases) {
        if (history.count({s.name, name}) == 0) v.push_back(s.name + ": no helm release " + name);
      }
      // The cluster equals the spec: values and replicas reached the workloads.
      auto object = [&](const std::string& kind, const std::string& name) -> const Json* {
        const auto o = objects.find({kind, s.name + "/" + name});
        return o == objects.end() ? nullptr : &o->second;
      };
      for (const auto& [name, rel] : s.releases) {
        if (rel.chart == "agent") {
          if (object("DaemonSet", name) == nullptr) v.push_back(s.name + ": no DaemonSet " + name);
          continue;
        }
        const Json* cm = object("ConfigMap", name + "-settings");
        const Json data = cm != nullptr ? cm->value("data", Json::object()) : Json::object();
        if (data.value("greeting", "") != rel.greeting ||
            data.value("chartVersion", "") != rel.version) {
          v.push_back(s.name + "/" + name + ": settings " + data.dump() + ", want greeting " +
                      rel.greeting + " version " + rel.version);
        }
        const Json* deploy = object("Deployment", name);
        const int replicas = deploy != nullptr ? (*deploy)["spec"].value("replicas", -1) : -1;
        if (replicas != rel.replicas) {
          v.push_back(s.name + "/" + name + ": Deployment replicas " + std::to_string(replicas) +
                      ", want " + std::to_string(rel.replicas));
        }
      }
      // Guardrails, and the pull Secret (that Harbor accepts its credential is the registry
      // part's own test; here: it is there).
      for (const auto& [kind, name] :
           std::vector<std::pair<std::string, std::string>>{{"ResourceQuota", "envop-quota"},
                                                            {"LimitRange", "envop-limits"},
                                                            {"NetworkPolicy", "envop-isolation"},
                                                            {"Secret", "harbor-pull"}}) {
        if (object(kind, name) == nullptr) v.push_back(s.name + ": no " + kind + " " + name);
      }
    }
    if (v.empty()) {
      mayRollBack_.clear();
      return true;
    }
    std::string all;
    for (const std::string& line : v) all += "\n  - " + line;
    return fail(std::to_string(v.size()) + " invariant(s) broken:" + all);
  }

  // The robot's secret in a pull Secret, for the secret scan.
  void rememberPullSecret(const std::string& where, const Json& secret) {
    const auto config = kube::decodeBase64(
        secret.value("data", Json::object()).value(".dockerconfigjson", std::string()));
    const Json parsed = config ? Json::parse(*config, nullptr, false) : Json();
    if (!parsed.is_object()) return;
    const Json auths = parsed.value("auths", Json::object());
    for (const auto& [host, auth] : auths.items()) {
      const std::string password = auth.value("password", "");
      if (password.size() >= kMinSecretLength && seenSecrets_.insert(password).second) {
        secrets_["robot secret #" + std::to_string(seenSecrets_.size()) + " (" + where + ")"] =
            password;
      }
    }
  }

  // No secret of the run in any controller log (debug level), Event, Environment status or
  // helm argv: the Harbor admin password, every robot secret seen in a pull Secret, the
  // controllers' credential (client key or token).
  bool scanSecrets() {
    secrets_["Harbor admin password"] = harbor_->value("HARBOR_ADMIN_PASSWORD");
    const std::string kubeconfig = fileText(controllerKubeconfig_);
    // The kubeconfig names its client key by path (admin) or holds a token (chart-sa).
    for (const char* key : {"client-key: ", "token: "}) {
      const auto at = kubeconfig.find(key);
      if (at == std::string::npos) continue;
      const auto from = at + std::strlen(key);
      std::string value = kubeconfig.substr(from, kubeconfig.find('\n', from) - from);
      if (std::string(key) == "client-key: ") value = fileText(value);
      if (value.size() >= kMinSecretLength) secrets_[std::string("controller ") + key] = value;
    }
    std::vector<std::string> files;
    for (const Replica& r : replicas_) files.insert(files.end(), r.logs.begin(), r.logs.end());
    std::vector<ScanSource> sources = fileSources(files);
    if (!fs::exists(helmArgvLog_)) return fail("no helm argv was logged at " + helmArgvLog_);
    sources.push_back({"helm argv", fileText(helmArgvLog_)});
    const KubectlRunner kubectl = [this](const std::vector<std::string>& args) {
      const CommandResult r = cluster_->kubectl(args);
      if (r.exitCode != 0) throw std::runtime_error("kubectl " + args[0] + ": " + r.err);
      return r.out;
    };
    for (auto& src : eventSources(kubectl)) sources.push_back(std::move(src));
    for (auto& src : environmentStatusSources(kubectl)) sources.push_back(std::move(src));
    scannedSources_ = static_cast<int>(sources.size());
    const auto hits = scanForSecrets(secrets_, sources);
    log("secret scan: " + std::to_string(secrets_.size()) + " secrets in " +
        std::to_string(sources.size()) + " sources, " + std::to_string(hits.size()) + " hits");
    if (hits.empty()) return true;
    return fail("secrets found:\n" + describeHits(hits));
  }

  // The audit log's writes by envop (its own user agent and its helm children's) since `offset`;
  // the Lease renewals of leader election are not work and are left out.
  std::vector<AuditWrite> envopWritesSince(std::uintmax_t offset) {
    std::vector<AuditWrite> out;
    std::ifstream in(auditLog_);
    in.seekg(static_cast<std::streamoff>(offset));
    for (std::string line; std::getline(in, line);) {
      const Json e = Json::parse(line, nullptr, false);
      if (!e.is_object() || e.value("stage", "") != "ResponseComplete") continue;
      const std::string verb = e.value("verb", "");
      if (verb != "create" && verb != "update" && verb != "patch" && verb != "delete" &&
          verb != "deletecollection") {
        continue;
      }
      const std::string ua = e.value("userAgent", "");
      if (ua.rfind(kUserAgentEnvop, 0) != 0 && ua.rfind(kUserAgentHelm, 0) != 0) continue;
      const Json ref = e.value("objectRef", Json::object());
      if (ref.value("resource", "") == "leases") continue;
      out.push_back({verb, ref.value("resource", ""), ref.value("subresource", ""),
                     ref.value("namespace", ""), ref.value("name", ""), ua,
                     e.value("responseStatus", Json::object()).value("code", 0)});
    }
    return out;
  }

  // Once the leader has nothing left to do, `seconds` of nothing changing: envop writes nothing.
  bool quiet(int seconds) {
    if (seconds <= 0) return true;
    const int leader = awaitLeader(60s);
    if (leader < 0) return fail("no leader for the quiet window");
    if (!replicas_[leader].proc->waitUntilIdle(3s, 120s)) {
      return fail("the leader did not become idle within 120 s: " +
                  replicas_[leader].proc->metrics());
    }
    const std::uintmax_t offset = fs::file_size(auditLog_);
    std::this_thread::sleep_for(std::chrono::seconds(seconds));  // the window observed
    // The audit backend buffers: what happened in the window is in the file a moment later.
    std::this_thread::sleep_for(1s);
    const auto writes = envopWritesSince(offset);
    quietSeconds_ += seconds;
    idleWrites_ += static_cast<int>(writes.size());
    if (writes.empty()) return true;
    std::string all;
    for (const auto& w : writes) all += "\n  - " + w.describe();
    return fail(std::to_string(writes.size()) + " envop write(s) in a " + std::to_string(seconds) +
                " s window with nothing changing:" + all);
  }

  void report() {
    int total = 0;
    Json kinds = Json::object();
    for (const auto& [k, n] : injected_) {
      kinds[k] = n;
      total += n;
    }
    const double wall = secondsSince(started_);
    const Json figures = {
        {"seed", std::to_string(seed_)},
        {"faults", total},
        {"faultsByKind", kinds},
        {"rounds", rounds_},
        {"edits", edits_},
        {"convergenceP50Seconds", percentile(convergence_, 0.5)},
        {"convergenceP99Seconds", percentile(convergence_, 0.99)},
        {"convergenceMaxSeconds", percentile(convergence_, 1.0)},
        {"idleWrites", idleWrites_},
        {"secretsScanned", secrets_.size()},
        {"sourcesScanned", scannedSources_},
        {"auditWritesController", controllerWrites_},
        {"auditWritesHelm", helmWrites_},
        {"quietSeconds", quietSeconds_},
        {"replicaSelfExits", selfExits_},
        {"helmKills", helmKills_},
        {"rollbacksAfterHelmDeath", rollbacksAccounted_ + expectedRollbacks_.size()},
        {"failedRevisions", failedRevisions_.size()},
        {"wallSeconds", wall},
        {"credentials", envOr("CHAOS_CREDENTIALS", "chart-sa")}};
    const std::string path =
        envOr("CHAOS_REPORT",
              std::string(ENVOP_BINARY_DIR) + "/chaos-report-" + std::to_string(seed_) + ".json");
    std::ofstream(path) << figures.dump(2) << "\n";
    log("CHAOS PASSED seed=" + std::to_string(seed_) + ": " + figures.dump());
    log("figures in " + path);
  }

  std::uint64_t seed_;
  chaos::Rng rng_;
  Clock::time_point started_;
  std::unique_ptr<ScopedCluster> cluster_;
  std::unique_ptr<TestRegistry> registry_;
  std::unique_ptr<TestHarbor> harbor_;
  bp::child proxy_;
  int proxyPort_ = 0;
  int proxyControl_ = 0;
  std::string auditLog_;
  std::string controllerKubeconfig_;
  std::vector<Replica> replicas_;
  std::vector<chaos::StageModel> stages_;
  chaos::Endpoints endpoints_;
  chaos::PlanOptions options_;
  int stoppedApiserver_ = 0;
  int lastLeader_ = 0;

  int round_ = 0;
  std::string step_ = "set-up";
  std::string failure_;
  std::map<std::string, int> injected_;
  std::vector<double> convergence_;
  int controllerWrites_ = 0, helmWrites_ = 0, scannedSources_ = 0;
  size_t rollbacksAccounted_ = 0;
  std::string helmShim_, helmArgvLog_;
  std::vector<std::string> credentialFlags_;
  std::map<std::string, std::string> secrets_;
  std::set<std::string> seenSecrets_;
  int rounds_ = 0, edits_ = 0, idleWrites_ = 0, quietSeconds_ = 0, selfExits_ = 0, helmKills_ = 0;
  std::map<std::pair<std::string, std::string>, int> highWater_;
  std::set<std::pair<std::string, std::string>> mayRollBack_;
  std::set<std::string> expectedRollbacks_, failedRevisions_;
};

TEST(Chaos, FourStagesConvergeUnderRandomFaults) {
  ChaosRun run;
  try {
    run.setUp();
  } catch (const std::exception& e) {
    run.tearDown();
    FAIL() << "CHAOS set-up failed (seed " << run.seed() << "): " << e.what();
  }
  bool ok = false;
  try {
    ok = run.run();
  } catch (const std::exception& e) {
    ok = run.fail(std::string("exception: ") + e.what());
  }
  std::string diagnostics;
  if (!ok) diagnostics = run.diagnostics();
  run.tearDown();
  EXPECT_TRUE(ok) << run.failure() << diagnostics;
}

}  // namespace
}  // namespace envop::testing
