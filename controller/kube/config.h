// Config is everything the REST client needs to reach one kube-apiserver: the server URL, the
// TLS material (CA, client certificate and key, all as in-memory PEM) and the bearer token. It is
// built from a kubeconfig file, from the in-cluster service-account mount, or by resolveConfig(),
// which picks between them in the order `--kubeconfig` documents. Loading never throws: a bad
// file yields a ConfigError naming the file and the field, and never quoting a secret.
// TokenSource keeps a file-backed token fresh, because bound service-account tokens rotate.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "controller/kube/exec_credential.h"
#include "controller/util/clock.h"
#include "controller/util/expected.h"

namespace envop::kube {

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// Why a configuration could not be loaded, in words a human can act on. Never holds a token,
// key or password: only file names, field names and entry names.
struct ConfigError {
  std::string message;
};

// A value or a ConfigError.
template <typename T>
using Expected = util::Expected<T, ConfigError>;

// A bearer token read from a file and re-read when older than maxAge or after invalidate()
// (the client calls it on a 401), as client-go does for bound service-account tokens, which the
// kubelet rotates in place. Thread-safe: the REST client calls token() from several workers.
class TokenSource final {
 public:
  static constexpr std::chrono::seconds kDefaultMaxAge{60};

  // Reads the file once; fails when it is unreadable or empty, so a broken mount is reported at
  // start-up rather than as a stream of 401s.
  static Expected<std::shared_ptr<TokenSource>> open(std::string path, util::ClockPtr clock,
                                                     util::Duration maxAge = kDefaultMaxAge);

  // The current token; re-reads the file first when the cached one is stale. A failed re-read
  // keeps the last good token (an old token still beats none) and is reported by lastError().
  std::string token();

  // Forces a re-read on the next token() call.
  void invalidate();

  // Why the most recent re-read failed; empty after a successful read.
  std::string lastError() const;

  const std::string& path() const { return path_; }

  TokenSource(std::string path, util::ClockPtr clock, util::Duration maxAge);

 private:
  bool readLocked();  // false on failure, with lastError_ set

  const std::string path_;
  const util::ClockPtr clock_;
  const util::Duration maxAge_;
  mutable std::mutex mu_;
  std::string token_;
  util::TimePoint readAt_{};
  bool stale_ = true;
  std::string lastError_;
};
using TokenSourcePtr = std::shared_ptr<TokenSource>;

struct Config {
  std::string server;  // scheme://host[:port], no trailing slash
  std::string caPem;   // empty: the system trust store (or none, with insecureSkipTlsVerify)
  std::string clientCertPem;
  std::string clientKeyPem;    // RSA, EC or PKCS#8; passed through as PEM
  std::string token;           // a static bearer token (kubeconfig `token`)
  TokenSourcePtr tokenSource;  // a file-backed token (`tokenFile`, in-cluster); wins over token
  // An exec credential plugin (`exec`): its token when no static one is set (client-go lets
  // credentials already on a request win), its client certificate when no static one is.
  ExecCredentialSourcePtr execCredentials;
  // HTTP basic auth, sent when there is no bearer token. Not read from kubeconfigs (which
  // report it as unsupported): the Harbor client fills it from the admin credentials Secret.
  // Never logged.
  std::string username;
  std::string password;
  bool insecureSkipTlsVerify = false;
  std::string tlsServerName;  // SNI / verification name when it differs from the server's host
  std::string namespace_;     // the context's namespace or the in-cluster namespace file
  std::string source;         // where this came from, for logs: a path or "in-cluster"

  // The token to send now, whichever way it is held; empty when there is none (or the exec
  // plugin failed: it logs why, and the API server's 401 says the rest).
  std::string bearerToken() const;
  // After a 401: re-read the token file, re-run the exec plugin. False when nothing could change.
  bool invalidateCredentials() const;
};

// Reads one environment variable; nullopt when unset. Injected so tests never touch the
// process environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup processEnv();

// Loads a kubeconfig file using current-context, or contextOverride when non-empty. Relative
// file paths inside it are resolved against the kubeconfig's directory, as kubectl does.
// `exec` credential plugins (client.authentication.k8s.io/v1 and v1beta1) are run when a request
// needs them; `auth-provider` and basic auth are reported as not supported.
Expected<Config> loadKubeconfig(const std::string& path, const std::string& contextOverride = "",
                                util::ClockPtr clock = util::steadyClock());

// Builds the in-cluster configuration from KUBERNETES_SERVICE_HOST/PORT and root/{token,ca.crt,
// namespace}.
Expected<Config> loadInCluster(const std::string& root, const EnvLookup& env,
                               util::ClockPtr clock = util::steadyClock());

// Picks the configuration as `--kubeconfig` documents: the flag when set; else in-cluster when
// the service env vars and the token file exist; else $KUBECONFIG; else ~/.kube/config.
Expected<Config> resolveConfig(const std::string& flagPath, const EnvLookup& env,
                               util::ClockPtr clock = util::steadyClock(),
                               const std::string& inClusterRoot = kServiceAccountDir);

// Standard base64, padded.
std::string encodeBase64(const std::string& bytes);
// Standard base64 (padding optional, whitespace ignored); nullopt on any other character.
std::optional<std::string> decodeBase64(const std::string& text);

}  // namespace envop::kube
