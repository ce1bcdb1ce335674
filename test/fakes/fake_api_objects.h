// FakeApiObjects plays the API server's object store for unit tests of a part: server-side
// apply (PATCH with an apply body) stores the object, GET reads one, a GET of a collection
// lists those whose labels match an equality label selector (across namespaces when the path
// has none), DELETE removes one. Enough to see what a part applies and removes, with no socket.
// Kinds can be marked unserved, as when their CRD is not installed: every request is a 404.
#pragma once

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "controller/kube/transport.h"

namespace envop::fakes {

class FakeApiObjects final {
 public:
  void unserve(const std::string& plural) { unserved_.insert(plural); }
  void serve(const std::string& plural) { unserved_.erase(plural); }
  // "plural/namespace/name" → object.
  std::map<std::string, nlohmann::json> objects() const {
    std::lock_guard lock(mu_);
    return objects_;
  }
  int writes() const {
    std::lock_guard lock(mu_);
    return writes_;
  }

  kube::HttpResponse handle(const kube::HttpRequest& request) {
    std::lock_guard lock(mu_);
    const std::string path = request.pathAndQuery.substr(0, request.pathAndQuery.find('?'));
    const std::string query = request.pathAndQuery.find('?') == std::string::npos
                                  ? ""
                                  : request.pathAndQuery.substr(request.pathAndQuery.find('?') + 1);
    std::vector<std::string> parts;
    for (size_t at = 1; at <= path.size();) {
      const size_t next = std::min(path.find('/', at), path.size());
      parts.push_back(path.substr(at, next - at));
      at = next + 1;
    }
    // /api/v1/... or /apis/group/version/...
    const size_t start = parts.size() > 0 && parts[0] == "api" ? 2 : 3;
    std::string ns;
    size_t at = start;
    if (parts.size() > at + 1 && parts[at] == "namespaces" && parts.size() > at + 2) {
      ns = parts[at + 1];
      at += 2;
    }
    if (parts.size() <= at) return notFound();
    const std::string plural = parts[at];
    const std::string name = parts.size() > at + 1 ? parts[at + 1] : "";
    if (unserved_.count(plural)) return notFound();
    const std::string key = plural + "/" + ns + "/" + name;
    if (request.method == "PATCH") {
      nlohmann::json object = nlohmann::json::parse(request.body);
      object["metadata"]["resourceVersion"] = std::to_string(++version_);
      objects_[key] = object;
      ++writes_;
      return {.status = 200, .body = object.dump()};
    }
    if (request.method == "DELETE") {
      ++writes_;
      if (objects_.erase(key) == 0) return notFound();
      return {.status = 200, .body = R"({"kind":"Status","status":"Success"})"};
    }
    if (request.method != "GET") return {.status = 405, .body = "{}"};
    if (!name.empty()) {
      auto it = objects_.find(key);
      if (it == objects_.end()) return notFound();
      return {.status = 200, .body = it->second.dump()};
    }
    const std::map<std::string, std::string> selector = labelSelector(query);
    nlohmann::json items = nlohmann::json::array();
    for (const auto& [k, object] : objects_) {
      if (!k.starts_with(plural + "/")) continue;
      if (!ns.empty() && !k.starts_with(plural + "/" + ns + "/")) continue;
      bool matches = true;
      const nlohmann::json labels = object["metadata"].value("labels", nlohmann::json::object());
      for (const auto& [lk, lv] : selector) matches = matches && labels.value(lk, "") == lv;
      if (matches) items.push_back(object);
    }
    return {.status = 200,
            .body = nlohmann::json{
                {"metadata", {{"resourceVersion", std::to_string(version_)}}},
                {"items",
                 items}}.dump()};
  }

 private:
  static kube::HttpResponse notFound() {
    return {.status = 404,
            .body = R"({"kind":"Status","status":"Failure","reason":"NotFound","code":404})"};
  }
  static std::string decode(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += s[i] == '+' ? ' ' : s[i];
      }
    }
    return out;
  }
  static std::map<std::string, std::string> labelSelector(const std::string& query) {
    std::map<std::string, std::string> out;
    const size_t at = query.find("labelSelector=");
    if (at == std::string::npos) return out;
    const std::string value = decode(query.substr(at + 14, query.find('&', at) - at - 14));
    for (size_t i = 0; i < value.size();) {
      const size_t comma = std::min(value.find(',', i), value.size());
      const std::string term = value.substr(i, comma - i);
      const size_t eq = term.find('=');
      if (eq != std::string::npos) out[term.substr(0, eq)] = term.substr(eq + 1);
      i = comma + 1;
    }
    return out;
  }

  mutable std::mutex mu_;
  std::map<std::string, nlohmann::json> objects_;
  std::set<std::string> unserved_;
  int version_ = 0;
  int writes_ = 0;
};

}  // namespace envop::fakes
