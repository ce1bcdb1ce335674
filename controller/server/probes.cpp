#include "controller/server/probes.h"

#include <algorithm>
#include <exception>
#include <mutex>
#include <set>

namespace envop::server {

namespace {

void addOrReplace(std::vector<NamedCheck>& checks, std::string name, ProbeCheck check) {
  const auto it = std::find_if(checks.begin(), checks.end(),
                               [&name](const NamedCheck& c) { return c.name == name; });
  if (it != checks.end()) {
    it->check = std::move(check);
  } else {
    checks.push_back(NamedCheck{std::move(name), std::move(check)});
  }
}

std::optional<std::string> runOne(const NamedCheck& named) {
  try {
    if (!named.check) return "no check function";
    return named.check();
  } catch (const std::exception& e) {
    return std::string("check threw: ") + e.what();
  } catch (...) {
    return std::string("check threw an unknown exception");
  }
}

}  // namespace

HttpResponse runChecks(std::string_view kind, const std::vector<NamedCheck>& checks,
                       std::string_view query) {
  bool verbose = false;
  std::set<std::string, std::less<>> excluded;
  for (auto& [key, value] : parseQuery(query)) {
    // "?verbose", "?verbose=true" and "?verbose=1" all ask for the list; "?verbose=false" not.
    if (key == "verbose") verbose = value != "false" && value != "0";
    if (key == "exclude") excluded.insert(std::move(value));
  }
  std::string lines;
  bool failed = false;
  for (const auto& named : checks) {
    if (excluded.erase(named.name) > 0) {
      lines += "[+]" + named.name + " excluded: ok\n";
      continue;
    }
    if (auto reason = runOne(named)) {
      failed = true;
      lines += "[-]" + named.name + " failed: " + *reason + "\n";
    } else {
      lines += "[+]" + named.name + " ok\n";
    }
  }
  if (!failed && !verbose) return HttpResponse{.status = 200, .body = "ok"};
  // Like kube-apiserver: a name excluded but not registered is reported, not ignored, so that a
  // typo in a probe's URL shows.
  for (const auto& name : excluded)
    lines += "warn: some health checks cannot be excluded: no matches for \"" + name + "\"\n";
  lines += std::string(kind) + (failed ? " check failed\n" : " check passed\n");
  return HttpResponse{.status = failed ? 500 : 200, .body = std::move(lines)};
}

struct Probes::Registry {
  mutable std::mutex mutex;
  std::vector<NamedCheck> health;
  std::vector<NamedCheck> readiness;

  // A copy taken under the lock: the checks then run without it, and may be slow.
  std::vector<NamedCheck> snapshot(const std::vector<NamedCheck>& checks) const {
    std::lock_guard lock(mutex);
    return checks;
  }
};

Probes::Probes() : registry_(std::make_shared<Registry>()) {}

void Probes::addHealthCheck(std::string name, ProbeCheck check) {
  std::lock_guard lock(registry_->mutex);
  addOrReplace(registry_->health, std::move(name), std::move(check));
}

void Probes::addReadinessCheck(std::string name, ProbeCheck check) {
  std::lock_guard lock(registry_->mutex);
  addOrReplace(registry_->readiness, std::move(name), std::move(check));
}

HttpResponse Probes::healthz(std::string_view query) const {
  return runChecks("healthz", registry_->snapshot(registry_->health), query);
}

HttpResponse Probes::readyz(std::string_view query) const {
  return runChecks("readyz", registry_->snapshot(registry_->readiness), query);
}

void Probes::install(HttpServer& server) const {
  server.handle("/healthz", [registry = registry_](const HttpRequest& request) {
    return runChecks("healthz", registry->snapshot(registry->health), request.query);
  });
  server.handle("/readyz", [registry = registry_](const HttpRequest& request) {
    return runChecks("readyz", registry->snapshot(registry->readiness), request.query);
  });
}

}  // namespace envop::server
