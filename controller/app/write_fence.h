// FencedTransport stops a replica's writes to the API server the moment it can no longer be
// sure it leads: every POST, PUT, PATCH and DELETE first asks `mayWrite` (the elector's
// holdsLease) and is refused without being sent when it says no. Losing the Lease already
// exits the process, but only once the elector's thread runs again; a process that was
// stopped (SIGSTOP, a frozen VM, a starved node) resumes all its threads at once, and a
// reconcile that wakes before the elector must not write over the new leader. Reads and
// watches pass through: caches keep running on every replica.
#pragma once

#include <atomic>
#include <functional>

#include "controller/kube/transport.h"

namespace envop::app {

class FencedTransport final : public kube::Transport {
 public:
  FencedTransport(kube::TransportPtr inner, std::function<bool()> mayWrite);

  kube::HttpResponse send(const kube::HttpRequest& request) override;
  kube::HttpResponse stream(const kube::HttpRequest& request,
                            const std::function<bool(std::string_view line)>& onLine,
                            kube::Cancellation& cancel) override;
  const std::string& host() const override { return inner_->host(); }

  // Writes refused so far.
  long refused() const { return refused_.load(); }

 private:
  kube::TransportPtr inner_;
  std::function<bool()> mayWrite_;
  std::atomic<long> refused_{0};
};

// POST, PUT, PATCH, DELETE.
bool isWrite(const std::string& method);

}  // namespace envop::app
