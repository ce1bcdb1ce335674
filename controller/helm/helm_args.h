// The pure half of the helm driver: how a chart source, a release and its options become
// helm's argv. Nothing here runs a process, so every flag the controller can send is
// unit-tested; inputs that could smuggle a flag (a leading '-') or are not valid Kubernetes
// names are refused here, because argv-only execution stops shell injection but not flag
// injection.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace envop::helm {

// Where a chart comes from. `reference` is a full "oci://host/repo/name[:tag|@digest]", the URL
// of a chart archive ("https://host/path/name-1.2.3.tgz"), a local path ("/abs", "./rel",
// "../rel", "dir/chart"), or a bare chart name resolved under `repoUrl`, which is an OCI
// repository ("oci://host/repo") or a classic chart repository ("https://...").
struct ChartRef {
  std::string reference;
  std::string repoUrl;
  std::string version;     // a semver or a range; empty: the latest
  bool plainHttp = false;  // OCI over plain HTTP (a loopback registry)
  // helm's --registry-config for this call: the file an Environment's registry logins live
  // in, so one Environment's credentials never serve another's charts. Empty: the driver's.
  std::string registryConfig;
  // helm's --ca-file: the CA bundle a registry's TLS certificate is checked against (a Harbor
  // with a CA of its own). Empty: the system's CAs.
  std::string caFile;

  bool operator==(const ChartRef&) const = default;
};

enum class ChartSource { kOci, kRepository, kLocal };

struct UpgradeOptions {
  bool wait = true;
  // helm's own --timeout (the wait budget); zero: HelmConfig::defaultTimeout.
  std::chrono::seconds timeout{0};
  bool atomic = false;
  bool createNamespace = false;
  int historyMax = 10;  // helm's default of 0 keeps every revision Secret forever
  // When the child is killed; zero: helm's timeout plus a grace period, so helm normally
  // reports its own timeout (and records the release as failed) before we kill it.
  std::chrono::milliseconds killAfter{0};
};

// argv (without the helm binary) or why none could be built.
struct Args {
  std::vector<std::string> argv;
  std::string error;  // non-empty: argv is unusable
  bool ok() const { return error.empty(); }
};

// The chart as helm expects it after the positional release name: the reference followed by
// --repo / --version / --plain-http as the source needs.
struct ChartArgs {
  ChartSource source = ChartSource::kLocal;
  std::vector<std::string> argv;
  std::string error;
  bool ok() const { return error.empty(); }
};
ChartArgs chartArgs(const ChartRef& chart);

// DNS-1123 subdomain of at most 53 characters, as helm requires of release names.
bool isValidReleaseName(const std::string& name);
// DNS-1123 label of at most 63 characters.
bool isValidNamespace(const std::string& ns);

// helm's duration syntax ("300s", "1500ms").
std::string helmDuration(std::chrono::milliseconds d);

Args upgradeInstallArgs(const std::string& release, const std::string& ns, const ChartRef& chart,
                        const std::string& valuesFile, const UpgradeOptions& options,
                        std::chrono::seconds defaultTimeout);
Args uninstallArgs(const std::string& release, const std::string& ns, bool wait,
                   std::chrono::seconds timeout);
Args rollbackArgs(const std::string& release, const std::string& ns, int revision, bool wait,
                  std::chrono::seconds timeout);
Args statusArgs(const std::string& release, const std::string& ns);
Args historyArgs(const std::string& release, const std::string& ns);
Args manifestArgs(const std::string& release, const std::string& ns);
Args valuesArgs(const std::string& release, const std::string& ns);
Args listArgs(const std::string& ns);  // every state, not only deployed
Args showChartArgs(const ChartRef& chart);
Args pullArgs(const ChartRef& chart, const std::string& destination);
// The password travels on stdin (--password-stdin), never in argv. registryConfig: the file
// the login is stored in (helm's --registry-config); empty: the driver's default.
Args registryLoginArgs(const std::string& host, const std::string& username, bool plainHttp,
                       bool insecure, const std::string& registryConfig = "",
                       const std::string& caFile = "");

}  // namespace envop::helm
