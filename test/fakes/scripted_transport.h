// ScriptedTransport answers each request through a handler and keeps every request it saw:
// for unit tests of code that talks to the API server (the Applier, the observer) without a
// socket. Streams (watches) are refused.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "controller/kube/transport.h"

namespace envop::fakes {

class ScriptedTransport final : public kube::Transport {
 public:
  using Handler = std::function<kube::HttpResponse(const kube::HttpRequest&)>;
  explicit ScriptedTransport(Handler handler) : handler_(std::move(handler)) {}

  kube::HttpResponse send(const kube::HttpRequest& request) override {
    std::lock_guard lock(mu_);
    requests_.push_back(request);
    return handler_(request);
  }
  kube::HttpResponse stream(const kube::HttpRequest&, const std::function<bool(std::string_view)>&,
                            kube::Cancellation&) override {
    return {.status = 500};
  }
  const std::string& host() const override { return host_; }
  std::vector<kube::HttpRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  Handler handler_;
  std::mutex mu_;
  std::vector<kube::HttpRequest> requests_;
  std::string host_ = "fake";
};

}  // namespace envop::fakes
