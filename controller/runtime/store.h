// Store is the reflector's local copy of the objects of one resource, keyed like client-go's
// cache ("namespace/name", or "name" for a cluster-scoped object). The reflector writes to it;
// reconcilers read from it on other threads, so reads never hit the apiserver. Every write
// reports what changed as Deltas (added, updated(old, new), deleted(last known)), which the
// reflector hands to event handlers after the write, outside the lock. A relist goes through
// replace(), which infers the deletes that happened while no watch was open, so handlers miss
// nothing across a 410 or an outage.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace envop::runtime {

using Object = nlohmann::json;
// Objects are shared with readers and handlers and are never mutated once stored.
using ObjectPtr = std::shared_ptr<const Object>;

struct Delta {
  enum class Type { kAdded, kUpdated, kDeleted };

  Type type = Type::kAdded;
  std::string key;
  // The new state; for kDeleted the last known state.
  ObjectPtr object;
  // For kUpdated the previous state; null otherwise.
  ObjectPtr oldObject;
  // kDeleted inferred by a relist: the object vanished while we were not watching, so `object`
  // may be older than its real final state (client-go's DeletedFinalStateUnknown).
  bool finalStateUnknown = false;
};
using Deltas = std::vector<Delta>;

// "namespace/name", or "name" when the namespace is empty; nullopt if there is no metadata.name.
std::optional<std::string> objectKey(const Object& object);
std::string objectKey(std::string_view nameSpace, std::string_view name);
// metadata.resourceVersion, or "" if absent.
std::string resourceVersionOf(const Object& object);
// The value of metadata.labels[label], or "" if absent or not a string.
std::string labelOf(const Object& object, const std::string& label);

class Store final {
 public:
  // indexLabel: a label whose value finds its objects without a walk of the store
  // (listLabelled; client-go's indexer); empty: no index.
  explicit Store(std::string indexLabel = {});

  // Null if the key is unknown.
  ObjectPtr get(std::string_view key) const;
  // Ordered by key.
  std::vector<ObjectPtr> list() const;
  // The objects of one namespace (keys "ns/..."), without walking the others.
  std::vector<ObjectPtr> listNamespace(std::string_view ns) const;
  // The objects whose indexLabel has this value, ordered by key; empty without an index.
  std::vector<ObjectPtr> listLabelled(std::string_view value) const;
  const std::string& indexLabel() const { return indexLabel_; }
  std::vector<std::string> keys() const;
  std::size_t size() const;

  // A watch ADDED or MODIFIED: kAdded if the key is new, kUpdated otherwise. Nullopt (and no
  // change) for an object without a name.
  std::optional<Delta> upsert(Object object);
  // A watch DELETED, carrying the object's final state. Nullopt if the key was unknown, like
  // client-go, which drops deletes of objects it never saw.
  std::optional<Delta> remove(Object finalState);
  // A complete list: new keys are kAdded, keys whose resourceVersion changed are kUpdated,
  // unchanged ones report nothing, and keys absent from `items` are kDeleted with
  // finalStateUnknown. Items without a name are skipped.
  Deltas replace(std::vector<Object> items);

 private:
  // Under the write lock.
  void index(const std::string& key, const ObjectPtr& object);
  void unindex(const std::string& key, const ObjectPtr& object);

  const std::string indexLabel_;
  mutable std::shared_mutex mutex_;
  std::map<std::string, ObjectPtr, std::less<>> objects_;
  // indexLabel's value -> the keys that carry it.
  std::map<std::string, std::set<std::string, std::less<>>, std::less<>> byLabel_;
};
using StorePtr = std::shared_ptr<Store>;

}  // namespace envop::runtime
