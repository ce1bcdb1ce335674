#include "controller/app/options.h"

#include <charconv>
#include <functional>
#include <map>
#include <optional>
#include <sstream>

namespace envop::app {
namespace {

struct Flag {
  std::string help;
  bool isBool = false;
  // Returns an error message, or nothing when the value is accepted.
  std::function<std::optional<std::string>(Options&, const std::string&)> set;
};

std::optional<std::string> setString(std::string& field, const std::string& value) {
  field = value;
  return std::nullopt;
}

std::optional<std::string> setBindAddress(std::string& field, const std::string& value,
                                          const char* flag) {
  // "0" disables the endpoint, as in controller-runtime; otherwise host:port or :port.
  if (value != "0" && value.find(':') == std::string::npos) {
    return std::string("invalid value \"") + value + "\" for flag --" + flag +
           ": want [host]:port, or 0 to disable";
  }
  field = value;
  return std::nullopt;
}

const std::map<std::string, Flag>& flags() {
  static const std::map<std::string, Flag> table = {
      {"kubeconfig",
       {"Path to a kubeconfig. Default: in-cluster config, then $KUBECONFIG, then "
        "~/.kube/config.",
        false, [](Options& o, const std::string& v) { return setString(o.kubeconfig, v); }}},
      {"metrics-bind-address",
       {"Address the /metrics endpoint binds to; 0 disables it. Default :8080.", false,
        [](Options& o, const std::string& v) {
          return setBindAddress(o.metricsBindAddress, v, "metrics-bind-address");
        }}},
      {"health-probe-bind-address",
       {"Address /healthz and /readyz bind to; 0 disables them. Default :8081.", false,
        [](Options& o, const std::string& v) {
          return setBindAddress(o.healthProbeBindAddress, v, "health-probe-bind-address");
        }}},
      {"leader-elect",
       {"Elect a leader through a coordination.k8s.io Lease, so that only one replica "
        "reconciles.",
        true,
        [](Options& o, const std::string& v) -> std::optional<std::string> {
          if (v == "true" || v == "1") {
            o.leaderElect = true;
          } else if (v == "false" || v == "0") {
            o.leaderElect = false;
          } else {
            return "invalid value \"" + v + "\" for flag --leader-elect: want true or false";
          }
          return std::nullopt;
        }}},
      {"leader-election-namespace",
       {"Namespace of the leader-election Lease. Default: --namespace.", false,
        [](Options& o, const std::string& v) { return setString(o.leaderElectionNamespace, v); }}},
      {"leader-election-id",
       {"Name of the leader-election Lease. Default envop-controller-leader.", false,
        [](Options& o, const std::string& v) -> std::optional<std::string> {
          if (v.empty()) return "flag --leader-election-id must not be empty";
          o.leaderElectionId = v;
          return std::nullopt;
        }}},
      {"max-concurrent-reconciles",
       {"How many Environments are reconciled at once. Default 4.", false,
        [](Options& o, const std::string& v) -> std::optional<std::string> {
          int n = 0;
          auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
          if (ec != std::errc() || end != v.data() + v.size() || n < 1 || n > 1024) {
            return "invalid value \"" + v +
                   "\" for flag --max-concurrent-reconciles: want a whole number from 1 to 1024";
          }
          o.maxConcurrentReconciles = n;
          return std::nullopt;
        }}},
      {"max-concurrent-helm",
       {"How many helm runs (install, upgrade, rollback, uninstall) go at once, beside the "
        "reconciles: a release waiting for its pods holds a helm child, never a reconcile. "
        "The rest queue. Default 8.",
        false,
        [](Options& o, const std::string& v) -> std::optional<std::string> {
          int n = 0;
          auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
          if (ec != std::errc() || end != v.data() + v.size() || n < 1 || n > 256) {
            return "invalid value \"" + v +
                   "\" for flag --max-concurrent-helm: want a whole number from 1 to 256";
          }
          o.maxConcurrentHelm = n;
          return std::nullopt;
        }}},
      {"log-format",
       {"json (one object per line) or text. Default json.", false,
        [](Options& o, const std::string& v) -> std::optional<std::string> {
          if (!util::parseLogFormat(v, o.logFormat)) {
            return "invalid value \"" + v + "\" for flag --log-format: want json or text";
          }
          return std::nullopt;
        }}},
      {"log-level",
       {"trace, debug, info, warn, error. Default info.", false,
        [](Options& o, const std::string& v) -> std::optional<std::string> {
          if (!util::parseLogLevel(v, o.logLevel)) {
            return "invalid value \"" + v +
                   "\" for flag --log-level: want trace, debug, info, warn or error";
          }
          return std::nullopt;
        }}},
      {"helm-binary",
       {"The helm CLI that installs releases: a path, or a name looked up on PATH. Default helm.",
        false,
        [](Options& o, const std::string& v) -> std::optional<std::string> {
          if (v.empty()) return "flag --helm-binary must not be empty";
          o.helmBinary = v;
          return std::nullopt;
        }}},
      {"helm-state-dir",
       {"Where helm keeps its cache, config and registry logins, private to this controller. "
        "Default /tmp/envop-helm.",
        false,
        [](Options& o, const std::string& v) -> std::optional<std::string> {
          if (v.empty()) return "flag --helm-state-dir must not be empty";
          o.helmStateDir = v;
          return std::nullopt;
        }}},
      {"chart-recheck-interval",
       {"How long a resolved chart version (an OCI tag's digest) is trusted before the registry "
        "is asked again, as a Go duration. Default 5m.",
        false,
        [](Options& o, const std::string& v) -> std::optional<std::string> {
          const auto d = parseDuration(v);
          if (!d || *d < std::chrono::seconds(1)) {
            return "invalid value \"" + v +
                   "\" for flag --chart-recheck-interval: want a Go duration of at least 1s, "
                   "such as 30s or 5m";
          }
          o.chartRecheckInterval = std::chrono::duration_cast<std::chrono::seconds>(*d);
          return std::nullopt;
        }}},
      {"harbor-recheck-interval",
       {"How often a stage in sync compares its Harbor project (public flag, quota, scanning, "
        "tag rules, retention) with its spec and puts back what a human changed there, as a Go "
        "duration. Only GETs unless something differs. Default 5m.",
        false,
        [](Options& o, const std::string& v) -> std::optional<std::string> {
          const auto d = parseDuration(v);
          if (!d || *d < std::chrono::seconds(1)) {
            return "invalid value \"" + v +
                   "\" for flag --harbor-recheck-interval: want a Go duration of at least 1s, "
                   "such as 30s or 5m";
          }
          o.harborRecheckInterval = std::chrono::duration_cast<std::chrono::seconds>(*d);
          return std::nullopt;
        }}},
      {"graceful-shutdown-timeout",
       {"On SIGTERM, how long running reconciles and their helm children may take to finish "
        "before the children are killed and the process exits, e.g. 330s or 5m30s; keep it "
        "below the Pod's terminationGracePeriodSeconds. A lost leader Lease exits at once. "
        "Default 330s (helm's 300 s timeout plus 30 s).",
        false,
        [](Options& o,
           const std::string& v) -> std::
                                     optional<std::string> {
                                       auto d = parseDuration(v);
                                       if (!d) {
                                         return "invalid value \"" + v +
                                                "\" for flag --graceful-shutdown-timeout: want a "
                                                "duration such as 330s or "
                                                "5m30s";
                                       }
                                       o.gracefulShutdownTimeout = *d;
                                       return std::nullopt;
                                     }}},
      {"namespace",
       {"The controller's own namespace, where credentials Secrets live. Default: the "
        "in-cluster namespace, else envop-system.",
        false, [](Options& o, const std::string& v) { return setString(o.namespace_, v); }}},
      {"release-cluster-role",
       {"A ClusterRole of the rights helm and envop need inside a stage namespace, which envop "
        "binds (a RoleBinding envop-release-rights) to its own ServiceAccount in each namespace "
        "it writes in; needs --service-account-name. Default: none bound (a cluster-admin "
        "kubeconfig).",
        false,
        [](Options& o, const std::string& v) { return setString(o.releaseClusterRole, v); }}},
      {"service-account-name",
       {"The name of envop's own ServiceAccount, in --namespace: the subject of the release "
        "rights' RoleBindings.",
        false,
        [](Options& o, const std::string& v) { return setString(o.serviceAccountName, v); }}},
  };
  return table;
}

}  // namespace

std::optional<std::chrono::milliseconds> parseDuration(const std::string& text) {
  if (text == "0") return std::chrono::milliseconds(0);
  if (text.empty()) return std::nullopt;
  std::chrono::milliseconds total{0};
  const char* p = text.data();
  const char* end = text.data() + text.size();
  while (p < end) {
    long long n = 0;
    auto [next, ec] = std::from_chars(p, end, n);
    if (ec != std::errc() || next == p || n < 0 || next == end) return std::nullopt;
    p = next;
    long long unitMs = 0;
    if (end - p >= 2 && p[0] == 'm' && p[1] == 's') {
      unitMs = 1;
      p += 2;
    } else if (*p == 's') {
      unitMs = 1000;
      ++p;
    } else if (*p == 'm') {
      unitMs = 60 * 1000;
      ++p;
    } else if (*p == 'h') {
      unitMs = 3600 * 1000;
      ++p;
    } else {
      return std::nullopt;
    }
    if (n > (1LL << 40) / unitMs) return std::nullopt;  // absurd, and would overflow
    total += std::chrono::milliseconds(n * unitMs);
  }
  return total;
}

ParsedOptions parseOptions(const std::vector<std::string>& args) {
  ParsedOptions parsed;
  auto fail = [&parsed](std::string message) {
    parsed.outcome = ParsedOptions::Outcome::kError;
    parsed.error = std::move(message);
    return parsed;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 2 || arg[0] != '-') {
      return fail("unexpected argument \"" + arg + "\": envop-controller takes only flags");
    }
    std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
    if (body == "help" || body == "h") {
      parsed.outcome = ParsedOptions::Outcome::kHelp;
      return parsed;
    }
    std::optional<std::string> value;
    if (auto eq = body.find('='); eq != std::string::npos) {
      value = body.substr(eq + 1);
      body.resize(eq);
    }
    auto it = flags().find(body);
    if (it == flags().end()) {
      return fail("unknown flag --" + body + " (see --help)");
    }
    const Flag& flag = it->second;
    if (!value) {
      if (flag.isBool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return fail("flag --" + body + " needs a value");
      }
    }
    if (auto error = flag.set(parsed.options, *value)) {
      return fail(*error);
    }
  }
  if (!parsed.options.releaseClusterRole.empty() && parsed.options.serviceAccountName.empty()) {
    return fail("flag --release-cluster-role needs --service-account-name (whom to bind it to)");
  }
  return parsed;
}

std::string usage(const std::string& program) {
  std::ostringstream out;
  out << "Usage: " << program << " [flags]\n\n"
      << "envop-controller reconciles envop.io/v1alpha1 Environments.\n\nFlags:\n";
  for (const auto& [name, flag] : flags()) {
    out << "  --" << name << (flag.isBool ? "" : " value") << "\n      " << flag.help << "\n";
  }
  out << "  --help\n      Print this text and exit.\n";
  return out.str();
}

}  // namespace envop::app
