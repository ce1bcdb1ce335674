// EventRecorder writes events.k8s.io/v1 Events about the objects envop manages, the way
// client-go's tools/events does: the first occurrence of an event creates an Event
// (`<regarding name>.<16 hex>`, eventTime in RFC3339 with microseconds, in the regarding object's
// namespace or "default" for a cluster-scoped object); a repeat within 6 minutes bumps that
// Event's `series` {count, lastObservedTime} with a merge patch instead of creating another; after
// 6 minutes of silence a repeat starts a new Event. Repeats of one event less than 1 s apart are
// coalesced into a single patch, so a hot reconcile loop cannot flood the API server.
//
// EventAggregator is that logic, pure and single-threaded, reading time from an injected clock so
// that tests drive it with a FakeClock. EventRecorder is the layer reconcilers call: record()
// never blocks (occurrences go to a bounded queue; when it is full the event is dropped and
// envop_events_dropped_total counts it), one background thread aggregates and writes, and no
// exception escapes it. Events are best effort: a failed write is logged and counted, not retried
// by the reconcile.
//
// A note is shown to anyone who can read Events in the namespace: callers must never put a
// secret, token, password or credential-bearing URL in it. The recorder does not scrub notes.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "controller/kube/client.h"
#include "controller/util/clock.h"
#include "controller/util/wall_time.h"

namespace envop::runtime {

using Json = nlohmann::json;
using util::WallTime;

inline constexpr const char* kDefaultReportingController = "envop.io/envop-controller";
// The API server rejects a longer note (events.k8s.io/v1 validation: at most 1 kB).
inline constexpr std::size_t kMaxNoteBytes = 1024;
// client-go's series window: a repeat after this much silence starts a new Event.
inline constexpr util::Duration kSeriesExpiry = std::chrono::minutes(6);
// At most one write per event per this interval; repeats in between are coalesced.
inline constexpr util::Duration kSeriesWriteInterval = std::chrono::seconds(1);
// Series remembered at once; beyond it the least recently observed is forgotten.
inline constexpr std::size_t kMaxSeries = 4096;

// The object an Event is about, as `regarding` names it.
struct EventRegarding {
  std::string apiVersion;
  std::string kind;
  std::string name;
  std::string ns;  // empty for a cluster-scoped object
  std::string uid;
  std::string resourceVersion;
};

// Reads apiVersion, kind and metadata.{name,namespace,uid,resourceVersion}; never throws
// (a field that is absent or not a string reads as "").
EventRegarding regardingOf(const Json& object);

// One call to record(), before aggregation.
struct EventOccurrence {
  EventRegarding regarding;
  std::string type;  // Normal | Warning
  std::string reason;
  std::string action;
  std::string note;
};

// Why the API server would refuse this occurrence ("" when it would not): an unknown type, an
// empty or over-long reason or action, a regarding object without kind or name.
std::string invalidReason(const EventOccurrence& occurrence);

// The note as it will be written: invalid UTF-8 replaced (it could not be serialised) and cut
// to kMaxNoteBytes at a character boundary.
std::string normalizeNote(const std::string& note);

// A write the recorder must send.
struct EventWrite {
  enum class Verb { kCreate, kPatchSeries };
  Verb verb = Verb::kCreate;
  std::string ns;
  std::string name;
  Json body;   // create: the Event; patch: the merge patch {"series": {...}}
  Json event;  // the whole Event as it now stands: created instead when a patch finds it gone
};

class EventAggregator final {
 public:
  using RandomSource = std::function<std::uint64_t()>;

  // The wall clock is derived from `clock` (wallAtStart is the wall time at construction), so a
  // FakeClock makes eventTime and lastObservedTime deterministic. A null random source means a
  // std::mt19937_64 seeded from std::random_device (the 16-hex-digit name suffix).
  EventAggregator(std::string reportingController, std::string reportingInstance,
                  util::ClockPtr clock, WallTime wallAtStart = std::chrono::system_clock::now(),
                  RandomSource random = nullptr);

  // An occurrence; the write to send now, or nullopt when it was coalesced into a later patch
  // (see takeDue) or is invalid (check invalidReason first to tell them apart).
  std::optional<EventWrite> observe(const EventOccurrence& occurrence);
  // Patches for coalesced repeats whose write interval has passed.
  std::vector<EventWrite> takeDue() {
    auto writes = takePending(false);
    sweep(false);
    return writes;
  }
  // Patches for every coalesced repeat, due or not: on shutdown, so no count is lost.
  std::vector<EventWrite> takeAllPending() { return takePending(true); }
  // When the earliest coalesced repeat becomes due; nullopt when none waits.
  std::optional<util::TimePoint> nextDue() const;
  bool hasPending() const {
    return std::any_of(series_.begin(), series_.end(), [](auto& e) { return e.second.pending; });
  }
  // Series with observed repeats not yet written.
  std::size_t pendingCount() const {
    return static_cast<std::size_t>(
        std::count_if(series_.begin(), series_.end(), [](auto& e) { return e.second.pending; }));
  }
  // A write of this Event failed for good: forget its series so the next repeat creates anew.
  void forget(const std::string& ns, const std::string& eventName);
  // Series currently remembered.
  std::size_t size() const { return series_.size(); }

 private:
  // (regarding uid, kind, name, namespace, type, reason, action, note)
  using Key = std::tuple<std::string, std::string, std::string, std::string, std::string,
                         std::string, std::string, std::string>;
  struct Series {
    Json event;  // as created, without series
    std::int64_t count = 1;
    util::TimePoint lastObserved;
    std::string lastObservedWall;
    util::TimePoint lastWrite;
    bool pending = false;  // observed repeats not yet written
  };

  std::string wallNow() const;
  std::string eventName(const std::string& regardingName);
  EventWrite patchOf(Series& series);
  std::vector<EventWrite> takePending(bool all);
  void sweep(bool force);

  std::string reportingController_;
  std::string reportingInstance_;
  util::ClockPtr clock_;
  util::TimePoint clockAtStart_;
  WallTime wallAtStart_;
  RandomSource random_;
  std::map<Key, Series> series_;
  util::TimePoint lastSweep_;
};

struct EventRecorderOptions {
  // Occurrences waiting for the writer thread; client-go's broadcaster holds 1000.
  std::size_t queueCapacity = 1000;
  // Attempts per write when the API server answers with a retryable error.
  int maxAttempts = 3;
};

class EventRecorder final {
 public:
  // An empty reportingInstance means "<reportingController>-<hostname>", as client-go does.
  // The background thread starts here.
  explicit EventRecorder(kube::ClientPtr client,
                         std::string reportingController = kDefaultReportingController,
                         std::string reportingInstance = "",
                         util::ClockPtr clock = util::steadyClock(),
                         EventRecorderOptions options = {});
  ~EventRecorder() { stop(); }
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  // Queues an event about `regarding` (apiVersion, kind, metadata.name/namespace/uid/
  // resourceVersion). Never blocks on the API server and never throws: when the queue is full,
  // the recorder is stopped or the event is invalid, it is dropped and counted. `type` is
  // Normal or Warning, `reason` UpperCamelCase, `action` what envop did (Reconcile, Apply,
  // Delete, ...), `note` a message for humans, cut to 1 KiB. Never put a secret in a note.
  void record(const Json& regarding, std::string type, std::string reason, std::string action,
              std::string note) noexcept;

  // Waits until everything recorded so far is written (coalesced repeats included, which may
  // take up to kSeriesWriteInterval); false when the timeout passed first.
  bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Refuses new events, writes what is queued and coalesced until the deadline (the rest is
  // dropped and counted), then joins the thread. A write already in flight is not interrupted,
  // so the join can outlast the deadline by one request's timeout. Idempotent.
  void stop(std::chrono::milliseconds deadline = std::chrono::seconds(5));

  // Occurrences dropped (queue full, invalid, stopped, past the stop deadline).
  std::uint64_t dropped() const {
    std::lock_guard lock(mutex_);
    return dropped_;
  }
  // Writes that failed after their attempts.
  std::uint64_t failedWrites() const {
    std::lock_guard lock(mutex_);
    return failedWrites_;
  }

 private:
  void run();
  // Sends one write; false when it failed for good. Never throws.
  bool send(const EventWrite& write);
  void drop(const char* reason, std::uint64_t n = 1);
  // envop_events_pending: recorded and not yet written (queued, coalesced, in flight). Under
  // mutex_.
  void reportPending(std::size_t inFlight);

  kube::ClientPtr client_;
  util::ClockPtr clock_;
  EventRecorderOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;  // the writer: an occurrence, a flush or stop
  std::condition_variable idle_;  // flush(): the writer finished a round
  EventAggregator aggregator_;
  std::deque<EventOccurrence> queue_;
  bool inFlight_ = false;
  bool stopping_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point stopDeadline_;
  std::uint64_t dropped_ = 0;
  std::uint64_t failedWrites_ = 0;
  std::mutex joinMutex_;
  std::thread thread_;
};

}  // namespace envop::runtime
