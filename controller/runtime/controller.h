// Controller runs a Reconciler over a WorkQueue with N workers, as controller-runtime
// does: informers turn watch events into keys, a key is never reconciled by two
// workers at once, and the Reconciler's answer decides what happens next — success
// forgets the key's backoff, an error requeues it with backoff, requeueAfter adds it
// again later, a terminal error is not retried (the reconciler reports it as Stalled).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "controller/runtime/informer.h"
#include "controller/runtime/work_queue.h"

namespace envop::runtime {

struct ReconcileResult {
  // zero: wait for the next change. With an error: retry no later than this, however far
  // the key's exponential backoff has grown (an outage outside the cluster that nothing
  // will announce the end of).
  util::Duration requeueAfter{};
  std::string error;      // non-empty: the reconcile failed
  bool terminal = false;  // with error: retrying the same input cannot help

  static ReconcileResult done() { return {}; }
  static ReconcileResult requeue(util::Duration after) { return {.requeueAfter = after}; }
  static ReconcileResult failed(std::string why) { return {.error = std::move(why)}; }
  static ReconcileResult failedRetryWithin(std::string why, util::Duration atMost) {
    return {.requeueAfter = atMost, .error = std::move(why)};
  }
  static ReconcileResult terminalError(std::string why) {
    return {.error = std::move(why), .terminal = true};
  }
};

// What a reconcile knows about itself, for its log lines.
struct ReconcileRequest {
  std::string key;          // "name" or "namespace/name"
  std::string reconcileId;  // unique per reconcile, in every log line it writes
};

class Reconciler {
 public:
  virtual ~Reconciler() = default;
  // Must not throw; a thrown exception is caught and treated as an error.
  virtual ReconcileResult reconcile(const ReconcileRequest& request) = 0;
};

// Maps a change of an owned or referenced object to the keys of the primaries to
// reconcile (for example by the envop.io/environment label).
using KeyMapper = std::function<std::vector<std::string>(const Delta&)>;

class Controller final {
 public:
  Controller(std::string name, std::shared_ptr<Reconciler> reconciler, int workers,
             util::ClockPtr clock = util::steadyClock());
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Every change of the primary kind enqueues its own key.
  void watchPrimary(Informer& informer);
  // Every change of a secondary kind enqueues what mapper says.
  void watchSecondary(Informer& informer, KeyMapper mapper);
  // What one watch event does to the queue: each key is added at once when the event is a
  // material change (isMaterialChange), otherwise only when the key is not backing off. Public
  // so that tests drive it without an informer.
  void enqueue(const Delta& delta, const std::vector<std::string>& keys);

  void start();
  // Stops handing out keys and waits up to `drain` for reconciles in flight.
  void stop(util::Duration drain = std::chrono::seconds(30));

  WorkQueue& queue() { return *queue_; }
  const std::string& name() const { return name_; }

 private:
  void work();
  void process(const std::string& key);

  std::string name_;
  std::shared_ptr<Reconciler> reconciler_;
  int workers_;
  std::unique_ptr<WorkQueue> queue_;
  std::vector<std::thread> threads_;
  std::atomic<bool> started_{false};
};

// Whether a watch event changes what a reconciler acts on. Adds, deletes and updates that
// touch the object's spec, data or metadata are material. Not material: a resync (the cached
// object replayed, same resourceVersion) and an update that changed only status (and with it
// resourceVersion and managedFields) — typically our own status write after a failed reconcile.
// client-go and controller-runtime add the key at once for every event, which cuts the backoff
// of a failing key short: each failure writes status, the write comes back as an event, and the
// key spins at the speed of its own writes. So a non-material event waits for the backoff, and
// only a material one (someone fixed the spec, the missing Secret appeared) retries at once.
// A metadata-only cache of a kind without metadata.generation (ConfigMap, Secret) cannot see a
// data change, so there every new resourceVersion is material.
bool isMaterialChange(const Delta& delta);

// A label value that maps owned objects back to their Environment.
KeyMapper byLabel(std::string label);

// A fresh random reconcile ID (16 hex digits).
std::string newReconcileId();

}  // namespace envop::runtime
