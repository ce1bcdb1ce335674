// An API server of objects in memory, for the parts that read, apply and patch a few objects
// through kube::Client: GET, server-side apply (the body becomes the object; the resourceVersion
// moves only when the object changed), JSON patch "add"/"replace"/"test", merge patch of labels,
// DELETE. It counts writes, so a test can say "a resync writes nothing". No managedFields are kept:
// the Applier then judges by resourceVersion alone.
#pragma once

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "controller/kube/transport.h"

namespace envop::testing {

class FakeKubeObjects final : public kube::Transport {
 public:
  using Json = nlohmann::json;

  // path: "/api/v1/namespaces/<ns>/secrets/<name>".
  void put(const std::string& path, Json object) {
    std::lock_guard lock(mu_);
    object["metadata"]["resourceVersion"] = std::to_string(++rv_);
    objects_[path] = std::move(object);
  }
  std::optional<Json> get(const std::string& path) const {
    std::lock_guard lock(mu_);
    auto it = objects_.find(path);
    if (it == objects_.end()) return std::nullopt;
    return it->second;
  }
  void remove(const std::string& path) {
    std::lock_guard lock(mu_);
    objects_.erase(path);
  }
  int writes() const {
    std::lock_guard lock(mu_);
    return writes_;
  }

  kube::HttpResponse send(const kube::HttpRequest& request) override {
    std::lock_guard lock(mu_);
    const std::string path = request.pathAndQuery.substr(0, request.pathAndQuery.find('?'));
    auto it = objects_.find(path);
    if (request.method == "GET") {
      if (it == objects_.end()) return notFound();
      return {.status = 200, .body = it->second.dump()};
    }
    ++writes_;
    if (request.method == "DELETE") {
      if (it == objects_.end()) return notFound();
      objects_.erase(it);
      return {.status = 200, .body = "{}"};
    }
    if (request.method != "PATCH") return {.status = 405, .body = status(405, "MethodNotAllowed")};
    const Json body = Json::parse(request.body, nullptr, false);
    if (request.contentType == "application/apply-patch+yaml") {
      Json object = body;
      if (it != objects_.end()) {
        Json before = it->second;
        before["metadata"].erase("resourceVersion");
        object["metadata"]["resourceVersion"] = before == body
                                                    ? it->second["metadata"]["resourceVersion"]
                                                    : Json(std::to_string(++rv_));
      } else {
        object["metadata"]["resourceVersion"] = std::to_string(++rv_);
      }
      objects_[path] = object;
      return {.status = 200, .body = object.dump()};
    }
    if (it == objects_.end()) return notFound();
    Json& object = it->second;
    if (request.contentType == "application/json-patch+json") {
      for (const Json& op : body) {
        const std::string p = op.value("path", "");
        if (op.value("op", "") == "test") {
          if (Json(object).at(Json::json_pointer(p)) != op["value"]) {
            return {.status = 422, .body = status(422, "Invalid")};
          }
        } else if (op.value("op", "") == "replace") {
          object.at(Json::json_pointer(p)) = op["value"];
        } else if (op.value("op", "") == "add") {
          if (p.size() > 2 && p.substr(p.size() - 2) == "/-") {
            object.at(Json::json_pointer(p.substr(0, p.size() - 2))).push_back(op["value"]);
          } else {
            object[Json::json_pointer(p)] = op["value"];
          }
        }
      }
    } else {
      object.merge_patch(body);
    }
    object["metadata"]["resourceVersion"] = std::to_string(++rv_);
    return {.status = 200, .body = object.dump()};
  }
  kube::HttpResponse stream(const kube::HttpRequest&, const std::function<bool(std::string_view)>&,
                            kube::Cancellation&) override {
    return {.status = 405, .body = status(405, "MethodNotAllowed")};
  }
  const std::string& host() const override { return host_; }

 private:
  static std::string status(int code, const std::string& reason) {
    return Json{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
                {"reason", reason}, {"code", code},       {"message", "fake: " + reason}}
        .dump();
  }
  static kube::HttpResponse notFound() { return {.status = 404, .body = status(404, "NotFound")}; }

  mutable std::mutex mu_;
  std::map<std::string, Json> objects_;
  int writes_ = 0;
  long rv_ = 0;
  const std::string host_ = "fake-apiserver";
};

}  // namespace envop::testing
