// Probes is the registry of the controller's named health checks (/healthz, the kubelet's
// liveness probe) and readiness checks (/readyz, its readiness probe), answered the way
// kube-apiserver and controller-runtime answer them: 200 "ok" when every check passes; otherwise
// 500 with one line per check, "[+]ping ok" or "[-]informers-synced failed: <reason>", then
// "healthz check failed". "?verbose" lists every check even when all pass, and "?exclude=name"
// (repeatable) skips a check, as kube-apiserver allows.
//
// A check returns nullopt when healthy or a reason a human can act on; it runs on an I/O thread
// of the server for every probe, so it must be quick and must not block (read an atomic, compare
// a timestamp). A check that throws counts as failed. Reasons are served to anyone who can reach
// the probe port: they must not carry secrets.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "controller/server/http_server.h"

namespace envop::server {

using ProbeCheck = std::function<std::optional<std::string>()>;

struct NamedCheck {
  std::string name;
  ProbeCheck check;
};

// The answer of one probe endpoint: `kind` is "healthz" or "readyz", `query` the request's query.
// Pure apart from running the checks, so it is tested without sockets.
HttpResponse runChecks(std::string_view kind, const std::vector<NamedCheck>& checks,
                       std::string_view query);

class Probes final {
 public:
  Probes();

  // Adds a check, or replaces the one of the same name. Safe while the server runs, so that a
  // part of the controller registers its check when it starts.
  void addHealthCheck(std::string name, ProbeCheck check);
  void addReadinessCheck(std::string name, ProbeCheck check);

  HttpResponse healthz(std::string_view query = {}) const;
  HttpResponse readyz(std::string_view query = {}) const;

  // Routes GET /healthz and /readyz on `server`. The handlers share the registry, so they stay
  // valid even if this Probes object is destroyed before the server stops.
  void install(HttpServer& server) const;

 private:
  struct Registry;
  std::shared_ptr<Registry> registry_;
};

}  // namespace envop::server
