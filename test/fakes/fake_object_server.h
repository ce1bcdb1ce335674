// An API server that only serves GETs of objects put into it by path: enough for code that
// reads a Secret or a ConfigMap through kube::Client, with no socket. Anything else is a 405;
// an unknown path is a 404 with a metav1.Status, as the API server answers.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "controller/kube/client.h"
#include "controller/kube/transport.h"

namespace envop::testing {

class FakeObjectServer final : public kube::Transport {
 public:
  // path: "/api/v1/namespaces/<ns>/secrets/<name>", as kube::Resource::path builds it.
  void put(const std::string& path, const nlohmann::json& object) {
    std::lock_guard lock(mu_);
    objects_[path] = object;
  }
  void remove(const std::string& path) {
    std::lock_guard lock(mu_);
    objects_.erase(path);
  }
  int gets() const {
    std::lock_guard lock(mu_);
    return gets_;
  }

  kube::HttpResponse send(const kube::HttpRequest& request) override {
    std::lock_guard lock(mu_);
    if (request.method != "GET") return {.status = 405, .body = status(405, "MethodNotAllowed")};
    ++gets_;
    auto it = objects_.find(request.pathAndQuery);
    if (it == objects_.end()) return {.status = 404, .body = status(404, "NotFound")};
    return {.status = 200, .body = it->second.dump()};
  }
  kube::HttpResponse stream(const kube::HttpRequest&, const std::function<bool(std::string_view)>&,
                            kube::Cancellation&) override {
    return {.status = 405, .body = status(405, "MethodNotAllowed")};
  }
  const std::string& host() const override { return host_; }

 private:
  static std::string status(int code, const std::string& reason) {
    return nlohmann::json{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
                          {"reason", reason}, {"code", code},       {"message", "fake: " + reason}}
        .dump();
  }

  mutable std::mutex mu_;
  std::map<std::string, nlohmann::json> objects_;
  int gets_ = 0;
  const std::string host_ = "fake-apiserver";
};

}  // namespace envop::testing
