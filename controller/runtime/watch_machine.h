// WatchMachine is the reflector's protocol logic with no I/O (kube-rs's watcher as an explicit
// state machine; Boost.Redis's FSMs that return the next action). The Reflector performs the
// request or timer the machine asks for and feeds back what happened; the machine keeps the
// Store in step and returns the next Action plus the Deltas for the event handlers.
//
// The protocol is client-go's: LIST with resourceVersion=0 in pages of 500 (later pages carry only
// the continue token), then WATCH from the list's resourceVersion with allowWatchBookmarks and a
// timeoutSeconds jittered in [300, 600]. A stream that times out is re-watched from the last
// resourceVersion. A 410 (the resourceVersion was compacted away) relists with
// resourceVersion="" so that the list is a consistent read from etcd, not a watch-cache answer
// possibly older than what we have seen. Other failures back off (800 ms -> 30 s, jittered) and
// then resume: a watch from the last resourceVersion if there is one, a list otherwise.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "controller/kube/client.h"
#include "controller/runtime/store.h"
#include "controller/util/backoff.h"
#include "controller/util/clock.h"

namespace envop::runtime {

// ---- What the Reflector feeds in ----

// One LIST response, as the client returns it. `continueToken` is metadata.continue ("" on the
// last page, and on the only page when the apiserver served resourceVersion=0 from its watch
// cache and ignored `limit`).
using ListPage = kube::ListPage;
// One line of a WATCH stream: type is ADDED, MODIFIED, DELETED, BOOKMARK or ERROR (whose object
// is a Status).
struct WatchEvent {
  std::string type;
  nlohmann::json object;
};
// The WATCH stream closed cleanly (the server's timeoutSeconds elapsed).
struct WatchEnded {};
// The LIST or WATCH request failed: httpStatus is 0 for a network error; reason is the Status
// reason if the body had one ("Expired", "Gone", "TooManyRequests", ...).
struct Failed {
  int httpStatus = 0;
  std::string reason;
  std::string message;
};
// The Wait asked for has elapsed.
struct TimerFired {};
// Shutdown.
struct Stop {};
using WatchInput = std::variant<ListPage, WatchEvent, WatchEnded, Failed, TimerFired, Stop>;

// ---- What the Reflector is asked to do ----
// Any action but Idle replaces the current one: abandon the open request or timer first.

// GET ...?resourceVersion=R&limit=L&continue=C; an empty field is left out of the query.
struct StartList {
  std::string resourceVersion;
  int limit = 0;
  std::string continueToken;
};
// GET ...?watch=true&resourceVersion=R&allowWatchBookmarks=true&timeoutSeconds=T.
struct StartWatch {
  std::string resourceVersion;
  int timeoutSeconds = 0;
};
// Arm a timer, then feed TimerFired.
struct Wait {
  util::Duration duration{};
};
// Nothing new: keep reading the open stream, or keep waiting.
struct Idle {};
// Stopped for good; every later input answers Stopped.
struct Stopped {};
using WatchAction = std::variant<StartList, StartWatch, Wait, Idle, Stopped>;

struct WatchStep {
  WatchAction action;
  // Store changes made by this input, in order; hand them to the event handlers.
  Deltas deltas;
};

struct WatchMachineOptions {
  int pageSize = 500;
  std::chrono::seconds minWatchTimeout{300};
  std::chrono::seconds maxWatchTimeout{600};
  util::BackoffPolicy backoff{};
  // A stream that ends sooner than this without a single event counts as a failure (client-go's
  // "very short watch"), so a server that closes watches at once is not hammered in a loop.
  util::Duration shortWatch = std::chrono::seconds(1);
};

enum class WatchState { kNew, kListing, kWatching, kBackingOff, kStopped };

class WatchMachine final {
 public:
  explicit WatchMachine(StorePtr store, WatchMachineOptions options = {},
                        util::ClockPtr clock = util::steadyClock(),
                        util::UnitRandom random = util::randomUnitRandom());

  // The first action: the initial LIST. Idle if already started.
  WatchAction start();
  // Inputs that do not belong to the current state (a late event from an abandoned stream, a
  // stale timer) are ignored with Idle.
  WatchStep handle(WatchInput input);

  // True once the first complete list is in the store; stays true.
  bool hasSynced() const { return synced_; }
  // The last resourceVersion seen (list or watch event); "" before the first list and after a
  // 410.
  const std::string& resourceVersion() const { return resourceVersion_; }
  WatchState state() const { return state_; }
  const util::Backoff& backoff() const { return backoff_; }

 private:
  WatchStep onListPage(ListPage page);
  WatchStep onWatchEvent(WatchEvent event);
  WatchStep onWatchEnded();
  WatchStep onFailed(const Failed& failed);
  WatchStep onTimerFired();

  WatchAction list(std::string resourceVersion);
  WatchAction watch();
  WatchAction relistConsistent();
  WatchAction backOff();
  void advance(const nlohmann::json& object);

  StorePtr store_;
  WatchMachineOptions options_;
  util::ClockPtr clock_;
  std::shared_ptr<util::UnitRandom> random_;
  util::Backoff backoff_;

  WatchState state_ = WatchState::kNew;
  bool synced_ = false;
  std::string resourceVersion_;
  // Set by a 410 until a list succeeds: lists then ask etcd (""), not the watch cache ("0").
  bool resourceVersionExpired_ = false;

  // The list in progress: its first page's resourceVersion, the token of the page in flight and
  // the items so far (the store is replaced only by a complete list).
  std::string listResourceVersion_;
  std::string continueToken_;
  std::vector<nlohmann::json> listed_;

  // The watch in progress.
  util::TimePoint watchStarted_{};
  int watchEvents_ = 0;
};

}  // namespace envop::runtime
