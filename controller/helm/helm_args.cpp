#include "controller/helm/helm_args.h"

#include <algorithm>
#include <cctype>

namespace envop::helm {
namespace {

bool startsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

bool hasSpace(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c) != 0; });
}

// A value that helm would read as a flag, or that cannot be one argv word, is refused.
bool isSafeValue(const std::string& s) { return !s.empty() && s[0] != '-' && !hasSpace(s); }

// As resolveChart reads a release's chart: no scheme, and a '/' in it or a leading '.'.
bool isLocalPath(const std::string& s) {
  return s.find("://") == std::string::npos &&
         (s.find('/') != std::string::npos || startsWith(s, "."));
}

bool isDns1123Label(const std::string& s, std::size_t maxLength) {
  if (s.empty() || s.size() > maxLength) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

std::string checkRelease(const std::string& release, const std::string& ns) {
  if (!isValidReleaseName(release)) {
    return "invalid release name \"" + release +
           "\": want a DNS-1123 name of at most 53 characters";
  }
  if (!isValidNamespace(ns)) {
    return "invalid namespace \"" + ns + "\": want a DNS-1123 label of at most 63 characters";
  }
  return "";
}

Args releaseCommand(std::vector<std::string> verb, const std::string& release,
                    const std::string& ns, std::vector<std::string> tail = {}) {
  Args a;
  a.error = checkRelease(release, ns);
  if (!a.ok()) return a;
  a.argv = std::move(verb);
  a.argv.push_back(release);
  a.argv.insert(a.argv.end(), {"--namespace", ns});
  a.argv.insert(a.argv.end(), tail.begin(), tail.end());
  return a;
}

std::chrono::seconds orDefault(std::chrono::seconds value, std::chrono::seconds fallback) {
  return value.count() > 0 ? value : fallback;
}

}  // namespace

bool isValidReleaseName(const std::string& name) {
  if (name.empty() || name.size() > 53) return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    if (!isDns1123Label(name.substr(start, dot - start), 53)) return false;
    start = dot + 1;
  }
  return true;
}

bool isValidNamespace(const std::string& ns) { return isDns1123Label(ns, 63); }

std::string helmDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

ChartArgs chartArgs(const ChartRef& chart) {
  ChartArgs c;
  const std::string& ref = chart.reference;
  if (!isSafeValue(ref)) {
    c.error = "invalid chart reference \"" + ref + "\"";
    return c;
  }
  if (!chart.version.empty() && !isSafeValue(chart.version)) {
    c.error = "invalid chart version \"" + chart.version + "\"";
    return c;
  }
  if (startsWith(ref, "oci://")) {
    if (!chart.repoUrl.empty()) {
      c.error = "chart reference " + ref + " is a full OCI reference; repoUrl must be empty";
      return c;
    }
    c.source = ChartSource::kOci;
    c.argv.push_back(ref);
  } else if (startsWith(ref, "https://") || startsWith(ref, "http://")) {
    // The URL of a chart archive: helm downloads it as it is.
    if (!chart.repoUrl.empty()) {
      c.error = "chart reference " + ref + " is a URL; repoUrl must be empty";
      return c;
    }
    c.source = ChartSource::kRepository;
    c.argv.push_back(ref);
  } else if (startsWith(ref, "/") || startsWith(ref, "./") || startsWith(ref, "../") ||
             (isLocalPath(ref) && chart.repoUrl.empty())) {
    c.source = ChartSource::kLocal;
    c.argv.push_back(ref);
  } else if (startsWith(chart.repoUrl, "oci://")) {
    // A name under an OCI repository is just a longer OCI reference.
    std::string base = chart.repoUrl;
    while (!base.empty() && base.back() == '/') base.pop_back();
    if (!isSafeValue(base) || ref.find('/') != std::string::npos) {
      c.error = "invalid chart \"" + ref + "\" under OCI repository \"" + chart.repoUrl + "\"";
      return c;
    }
    c.source = ChartSource::kOci;
    c.argv.push_back(base + "/" + ref);
  } else if (startsWith(chart.repoUrl, "https://") || startsWith(chart.repoUrl, "http://")) {
    if (!isSafeValue(chart.repoUrl)) {
      c.error = "invalid chart repository URL \"" + chart.repoUrl + "\"";
      return c;
    }
    c.source = ChartSource::kRepository;
    c.argv = {ref, "--repo", chart.repoUrl};
  } else {
    // No `helm repo add` state exists in the isolated HELM_* dirs, so a bare name has
    // nowhere to resolve from.
    c.error = "chart \"" + ref + "\" needs an oci:// or https:// repository, or a local path";
    return c;
  }
  if (!chart.version.empty()) c.argv.insert(c.argv.end(), {"--version", chart.version});
  // --plain-http only means something to an OCI registry; helm ignores it elsewhere.
  if (chart.plainHttp && c.source == ChartSource::kOci) c.argv.push_back("--plain-http");
  if (!chart.registryConfig.empty()) {
    if (!isSafeValue(chart.registryConfig)) {
      c.error = "invalid registry config path \"" + chart.registryConfig + "\"";
      return c;
    }
    c.argv.insert(c.argv.end(), {"--registry-config", chart.registryConfig});
  }
  if (!chart.caFile.empty() && c.source != ChartSource::kLocal) {
    if (!isSafeValue(chart.caFile)) {
      c.error = "invalid CA file path \"" + chart.caFile + "\"";
      return c;
    }
    c.argv.insert(c.argv.end(), {"--ca-file", chart.caFile});
  }
  return c;
}

Args upgradeInstallArgs(const std::string& release, const std::string& ns, const ChartRef& chart,
                        const std::string& valuesFile, const UpgradeOptions& options,
                        std::chrono::seconds defaultTimeout) {
  Args a;
  a.error = checkRelease(release, ns);
  if (!a.ok()) return a;
  ChartArgs c = chartArgs(chart);
  if (!c.ok()) {
    a.error = c.error;
    return a;
  }
  a.argv = {"upgrade", release};
  a.argv.insert(a.argv.end(), c.argv.begin(), c.argv.end());
  a.argv.insert(a.argv.end(), {"--install", "--namespace", ns, "--output", "json"});
  if (!valuesFile.empty()) a.argv.insert(a.argv.end(), {"--values", valuesFile});
  a.argv.insert(a.argv.end(), {"--history-max", std::to_string(std::max(0, options.historyMax))});
  a.argv.insert(a.argv.end(),
                {"--timeout", helmDuration(orDefault(options.timeout, defaultTimeout))});
  if (options.wait) a.argv.push_back("--wait");
  if (options.atomic) a.argv.push_back("--atomic");
  if (options.createNamespace) a.argv.push_back("--create-namespace");
  return a;
}

Args uninstallArgs(const std::string& release, const std::string& ns, bool wait,
                   std::chrono::seconds timeout) {
  std::vector<std::string> tail = {"--timeout", helmDuration(timeout)};
  if (wait) tail.push_back("--wait");
  return releaseCommand({"uninstall"}, release, ns, tail);
}

Args rollbackArgs(const std::string& release, const std::string& ns, int revision, bool wait,
                  std::chrono::seconds timeout) {
  if (revision < 0) return Args{.error = "invalid revision " + std::to_string(revision)};
  Args a = releaseCommand({"rollback"}, release, ns, {"--timeout", helmDuration(timeout)});
  if (!a.ok()) return a;
  // helm takes the revision as a second positional; 0 means "the previous one".
  a.argv.insert(a.argv.begin() + 2, std::to_string(revision));
  if (wait) a.argv.push_back("--wait");
  return a;
}

Args statusArgs(const std::string& release, const std::string& ns) {
  return releaseCommand({"status"}, release, ns, {"--output", "json"});
}

Args historyArgs(const std::string& release, const std::string& ns) {
  return releaseCommand({"history"}, release, ns, {"--output", "json"});
}

Args manifestArgs(const std::string& release, const std::string& ns) {
  return releaseCommand({"get", "manifest"}, release, ns);
}

Args valuesArgs(const std::string& release, const std::string& ns) {
  return releaseCommand({"get", "values"}, release, ns, {"--output", "json"});
}

Args listArgs(const std::string& ns) {
  if (!isValidNamespace(ns)) return Args{.error = "invalid namespace \"" + ns + "\""};
  return Args{.argv = {"list", "--namespace", ns, "--all", "--output", "json", "--max", "0"}};
}

Args showChartArgs(const ChartRef& chart) {
  ChartArgs c = chartArgs(chart);
  if (!c.ok()) return Args{.error = c.error};
  Args a{.argv = {"show", "chart"}};
  a.argv.insert(a.argv.end(), c.argv.begin(), c.argv.end());
  return a;
}

Args pullArgs(const ChartRef& chart, const std::string& destination) {
  ChartArgs c = chartArgs(chart);
  if (!c.ok()) return Args{.error = c.error};
  if (c.source == ChartSource::kLocal) return Args{.error = "a local chart cannot be pulled"};
  if (!isSafeValue(destination))
    return Args{.error = "invalid destination \"" + destination + "\""};
  Args a{.argv = {"pull"}};
  a.argv.insert(a.argv.end(), c.argv.begin(), c.argv.end());
  a.argv.insert(a.argv.end(), {"--destination", destination});
  return a;
}

Args registryLoginArgs(const std::string& host, const std::string& username, bool plainHttp,
                       bool insecure, const std::string& registryConfig,
                       const std::string& caFile) {
  if (!isSafeValue(host) || host.find("://") != std::string::npos) {
    return Args{.error = "invalid registry host \"" + host + "\": want host[:port]"};
  }
  if (!isSafeValue(username)) return Args{.error = "invalid registry username"};
  Args a{.argv = {"registry", "login", host, "--username", username, "--password-stdin"}};
  if (plainHttp) a.argv.push_back("--plain-http");
  if (insecure) a.argv.push_back("--insecure");
  if (!registryConfig.empty()) {
    if (!isSafeValue(registryConfig)) return Args{.error = "invalid registry config path"};
    a.argv.insert(a.argv.end(), {"--registry-config", registryConfig});
  }
  if (!caFile.empty()) {
    if (!isSafeValue(caFile)) return Args{.error = "invalid CA file path"};
    a.argv.insert(a.argv.end(), {"--ca-file", caFile});
  }
  return a;
}

}  // namespace envop::helm
