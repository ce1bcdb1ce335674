// Applier writes envop's objects by server-side apply, and only when something
// changed: the desired object differs from what envop last applied, or the live
// object (as the owned-kind informers see it) changed since — a human edit or delete,
// which is drift and is reported as repaired. A resync of an unchanged Environment
// therefore sends no write to the API server.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "controller/kube/client.h"
#include "controller/runtime/store.h"

namespace envop::environment {

struct ApplyOutcome {
  bool wrote = false;          // a request went to the API server
  bool repairedDrift = false;  // the live object had been changed or deleted by someone else
  std::optional<kube::ApiError> error;
};

class Applier final {
 public:
  // liveStores: informer stores of the owned kinds, by plural (namespaces, services, ...).
  Applier(kube::ClientPtr client, std::map<std::string, runtime::StorePtr> liveStores);

  ApplyOutcome apply(const kube::Resource& resource, const kube::Json& desired);
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
  // The cached live object, or null (not cached, or the kind has no informer).
  runtime::ObjectPtr live(const kube::Resource& resource, const std::string& ns,
                          const std::string& name) const;

  kube::Client& client() { return *client_; }

 private:
  struct Record {
    std::size_t digest = 0;
    std::string resourceVersion;
  };
  static std::string recordKey(const kube::Resource& r, const std::string& ns,
                               const std::string& name);

  kube::ClientPtr client_;
  std::map<std::string, runtime::StorePtr> liveStores_;
  std::mutex mu_;
  std::unordered_map<std::string, Record> records_;
};

}  // namespace envop::environment
