// FakeTransport stands in for the API server behind kube::Client in unit tests: each send() is
// answered by a scripted responder, and a watch stream stays open without events (a quiet
// cluster) until it is cancelled. Every request is recorded. Thread-safe.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "controller/kube/transport.h"

namespace envop::fakes {

class FakeTransport final : public kube::Transport {
 public:
  // May throw, to play an HTTP library that breaks the "transports never throw" rule.
  using Responder = std::function<kube::HttpResponse(const kube::HttpRequest&)>;

  explicit FakeTransport(Responder responder) : responder_(std::move(responder)) {}

  kube::HttpResponse send(const kube::HttpRequest& request) override;
  kube::HttpResponse stream(const kube::HttpRequest& request,
                            const std::function<bool(std::string_view line)>& onLine,
                            kube::Cancellation& cancel) override;
  const std::string& host() const override { return host_; }

  std::vector<kube::HttpRequest> requests() const;

 private:
  Responder responder_;
  std::string host_ = "fake:443";
  mutable std::mutex mu_;
  std::condition_variable cancelled_;
  std::vector<kube::HttpRequest> requests_;
};

}  // namespace envop::fakes
