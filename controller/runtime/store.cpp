#include "controller/runtime/store.h"

#include <mutex>
#include <utility>

namespace envop::runtime {
namespace {

// parent[key] when parent is an object and it holds that key; null otherwise.
const Object* childOf(const Object* parent, const std::string& key) {
  if (parent == nullptr || !parent->is_object()) return nullptr;
  const auto it = parent->find(key);
  return it == parent->end() ? nullptr : &*it;
}

std::string stringIn(const Object* parent, const std::string& key) {
  const Object* value = childOf(parent, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : std::string();
}

std::string stringAt(const Object& object, const char* field) {
  return stringIn(childOf(&object, "metadata"), field);
}

}  // namespace

std::string objectKey(std::string_view nameSpace, std::string_view name) {
  if (nameSpace.empty()) return std::string(name);
  std::string key;
  key.reserve(nameSpace.size() + 1 + name.size());
  key.append(nameSpace).append("/").append(name);
  return key;
}

std::optional<std::string> objectKey(const Object& object) {
  const std::string name = stringAt(object, "name");
  if (name.empty()) return std::nullopt;
  return objectKey(stringAt(object, "namespace"), name);
}

std::string resourceVersionOf(const Object& object) { return stringAt(object, "resourceVersion"); }

std::string labelOf(const Object& object, const std::string& label) {
  return stringIn(childOf(childOf(&object, "metadata"), "labels"), label);
}

Store::Store(std::string indexLabel) : indexLabel_(std::move(indexLabel)) {}

void Store::index(const std::string& key, const ObjectPtr& object) {
  if (indexLabel_.empty()) return;
  if (std::string value = labelOf(*object, indexLabel_); !value.empty()) {
    byLabel_[std::move(value)].insert(key);
  }
}

void Store::unindex(const std::string& key, const ObjectPtr& object) {
  if (indexLabel_.empty()) return;
  const std::string value = labelOf(*object, indexLabel_);
  if (value.empty()) return;
  const auto it = byLabel_.find(value);
  if (it == byLabel_.end()) return;
  it->second.erase(key);
  if (it->second.empty()) byLabel_.erase(it);
}

std::vector<ObjectPtr> Store::listLabelled(std::string_view value) const {
  std::vector<ObjectPtr> result;
  std::shared_lock lock(mutex_);
  const auto keys = byLabel_.find(value);
  if (keys == byLabel_.end()) return result;
  result.reserve(keys->second.size());
  for (const std::string& key : keys->second) result.push_back(objects_.find(key)->second);
  return result;
}

ObjectPtr Store::get(std::string_view key) const {
  std::shared_lock lock(mutex_);
  const auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Store::list() const {
  std::shared_lock lock(mutex_);
  std::vector<ObjectPtr> result;
  result.reserve(objects_.size());
  for (const auto& [key, object] : objects_) result.push_back(object);
  return result;
}

std::vector<ObjectPtr> Store::listNamespace(std::string_view ns) const {
  std::vector<ObjectPtr> result;
  if (ns.empty()) return result;
  const std::string prefix = std::string(ns) + "/";
  std::shared_lock lock(mutex_);
  for (auto it = objects_.lower_bound(prefix);
       it != objects_.end() && std::string_view(it->first).substr(0, prefix.size()) == prefix;
       ++it) {
    result.push_back(it->second);
  }
  return result;
}

std::vector<std::string> Store::keys() const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> result;
  result.reserve(objects_.size());
  for (const auto& [key, object] : objects_) result.push_back(key);
  return result;
}

std::size_t Store::size() const {
  std::shared_lock lock(mutex_);
  return objects_.size();
}

std::optional<Delta> Store::upsert(Object object) {
  auto key = objectKey(object);
  if (!key) return std::nullopt;
  auto stored = std::make_shared<const Object>(std::move(object));
  std::unique_lock lock(mutex_);
  auto [it, inserted] = objects_.try_emplace(*key, stored);
  if (inserted) {
    index(*key, stored);
    return Delta{Delta::Type::kAdded, std::move(*key), std::move(stored), nullptr};
  }
  ObjectPtr old = std::exchange(it->second, stored);
  unindex(*key, old);
  index(*key, stored);
  return Delta{Delta::Type::kUpdated, std::move(*key), std::move(stored), std::move(old)};
}

std::optional<Delta> Store::remove(Object finalState) {
  auto key = objectKey(finalState);
  if (!key) return std::nullopt;
  std::unique_lock lock(mutex_);
  const auto it = objects_.find(*key);
  if (it == objects_.end()) return std::nullopt;
  unindex(*key, it->second);
  objects_.erase(it);
  return Delta{Delta::Type::kDeleted, std::move(*key),
               std::make_shared<const Object>(std::move(finalState)), nullptr};
}

Deltas Store::replace(std::vector<Object> items) {
  std::map<std::string, ObjectPtr, std::less<>> fresh;
  for (auto& item : items) {
    auto key = objectKey(item);
    if (!key) continue;
    // A duplicate key in one list cannot happen with a real apiserver; the last one wins.
    fresh.insert_or_assign(std::move(*key), std::make_shared<const Object>(std::move(item)));
  }

  Deltas deltas;
  std::unique_lock lock(mutex_);
  for (auto& [key, object] : fresh) {
    const auto old = objects_.find(key);
    if (old == objects_.end()) {
      deltas.push_back(Delta{Delta::Type::kAdded, key, object, nullptr});
    } else if (resourceVersionOf(*old->second) != resourceVersionOf(*object) ||
               (resourceVersionOf(*object).empty() && *old->second != *object)) {
      // Without a resourceVersion (never from a real apiserver) fall back to comparing content.
      deltas.push_back(Delta{Delta::Type::kUpdated, key, object, old->second});
    } else {
      object = old->second;  // unchanged: readers keep seeing the very same object
    }
  }
  for (const auto& [key, object] : objects_) {
    if (fresh.find(key) == fresh.end()) {
      deltas.push_back(Delta{Delta::Type::kDeleted, key, object, nullptr, true});
    }
  }
  objects_ = std::move(fresh);
  byLabel_.clear();
  for (const auto& [key, object] : objects_) index(key, object);
  return deltas;
}

}  // namespace envop::runtime
