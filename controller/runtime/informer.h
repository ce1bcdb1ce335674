// Informer keeps a local cache (Store) of one kind of object in step with the API
// server and tells handlers what changed. It is the I/O half of the reflector: the
// WatchMachine decides (list, watch, back off, relist on 410), the Informer does what
// it says on its own thread and hands the resulting deltas to the handlers.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "controller/kube/client.h"
#include "controller/runtime/store.h"
#include "controller/runtime/watch_machine.h"

namespace envop::runtime {

struct InformerOptions {
  kube::Resource resource;
  std::string namespace_;  // empty: all namespaces (or a cluster-scoped kind)
  std::string labelSelector;
  std::string fieldSelector;
  bool metadataOnly = false;  // cache PartialObjectMetadata, not whole objects
  // When set, only objects it accepts are cached and handed to handlers (what a label
  // selector cannot say, such as "has Helm's release annotation"); an object that stops
  // being accepted is handled as deleted.
  std::function<bool(const kube::Json&)> keep;
  // Applied to every listed item and watched object before `keep` and the store (client-go's
  // transform): what no reader needs (managedFields, kubectl's last-applied annotation) is
  // dropped on arrival so that it never sits in memory. `keep` sees the transformed object.
  std::function<void(kube::Json&)> transform;
  // A label the store indexes by value (Store::listLabelled); empty: none.
  std::string indexLabel;
  // Replays every cached object to the handlers as an update this often; zero: never.
  util::Duration resyncPeriod{};
  WatchMachineOptions watch;
};

class Informer final {
 public:
  using Handler = std::function<void(const Delta&)>;

  Informer(kube::ClientPtr client, InformerOptions options);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Handlers run on the informer's threads (watch and resync) and must be quick and
  // thread-safe (enqueue a key); add them before start().
  void addHandler(Handler handler);
  void start();
  // Cancels the open list or watch and joins; idempotent.
  void stop();

  // What `keep` decides for the objects of namespace `ns` may have changed (the namespace
  // became an Environment's, or stopped being one): cached objects of `ns` that keep now
  // refuses are handled as deleted, and a fresh list of `ns` adds what it now accepts, so an
  // object that arrived before its namespace counted is not missed (only when keep refused an
  // object of `ns` since, or refuses a cached one now: otherwise there is nothing to find, and
  // nothing is listed or restarted). Done on the informer's
  // thread between two watch streams (the open one is ended and resumed from the same
  // resourceVersion, so every event after the list is replayed on top of it). Does nothing
  // before start(): the first list judges every object anyway. Thread-safe.
  void recheckNamespace(const std::string& ns);

  bool hasSynced() const { return synced_.load(); }
  const StorePtr& store() const { return store_; }
  const kube::Resource& resource() const { return options_.resource; }

 private:
  void run();
  // One turn of run(): performs the action, feeds the machine, returns its next action.
  WatchAction step(WatchAction action);
  // After an exception in step(): counts and logs it and returns the machine's backoff.
  WatchAction recover(const std::string& what);
  void resyncLoop();
  WatchInput perform(const WatchAction& action, std::optional<WatchAction>& next);
  void dispatch(const Deltas& deltas);
  // The pending recheckNamespace() requests; false (requests kept for the next try) when a
  // list failed, with its failure in `failed`.
  bool runRechecks(Failed& failed);
  // Transform, then keep: false when the object is not to be cached (its namespace is then
  // remembered in refused_).
  bool admit(kube::Json& object);
  // After an admitted object was stored: removes it (and tells the handlers) if keep now
  // refuses it.
  void keepStill(const std::string& key);
  // Waits up to d, or until stop(); false when stopping.
  bool waitFor(util::Duration d);

  kube::ClientPtr client_;
  InformerOptions options_;
  StorePtr store_;
  WatchMachine machine_;
  std::vector<Handler> handlers_;
  std::atomic<bool> synced_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> started_{false};
  kube::Cancellation cancel_;
  std::mutex mu_;
  // Guarded by mu_: namespaces to recheck, and the open watch stream's cancellation (ended
  // early so that a recheck need not wait for the stream's timeout).
  std::set<std::string> pendingRechecks_;
  // Namespaces in which keep refused an object since their last recheck: only these can hold
  // an object a recheck would find.
  std::set<std::string> refused_;
  kube::Cancellation* openWatch_ = nullptr;
  std::condition_variable wake_;
  std::thread thread_;
  std::thread resyncThread_;
};

// envop_informer_exceptions_total{resource=plural}: exceptions caught at the boundary of the
// informer threads of that resource.
double informerExceptions(const std::string& plural);

}  // namespace envop::runtime
