// ChartSource is how the releases part observes a release's chart: it turns a ResolvedChart into
// a ChartRef helm can use and a digest of the chart's content, or says why the chart cannot be
// had right now. The digest is real or absent, never made up: an OCI chart's manifest digest
// (`helm show chart`), the sha256 of an https chart's archive (`helm pull`), the sha256 of a local
// chart directory or archive. A registry that cannot be reached is ChartUnavailable — never a
// changed digest, which would upgrade (and, failing, roll back) a healthy release.
//
// Private registries: with spec.charts.credentialsSecretRef, helm is logged in to the chart's
// host from that dockerconfigjson Secret, into the Environment's own registry config file
// (<helm state dir>/registry/<environment>.json, 0600), which every chart command of that
// Environment then names with --registry-config. The password reaches helm on stdin only. A key
// ca.crt in that Secret (the Harbor part puts its CA in its pull Secret) is the CA helm checks the
// registry's certificate against (--ca-file). A
// login runs only when the credentials changed since the last one that succeeded, and digests
// are cached for a TTL, so the resync of an unchanged Environment runs no helm process.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

#include "controller/environment/registry_credentials.h"
#include "controller/environment/release_spec.h"
#include "controller/helm/helm_driver.h"
#include "controller/kube/client.h"
#include "controller/util/clock.h"

namespace envop::environment {

// The chart can be installed: `ref` is ready for helm (registryConfig set when a login is
// needed), `digest` ("sha256:…") identifies the chart's content.
struct ChartAvailable {
  helm::ChartRef ref;
  std::string digest;
  bool cached = false;  // from the digest cache, not asked of the registry just now
};

// The chart cannot be had now. `message` names the chart, its repository or host and what went
// wrong (helm's error, e.g. the registry's 401, redacted). stalled: a human must act (the
// credentials Secret is missing or malformed, a local path does not exist) rather than "retry
// later" (the registry is down, refused the login, or does not have the chart yet).
struct ChartUnavailable {
  std::string message;
  bool stalled = false;
};

using ChartResolution = std::variant<ChartAvailable, ChartUnavailable>;

struct ChartSourceOptions {
  // A tag or a range can move (an OCI tag pushed again, a new archive): after this long its
  // digest is looked up again. Until then a resolve runs no helm process.
  std::chrono::seconds digestTtl{300};
  util::ClockPtr clock = util::steadyClock();
};

class ChartSource final {
 public:
  ChartSource(kube::ClientPtr client, helm::HelmDriver& helm, ChartSourceOptions options = {});

  // `environment` keys the login state and the registry config; `ns` is the stage namespace
  // the credentials Secret lives in. fresh: ask the registry even if a digest is cached (right
  // before an install or upgrade, so a cache never hides an outage). Safe to call from several
  // threads at once.
  ChartResolution resolve(const std::string& environment, const std::string& ns,
                          const ChartsSpec& charts, const ResolvedChart& chart, bool fresh = false);

  // The Environment is gone: drop its logins, its registry config file and its cached digests.
  void forget(const std::string& environment);

  // Where the Environment's registry logins are kept (exists once a login succeeded).
  std::string registryConfigPath(const std::string& environment) const;

 private:
  struct Logins;  // one Environment's registry logins
  struct CachedDigest {
    std::string digest;
    util::TimePoint at;
  };

  std::shared_ptr<Logins> loginsOf(const std::string& environment);
  // Logs helm in to `host` unless it already is with these credentials; "" or helm's error.
  std::string ensureLogin(const std::string& environment, const std::string& host,
                          const RegistryLogin& login, bool plainHttp,
                          const std::string& caFile = "", const std::string& caPem = "");
  // Writes a credentials Secret's ca.crt where helm's --ca-file reads it; "" or what failed.
  std::string writeCa(const std::string& environment, const std::string& pem, std::string& path);
  std::optional<std::string> cachedDigest(const std::string& key);
  void cacheDigest(const std::string& key, const std::string& digest);
  ChartResolution remoteDigest(const helm::ChartRef& ref, const ResolvedChart& chart, bool fresh);
  // `helm pull` into a fresh directory and the sha256 of the archive it left there.
  ChartResolution pulledDigest(const helm::ChartRef& ref, const ResolvedChart& chart);

  kube::ClientPtr client_;
  helm::HelmDriver& helm_;
  ChartSourceOptions options_;
  const std::string salt_;  // of the credential hashes, so they are useless outside this process
  std::mutex mu_;           // guards logins_ and digests_; never held while helm runs
  std::map<std::string, std::shared_ptr<Logins>> logins_;
  std::map<std::string, CachedDigest> digests_;
};

// The ChartRef helm is pointed at for a resolved chart, without credentials. A local path is made
// absolute (against the controller's working directory), since helm runs from elsewhere.
helm::ChartRef chartRefOf(const ResolvedChart& chart);

// "sha256:<hex>" over a local chart: an archive's bytes, or a directory's regular files (their
// paths relative to it and their contents, in path order), so any edit at the same version
// string changes it. nullopt and `error` set when the path cannot be read.
std::optional<std::string> localChartDigest(const std::string& path, std::string& error);

// A URL with any "user:password@" removed, fit for a message.
std::string withoutUserinfo(const std::string& url);

}  // namespace envop::environment
