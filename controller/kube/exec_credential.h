// An exec credential plugin is how the kubeconfigs of managed clusters authenticate (EKS's
// `aws eks get-token`, GKE's gke-gcloud-auth-plugin, AKS's kubelogin): `users[].user.exec` names
// a command whose stdout is an ExecCredential (client.authentication.k8s.io/v1 or v1beta1)
// carrying a bearer token or a client certificate and key, and when they expire.
// parseExecCredential reads that answer (pure); ExecCredentialSource runs the plugin — argv
// only, never a shell, within a deadline, with the process environment plus the stanza's `env`
// and KUBERNETES_EXEC_INFO — and caches its credential until the credential's
// expirationTimestamp passes or the API server answers 401, as client-go does.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "controller/util/clock.h"
#include "controller/util/expected.h"
#include "controller/util/wall_time.h"

namespace envop::kube {

// The kubeconfig's `exec` stanza.
struct ExecPlugin {
  std::string command;  // absolute, or a name looked up in PATH when run
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string apiVersion;   // client.authentication.k8s.io/v1 or v1beta1
  std::string installHint;  // shown when the command cannot be found
  bool provideClusterInfo = false;
  // What KUBERNETES_EXEC_INFO says about the cluster when provideClusterInfo is set (server,
  // certificate-authority-data, tls-server-name, ..., in the ExecCredential's own field names).
  nlohmann::json cluster = nlohmann::json::object();
};

struct ExecCredential {
  std::string token;
  std::string clientCertPem;
  std::string clientKeyPem;
  std::optional<util::WallTime> expiry;  // none: valid until a 401
};

// "why" names the field at fault and never quotes a token or key.
using ExecCredentialResult = util::Expected<ExecCredential, std::string>;

// Reads a plugin's stdout. Its apiVersion must be the one the kubeconfig asked for (client-go
// refuses a mismatch too). A credential that has already expired at `now` is refused: the
// plugin would otherwise run again for every request.
ExecCredentialResult parseExecCredential(const std::string& output, const std::string& apiVersion,
                                         util::WallTime now);

// RFC 3339 ("2026-12-01T10:00:00Z", fractions and offsets allowed); nullopt otherwise.
std::optional<util::WallTime> parseRfc3339(const std::string& text);

// The KUBERNETES_EXEC_INFO value: an ExecCredential with spec.interactive=false (a controller
// has no terminal) and spec.cluster when provideClusterInfo is set.
std::string execInfo(const ExecPlugin& plugin);

struct PluginRun {
  int exitCode = -1;
  std::string out;
  std::string err;
  bool timedOut = false;
  std::string error;  // it could not be started
};
using PluginRunner = std::function<PluginRun(const ExecPlugin& plugin, const std::string& info)>;

// Runs the plugin as a child process within `timeout`.
PluginRunner processRunner(std::chrono::seconds timeout = std::chrono::seconds(60));

class ExecCredentialSource final {
 public:
  // A failed run is not repeated for this long: every request would otherwise start the plugin.
  static constexpr std::chrono::seconds kHoldAfterFailure{5};

  ExecCredentialSource(ExecPlugin plugin, util::ClockPtr clock,
                       PluginRunner runner = processRunner());

  // The cached credential, or a fresh one from the plugin when none is cached, it has expired
  // (on the injected clock) or invalidate() was called. Thread-safe; one run at a time.
  ExecCredentialResult credential();
  // After a 401: the next credential() runs the plugin.
  void invalidate();
  // How many times the plugin has been started.
  int runs() const;
  const ExecPlugin& plugin() const { return plugin_; }

 private:
  ExecCredentialResult runLocked();

  const ExecPlugin plugin_;
  const util::ClockPtr clock_;
  const PluginRunner runner_;
  mutable std::mutex mu_;
  std::optional<ExecCredential> cached_;
  // When the cached credential expires, converted to the injected (steady) clock at the run.
  std::optional<util::TimePoint> validUntil_;
  std::string lastError_;
  util::TimePoint failedAt_{};
  int runs_ = 0;
};
using ExecCredentialSourcePtr = std::shared_ptr<ExecCredentialSource>;

}  // namespace envop::kube
