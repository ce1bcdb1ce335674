// Applier writes envop's objects by server-side apply, and only when something
// changed: the desired object differs from what envop last applied, or a field envop
// applied changed since — a human edit or delete, which is drift and is reported as
// repaired. What envop applied is its own managedFields entry (manager `envop`,
// operation Apply); a change anywhere else — status written by a controller (a
// ResourceQuota's `used`), defaults, fields of other managers — is not drift and
// costs no write. A resync of an unchanged Environment therefore sends no write.
//
// Ownership: envop takes a field another manager owns (force) only when the field is
// envop's: every field it declares on an object it created, and on an object it did
// not create (an adopted namespace, the shared `ext` namespace) only the fields it
// owned at its own last apply. Any other conflict is left to its owner and reported
// (ApplyOutcome::conflicts), naming the field and the manager.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "controller/kube/client.h"
#include "controller/runtime/store.h"

namespace envop::environment {

// A field envop declares that another field manager owns (an SSA 409).
struct FieldConflict {
  std::string field;    // as the API server prints it, e.g. ".metadata.labels.team"
  std::string manager;  // e.g. "kubectl-edit"; empty if the server did not say
  bool operator==(const FieldConflict&) const = default;
};

struct ApplyOutcome {
  bool wrote = false;          // a request went to the API server
  bool repairedDrift = false;  // the live object had been changed or deleted by someone else
  std::optional<kube::ApiError> error;
  // Set (with error) when the apply was refused because other managers own these fields.
  std::vector<FieldConflict> conflicts;
};

struct ApplyOptions {
  // envop made this object (not adopted, not shared), so every field it declares on it is
  // envop's: one another manager took is drift, taken back by force.
  bool envopCreated = true;
};

class Applier final {
 public:
  // liveStores: informer stores of the owned kinds, by plural (namespaces, services, ...).
  Applier(kube::ClientPtr client, std::map<std::string, runtime::StorePtr> liveStores);

  ApplyOutcome apply(const kube::Resource& resource, const kube::Json& desired,
                     ApplyOptions options = {});
  // Deletes an object envop owns; NotFound counts as done.
  ApplyOutcome remove(const kube::Resource& resource, const std::string& ns,
                      const std::string& name);
  // Lets go of an object envop owns, leaving it in place without envop's ownership labels
  // (deletionPolicy Retain); NotFound counts as done.
  ApplyOutcome disown(const kube::Resource& resource, const std::string& ns,
                      const std::string& name);
  // The cached live objects of a kind that carry this Environment's label.
  std::vector<runtime::ObjectPtr> ownedBy(const kube::Resource& resource,
                                          const std::string& environment) const;
  // Told every change the informer of an owned kind stores (registered before the handlers
  // that requeue Environments, so that their reconcile sees it): once the cache shows an
  // object moved past the state envop applied it over, envop's write has been seen.
  void observe(const kube::Resource& resource, const runtime::Delta& delta);
  // Whether envop has applied this object since it started (and not removed or let go of it).
  bool applied(const kube::Resource& resource, const std::string& ns,
               const std::string& name) const;
  // Whether envop applied exactly `desired` last and the kind's cache has not shown the object
  // since (it is behind envop's own write).
  bool awaitingCache(const kube::Resource& resource, const kube::Json& desired) const;
  // Whether the kind has an informer's cache here (live, ownedBy answer from it).
  bool caches(const kube::Resource& resource) const {
    return liveStores_.count(resource.plural) > 0;
  }
  // The cached live object, or null (not cached, or the kind has no informer).
  runtime::ObjectPtr live(const kube::Resource& resource, const std::string& ns,
                          const std::string& name) const;

  kube::Client& client() { return *client_; }

 private:
  struct Record {
    std::size_t digest = 0;  // of the desired object last applied
    std::string resourceVersion;
    kube::Json fields;  // envop's applied fieldsV1 right after that apply
    // The cached object's resourceVersion when envop applied (empty: not cached), and whether
    // the cache has shown anything else since: until then it is behind envop's own write.
    std::string resourceVersionBefore;
    bool cacheCaughtUp = false;
    // Whether a cache showing this resourceVersion ("" when it lacks the object) has seen
    // envop's write, or something after it.
    bool cacheMovedTo(const std::string& cachedResourceVersion) const {
      return cacheCaughtUp || cachedResourceVersion != resourceVersionBefore;
    }
  };
  static std::size_t digestOf(const kube::Json& desired);
  static std::string recordKey(const kube::Resource& r, const std::string& ns,
                               const std::string& name);
  // Whether `object` still shows what envop last applied: the same resourceVersion, or
  // envop's applied field set unchanged (only others' fields or status moved).
  static bool unchangedSince(const Record& record, const kube::Json& object);

  kube::ClientPtr client_;
  std::map<std::string, runtime::StorePtr> liveStores_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Record> records_;
};

// envop's own Apply entry of metadata.managedFields (manager `envop`, operation Apply, the
// main resource): its fieldsV1; null when there is none.
kube::Json appliedFields(const kube::Json& object,
                         const std::string& manager = kube::kFieldManager);

// Every field a fieldsV1 set names, as the API server prints a field path in a conflict
// (".spec.hard.pods", ".metadata.labels.app.kubernetes.io/managed-by",
// ".spec.ports[port=80,protocol=\"TCP\"]").
std::set<std::string> fieldPaths(const kube::Json& fieldsV1);

// The field-manager conflicts of a failed server-side apply; empty for any other error.
std::vector<FieldConflict> fieldConflicts(const kube::ApiError& error);

// "field .metadata.labels.team is owned by \"kubectl-edit\"", joined with "; ".
std::string describeConflicts(const std::vector<FieldConflict>& conflicts);

}  // namespace envop::environment
