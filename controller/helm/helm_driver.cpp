#include "controller/helm/helm_driver.h"

#include <fcntl.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/process/search_path.hpp>
#include <cstdlib>
#include <filesystem>

#include "controller/helm/helm_process.h"
#include "controller/util/metrics.h"

extern char** environ;

namespace envop::helm {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

const std::vector<std::string>& results() {
  static const std::vector<std::string> r = {"success", "failure", "timeout"};
  return r;
}

struct HelmMetrics {
  prometheus::Family<prometheus::Counter>& total =
      prometheus::BuildCounter()
          .Name("envop_helm_operations_total")
          .Help("helm commands run by the controller, by operation and result.")
          .Register(util::metricsRegistry());
  prometheus::Family<prometheus::Histogram>& duration =
      prometheus::BuildHistogram()
          .Name("envop_helm_operation_duration_seconds")
          .Help("Wall time of helm commands, by operation.")
          .Register(util::metricsRegistry());
  // Helm children are where a release-heavy controller spends its memory (each loads the
  // chart and every manifest); the kernel keeps the largest one's peak for us.
  prometheus::Gauge& childPeakRss =
      prometheus::BuildGauge()
          .Name("envop_helm_child_peak_rss_bytes")
          .Help("Peak resident memory of the largest helm child process so far.")
          .Register(util::metricsRegistry())
          .Add({});

  static const prometheus::Histogram::BucketBoundaries& buckets() {
    static const prometheus::Histogram::BucketBoundaries b = {0.1, 0.25, 0.5, 1,   2.5, 5,
                                                              10,  30,   60,  120, 300, 600};
    return b;
  }

  // Every label set exists from the start, so rate() and absent() behave before the first call.
  HelmMetrics() {
    for (const auto& op : helmOperations()) {
      for (const auto& result : results()) total.Add({{"op", op}, {"result", result}});
      duration.Add({{"op", op}}, buckets());
    }
  }

  static HelmMetrics& get() {
    static HelmMetrics m;
    return m;
  }
};

void record(const std::string& op, const HelmResult& r) {
  const char* result = r.ok ? "success" : (r.timedOut ? "timeout" : "failure");
  auto& m = HelmMetrics::get();
  m.total.Add({{"op", op}, {"result", result}}).Increment();
  m.duration.Add({{"op", op}}, HelmMetrics::buckets()).Observe(r.took.count() / 1000.0);
  rusage usage{};
  if (getrusage(RUSAGE_CHILDREN, &usage) == 0) {
    m.childPeakRss.Set(static_cast<double>(usage.ru_maxrss) * 1024.0);  // ru_maxrss is KiB
  }
  if (r.ok) {
    spdlog::debug("helm {} succeeded in {} ms", op, r.took.count());
  } else if (r.releaseNotFound) {
    // The answer to "is it installed yet?", not a fault.
    spdlog::debug("helm {}: release not found ({} ms)", op, r.took.count());
  } else {
    spdlog::warn("helm {} {} after {} ms: {}", op, result, r.took.count(), r.message());
  }
}

template <typename T>
HelmOutcome<T> outcomeOf(HelmResult r, Parsed<T> parsed) {
  HelmOutcome<T> o{.result = std::move(r)};
  if (!o.result.ok) return o;
  if (!parsed.value) {
    o.result.ok = false;
    o.result.error = parsed.error;
    return o;
  }
  o.value = std::move(*parsed.value);
  return o;
}

// A file only the controller can read, holding the values; removed when this goes away.
class ValuesFile final {
 public:
  ValuesFile(const std::string& dir, const Json& values) {
    std::string templ = dir + "/values-XXXXXX.json";
    const int fd = ::mkstemps(templ.data(), 5);  // mkstemp files are 0600
    if (fd < 0) {
      error_ = "cannot create a values file in " + dir;
      return;
    }
    path_ = templ;
    const std::string text = values.dump(-1, ' ', false, Json::error_handler_t::replace);
    std::size_t written = 0;
    while (written < text.size()) {
      const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
      if (n <= 0) break;
      written += static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0 || written != text.size()) error_ = "cannot write the values file";
  }
  ~ValuesFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  ValuesFile(const ValuesFile&) = delete;
  ValuesFile& operator=(const ValuesFile&) = delete;

  const std::string& path() const { return path_; }
  const std::string& error() const { return error_; }

 private:
  std::string path_;
  std::string error_;
};

std::chrono::milliseconds ms(std::chrono::seconds s) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(s);
}

}  // namespace

const std::vector<std::string>& helmOperations() {
  static const std::vector<std::string> ops = {"install", "upgrade", "uninstall", "rollback",
                                               "status",  "history", "manifest",  "values",
                                               "login",   "pull",    "show",      "list"};
  return ops;
}

std::string HelmResult::message() const {
  if (!error.empty()) return error;
  if (!stderrTrimmed.empty()) return stderrTrimmed;
  return ok ? "" : "helm exited with code " + std::to_string(exitCode);
}

HelmDriver::HelmDriver(HelmConfig config) : config_(std::move(config)) { HelmMetrics::get(); }

void HelmDriver::addSecret(const std::string& secret) {
  if (secret.empty()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (std::find(secrets_.begin(), secrets_.end(), secret) == secrets_.end()) {
    secrets_.push_back(secret);
  }
}

std::vector<std::string> HelmDriver::secrets() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return secrets_;
}

std::map<std::string, std::string> HelmDriver::childEnvironment() const {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry = *e;
    const auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = entry.substr(0, eq);
    // The host's helm and cluster settings must not leak into the controller's helm.
    if (key.rfind("HELM_", 0) == 0 || key == "KUBECONFIG") continue;
    env[key] = entry.substr(eq + 1);
  }
  const std::string& s = config_.stateDir;
  env["HELM_CACHE_HOME"] = s + "/cache";
  env["HELM_CONFIG_HOME"] = s + "/config";
  env["HELM_DATA_HOME"] = s + "/data";
  env["HELM_REGISTRY_CONFIG"] = s + "/config/registry/config.json";
  env["HELM_REPOSITORY_CONFIG"] = s + "/config/repositories.yaml";
  env["HELM_REPOSITORY_CACHE"] = s + "/cache/repository";
  // The API discovery cache, which client-go keeps in $HOME/.kube/cache otherwise: read-only in
  // the image (so never cached), and shared with a human's kubectl on a workstation.
  env["KUBECACHEDIR"] = s + "/cache/kube";
  if (!config_.kubeconfig.empty()) env["KUBECONFIG"] = config_.kubeconfig;
  return env;
}

std::string HelmDriver::prepareStateDir() {
  if (config_.stateDir.empty()) return "HelmConfig.stateDir is empty";
  std::error_code ec;
  for (const char* sub : {"", "/cache", "/config", "/config/registry", "/data", "/tmp"}) {
    const std::string dir = config_.stateDir + sub;
    fs::create_directories(dir, ec);
    // Registry credentials live here: nobody else may read or list it.
    if (ec || ::chmod(dir.c_str(), 0700) != 0) return "cannot prepare helm state dir " + dir;
  }
  return "";
}

HelmResult HelmDriver::run(const char* op, const Args& args, std::chrono::milliseconds timeout,
                           const std::string& stdinData) {
  HelmResult r;
  if (!args.ok()) {
    r.error = args.error;
    return r;
  }
  if (std::string e = prepareStateDir(); !e.empty()) {
    r.error = e;
    return r;
  }
  std::string exe = config_.helmBinary;
  if (exe.find('/') == std::string::npos && !config_.runner) {
    exe = boost::process::search_path(exe).string();
  }
  if (exe.empty()) {
    r.error = "helm binary \"" + config_.helmBinary + "\" is not on PATH";
    return r;
  }
  const ProcessOutput p =
      config_.runner ? config_.runner(exe, args.argv, childEnvironment(), stdinData, timeout)
                     : runProcess(exe, args.argv, childEnvironment(), stdinData, timeout);
  const std::vector<std::string> hidden = secrets();
  const std::string err = redact(p.err, hidden);
  r.exitCode = p.exitCode;
  r.timedOut = p.timedOut;
  r.took = p.took;
  r.stdout_ = redact(p.out, hidden);
  r.stderrTrimmed = trimTail(err);
  r.releaseNotFound = isReleaseNotFound(err);
  r.digest = parseDigest(err).value_or("");
  r.error = redact(p.error, hidden);
  if (p.timedOut) {
    r.error = "helm " + args.argv.front() + " (" + op + ") killed after " +
              std::to_string(timeout.count()) + " ms";
  }
  r.ok = p.error.empty() && !p.timedOut && p.exitCode == 0;
  return r;
}

HelmOutcome<ReleaseStatus> HelmDriver::upgradeInstall(const std::string& release,
                                                      const std::string& ns, const ChartRef& chart,
                                                      const Json& values,
                                                      const UpgradeOptions& options) {
  HelmOutcome<ReleaseStatus> o;
  const std::string stateError = prepareStateDir();
  if (!stateError.empty()) {
    o.result.error = stateError;
    record("upgrade", o.result);
    return o;
  }
  const ValuesFile file(config_.stateDir + "/tmp", values);
  const auto helmTimeout = options.timeout.count() > 0 ? options.timeout : config_.defaultTimeout;
  const auto killAfter =
      options.killAfter.count() > 0 ? options.killAfter : ms(helmTimeout + config_.killGrace);
  Args args = upgradeInstallArgs(release, ns, chart, file.path(), options, config_.defaultTimeout);
  if (!file.error().empty()) args.error = file.error();
  const HelmResult r = run("upgrade", args, killAfter);
  o = outcomeOf(r, parseStatus(r.stdout_));
  // upgrade --install does not say which it did: revision 1 is an install, and only the
  // upgrade path wraps its errors in "UPGRADE FAILED".
  const bool upgraded = o.result.ok
                            ? o.value.revision > 1
                            : o.result.stderrTrimmed.find("UPGRADE FAILED") != std::string::npos;
  record(upgraded ? "upgrade" : "install", o.result);
  return o;
}

HelmResult HelmDriver::uninstall(const std::string& release, const std::string& ns, bool wait) {
  HelmResult r = run("uninstall", uninstallArgs(release, ns, wait, config_.defaultTimeout),
                     ms(config_.defaultTimeout + config_.killGrace));
  record("uninstall", r);
  return r;
}

HelmResult HelmDriver::rollback(const std::string& release, const std::string& ns, int revision,
                                bool wait) {
  HelmResult r = run("rollback", rollbackArgs(release, ns, revision, wait, config_.defaultTimeout),
                     ms(config_.defaultTimeout + config_.killGrace));
  record("rollback", r);
  return r;
}

HelmOutcome<ReleaseStatus> HelmDriver::status(const std::string& release, const std::string& ns) {
  HelmResult r = run("status", statusArgs(release, ns), ms(config_.defaultTimeout));
  auto o = outcomeOf(r, parseStatus(r.stdout_));
  record("status", o.result);
  return o;
}

HelmOutcome<std::vector<ReleaseRevision>> HelmDriver::history(const std::string& release,
                                                              const std::string& ns) {
  HelmResult r = run("history", historyArgs(release, ns), ms(config_.defaultTimeout));
  auto o = outcomeOf(r, parseHistory(r.stdout_));
  record("history", o.result);
  return o;
}

HelmOutcome<std::string> HelmDriver::getManifest(const std::string& release,
                                                 const std::string& ns) {
  HelmResult r = run("manifest", manifestArgs(release, ns), ms(config_.defaultTimeout));
  auto o = outcomeOf(r, Parsed<std::string>{.value = r.stdout_});
  record("manifest", o.result);
  return o;
}

HelmOutcome<Json> HelmDriver::getValues(const std::string& release, const std::string& ns) {
  HelmResult r = run("values", valuesArgs(release, ns), ms(config_.defaultTimeout));
  auto o = outcomeOf(r, parseValues(r.stdout_));
  record("values", o.result);
  return o;
}

HelmOutcome<std::vector<ReleaseSummary>> HelmDriver::list(const std::string& ns) {
  HelmResult r = run("list", listArgs(ns), ms(config_.defaultTimeout));
  auto o = outcomeOf(r, parseList(r.stdout_));
  record("list", o.result);
  return o;
}

HelmResult HelmDriver::registryLogin(const std::string& host, const std::string& username,
                                     const std::string& password, bool plainHttp, bool insecure,
                                     const std::string& registryConfig, const std::string& caFile) {
  Args args = registryLoginArgs(host, username, plainHttp, insecure, registryConfig, caFile);
  if (password.empty()) args.error = "empty registry password for " + host;
  addSecret(password);
  HelmResult r = run("login", args, ms(config_.defaultTimeout), password);
  record("login", r);
  return r;
}

HelmOutcome<ChartInfo> HelmDriver::showChart(const ChartRef& chart) {
  HelmResult r = run("show", showChartArgs(chart), ms(config_.defaultTimeout));
  auto o = outcomeOf(r, parseChartYaml(r.stdout_));
  if (o.result.ok) o.value.digest = o.result.digest;
  record("show", o.result);
  return o;
}

HelmResult HelmDriver::pull(const ChartRef& chart, const std::string& destination) {
  std::error_code ec;
  fs::create_directories(destination, ec);
  HelmResult r = run("pull", pullArgs(chart, destination), ms(config_.defaultTimeout));
  record("pull", r);
  return r;
}

}  // namespace envop::helm
