// FieldReader reads an object's fields for the typed views of an Environment,
// keeping the first error, which names the field's path (spec.releases[1].chart), so
// that a bad object is reported in words a user can act on and parsing never throws.
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace envop::environment {

class FieldReader final {
 public:
  std::optional<std::string> error_;

  // The child, or null when absent or JSON null.
  static const nlohmann::json* child(const nlohmann::json& parent, const char* key) {
    if (!parent.is_object()) return nullptr;
    auto it = parent.find(key);
    return it == parent.end() || it->is_null() ? nullptr : &*it;
  }
  std::string string(const nlohmann::json& parent, const char* key, const std::string& path,
                     std::string fallback = "") {
    const nlohmann::json* v = child(parent, key);
    if (v == nullptr) return fallback;
    if (!v->is_string()) return failWith(path + ": must be a string", fallback);
    return v->get<std::string>();
  }
  bool boolean(const nlohmann::json& parent, const char* key, const std::string& path,
               bool fallback) {
    const nlohmann::json* v = child(parent, key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) return failWith(path + ": must be true or false", fallback);
    return v->get<bool>();
  }
  // A whole number from min to max, or the fallback when absent. 2.5, "3" and a number past
  // int64 are errors (the message is the caller's, naming the range in its words).
  std::int64_t integer(const nlohmann::json& parent, const char* key, const std::string& message,
                       std::int64_t fallback, std::int64_t min = 0,
                       std::int64_t max = std::numeric_limits<std::int64_t>::max()) {
    const nlohmann::json* v = child(parent, key);
    if (v == nullptr) return fallback;
    std::optional<std::int64_t> n;
    if (v->is_number_unsigned()) {
      const auto u = v->get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        n = static_cast<std::int64_t>(u);
      }
    } else if (v->is_number_integer()) {
      n = v->get<std::int64_t>();
    }
    if (!n || *n < min || *n > max) return failWith(message, fallback);
    return *n;
  }
  nlohmann::json object(const nlohmann::json& parent, const char* key, const std::string& path) {
    const nlohmann::json* v = child(parent, key);
    if (v == nullptr) return nlohmann::json::object();
    if (!v->is_object()) return failWith(path + ": must be an object", nlohmann::json::object());
    return *v;
  }
  nlohmann::json array(const nlohmann::json& parent, const char* key, const std::string& path) {
    const nlohmann::json* v = child(parent, key);
    if (v == nullptr) return nlohmann::json::array();
    if (!v->is_array()) return failWith(path + ": must be a list", nlohmann::json::array());
    return *v;
  }
  void fail(std::string message) {
    if (!error_) error_ = std::move(message);
  }
  template <typename T>
  T failWith(std::string message, T fallback) {
    fail(std::move(message));
    return fallback;
  }
};

}  // namespace envop::environment
