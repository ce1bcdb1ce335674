#include "controller/kube/exec_credential.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/process/search_path.hpp>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <map>

#include "controller/helm/helm_process.h"

extern char** environ;  // NOLINT: POSIX

namespace envop::kube {
namespace {

using Json = nlohmann::json;

std::string firstLine(const std::string& text, std::size_t max = 200) {
  std::string line = text.substr(0, text.find('\n'));
  if (line.size() > max) line = line.substr(0, max) + "...";
  return line;
}

// Reads status.<field> when it is a string; sets why when it is there but not a string.
std::string statusString(const Json& status, const char* field, std::string& why) {
  const auto it = status.find(field);
  if (it == status.end() || it->is_null()) return "";
  if (!it->is_string()) {
    why = std::string("status.") + field + " is not a string";
    return "";
  }
  return it->get<std::string>();
}

}  // namespace

std::optional<util::WallTime> parseRfc3339(const std::string& text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, n = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6 ||
      n != 19) {
    return std::nullopt;
  }
  std::size_t at = 19;
  std::chrono::nanoseconds fraction{0};
  if (at < text.size() && text[at] == '.') {
    long long scale = 100000000;
    ++at;
    const std::size_t digits = at;
    for (; at < text.size() && std::isdigit(static_cast<unsigned char>(text[at])); ++at) {
      fraction += std::chrono::nanoseconds((text[at] - '0') * scale);
      scale /= 10;
    }
    if (at == digits) return std::nullopt;
  }
  std::chrono::seconds offset{0};
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else if (at + 6 == text.size() && (text[at] == '+' || text[at] == '-') && text[at + 3] == ':') {
    int oh = 0, om = 0;
    if (std::sscanf(text.c_str() + at + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
    offset = std::chrono::hours(oh) + std::chrono::minutes(om);
    if (text[at] == '-') offset = -offset;
    at += 6;
  } else {
    return std::nullopt;
  }
  // The clock counts nanoseconds in 64 bits: 1678 to 2262. An expiry outside the years it
  // holds is no time at all (the fuzzer's year 1014 overflowed it).
  if (at != text.size() || y < 1970 || y > 2261 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
      mi > 59 || s > 60) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const std::time_t seconds = timegm(&tm);
  return std::chrono::time_point_cast<util::WallTime::duration>(
      std::chrono::system_clock::from_time_t(seconds) - offset + fraction);
}

ExecCredentialResult parseExecCredential(const std::string& output, const std::string& apiVersion,
                                         util::WallTime now) {
  const Json doc = Json::parse(output, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return std::string("its output is not a JSON object");
  const auto kind = doc.find("kind");
  if (kind == doc.end() || *kind != "ExecCredential") {
    return std::string("kind is not ExecCredential");
  }
  const auto version = doc.find("apiVersion");
  if (version == doc.end() || !version->is_string() || *version != apiVersion) {
    return "apiVersion is " +
           (version != doc.end() && version->is_string() ? version->get<std::string>()
                                                         : std::string("missing")) +
           ", but the kubeconfig asks for " + apiVersion;
  }
  const auto status = doc.find("status");
  if (status == doc.end() || !status->is_object()) return std::string("status is missing");
  std::string why;
  ExecCredential credential;
  credential.token = statusString(*status, "token", why);
  credential.clientCertPem = statusString(*status, "clientCertificateData", why);
  credential.clientKeyPem = statusString(*status, "clientKeyData", why);
  const std::string expiry = statusString(*status, "expirationTimestamp", why);
  if (!why.empty()) return why;
  if (credential.clientCertPem.empty() != credential.clientKeyPem.empty()) {
    return std::string(
        "status.clientCertificateData and status.clientKeyData must be given together");
  }
  if (credential.token.empty() && credential.clientCertPem.empty()) {
    return std::string("status has neither a token nor clientCertificateData and clientKeyData");
  }
  if (!credential.clientCertPem.empty() &&
      (credential.clientCertPem.find("-----BEGIN CERTIFICATE-----") == std::string::npos ||
       credential.clientKeyPem.find("PRIVATE KEY-----") == std::string::npos)) {
    return std::string("status.clientCertificateData and status.clientKeyData must be PEM");
  }
  if (!expiry.empty()) {
    credential.expiry = parseRfc3339(expiry);
    if (!credential.expiry) return "status.expirationTimestamp is not an RFC 3339 time: " + expiry;
    if (*credential.expiry <= now) {
      return "status.expirationTimestamp " + expiry + " has already passed";
    }
  }
  return credential;
}

std::string execInfo(const ExecPlugin& plugin) {
  Json spec = {{"interactive", false}};
  if (plugin.provideClusterInfo) spec["cluster"] = plugin.cluster;
  return Json{{"apiVersion", plugin.apiVersion}, {"kind", "ExecCredential"}, {"spec", spec}}.dump();
}

PluginRunner processRunner(std::chrono::seconds timeout) {
  return [timeout](const ExecPlugin& plugin, const std::string& info) {
    PluginRun run;
    std::string executable = plugin.command;
    if (executable.find('/') == std::string::npos) {
      executable = boost::process::search_path(plugin.command).string();
      if (executable.empty()) {
        run.error = "not found in PATH" +
                    (plugin.installHint.empty() ? "" : " (" + plugin.installHint + ")");
        return run;
      }
    }
    // As client-go: the controller's own environment, then the stanza's, then the exec info.
    std::map<std::string, std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      const std::string entry(*e);
      const auto eq = entry.find('=');
      if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    for (const auto& [name, value] : plugin.env) env[name] = value;
    env["KUBERNETES_EXEC_INFO"] = info;
    const helm::ProcessOutput out =
        helm::runProcess(executable, plugin.args, env, "",
                         std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    run.exitCode = out.exitCode;
    run.out = out.out;
    run.err = out.err;
    run.timedOut = out.timedOut;
    run.error = out.error;
    return run;
  };
}

ExecCredentialSource::ExecCredentialSource(ExecPlugin plugin, util::ClockPtr clock,
                                           PluginRunner runner)
    : plugin_(std::move(plugin)), clock_(std::move(clock)), runner_(std::move(runner)) {}

ExecCredentialResult ExecCredentialSource::credential() {
  std::lock_guard lock(mu_);
  const util::TimePoint now = clock_->now();
  if (cached_ && (!validUntil_ || now < *validUntil_)) return *cached_;
  if (!lastError_.empty() && now - failedAt_ < kHoldAfterFailure) return lastError_;
  return runLocked();
}

void ExecCredentialSource::invalidate() {
  std::lock_guard lock(mu_);
  cached_.reset();
  validUntil_.reset();
  lastError_.clear();  // a 401 is news: run the plugin now even after a recent failure
}

int ExecCredentialSource::runs() const {
  std::lock_guard lock(mu_);
  return runs_;
}

ExecCredentialResult ExecCredentialSource::runLocked() {
  ++runs_;
  const util::TimePoint startedAt = clock_->now();
  const util::WallTime wallNow = std::chrono::system_clock::now();
  const PluginRun run = runner_(plugin_, execInfo(plugin_));
  std::string why;
  ExecCredentialResult parsed = std::string();
  if (!run.error.empty()) {
    why = run.error;
  } else if (run.timedOut) {
    why = "did not finish in time";
  } else if (run.exitCode != 0) {
    // stderr says why (an expired login, a missing profile); stdout may hold a token: never shown.
    why = "exited with status " + std::to_string(run.exitCode) +
          (run.err.empty() ? "" : ": " + firstLine(run.err));
  } else {
    parsed = parseExecCredential(run.out, plugin_.apiVersion, wallNow);
    if (!parsed) why = "its ExecCredential is unusable: " + parsed.error();
  }
  if (!why.empty()) {
    const std::string message = "exec plugin " + plugin_.command + ": " + why;
    if (message != lastError_) spdlog::warn("{}", message);
    lastError_ = message;
    failedAt_ = clock_->now();
    cached_.reset();
    return message;
  }
  lastError_.clear();
  cached_ = parsed.value();
  validUntil_.reset();
  // The plugin's expiry is wall time; keep it as a distance on the injected clock.
  if (cached_->expiry) validUntil_ = startedAt + (*cached_->expiry - wallNow);
  return *cached_;
}

}  // namespace envop::kube
