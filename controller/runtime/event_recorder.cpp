#include "controller/runtime/event_recorder.h"

#include <prometheus/counter.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <random>

#include "controller/util/metrics.h"

namespace envop::runtime {
namespace {

// Field limits of events.k8s.io/v1 validation.
constexpr std::size_t kMaxReasonOrAction = 128;
constexpr std::size_t kMaxInstance = 128;
constexpr std::size_t kMaxName = 253;
constexpr std::size_t kSuffixLength = 17;  // ".<16 hex>"
constexpr auto kSweepInterval = std::chrono::seconds(30);

// Every label set is created at zero, so dashboards see the series before the first drop.
struct Metrics {
  Metrics() {
    for (const char* reason : {"queue_full", "invalid", "stopped", "deadline"}) {
      dropped.Add({{"reason", reason}});
    }
    for (const char* verb : {"create", "patch"}) {
      for (const char* result : {"success", "error"})
        writes.Add({{"verb", verb}, {"result", result}});
    }
  }
  prometheus::Family<prometheus::Counter>& dropped =
      prometheus::BuildCounter()
          .Name("envop_events_dropped_total")
          .Help("Events not written: queue full, invalid, recorder stopped, stop deadline.")
          .Register(util::metricsRegistry());
  // What a dashboard (or a test waiting for an idle controller) needs to tell "nothing more is
  // coming" from "a coalesced repeat is still due".
  prometheus::Gauge& pending =
      prometheus::BuildGauge()
          .Name("envop_events_pending")
          .Help("Events recorded and not yet written: queued, coalesced or in flight.")
          .Register(util::metricsRegistry())
          .Add({});
  prometheus::Family<prometheus::Counter>& writes =
      prometheus::BuildCounter()
          .Name("envop_event_writes_total")
          .Help("Event writes to the API server, by verb and result.")
          .Register(util::metricsRegistry());
};

Metrics& metrics() {
  static Metrics m;
  return m;
}

std::string stringAt(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string defaultInstance(const std::string& controller) {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) return controller;
  return controller + "-" + host;
}

// The message of the exception being handled, for a log line.
std::string currentError() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "non-standard exception";
  }
}

}  // namespace

EventRegarding regardingOf(const Json& object) {
  EventRegarding r{.apiVersion = stringAt(object, "apiVersion"), .kind = stringAt(object, "kind")};
  if (object.is_object() && object.contains("metadata")) {
    const Json& md = object["metadata"];
    r.name = stringAt(md, "name");
    r.ns = stringAt(md, "namespace");
    r.uid = stringAt(md, "uid");
    r.resourceVersion = stringAt(md, "resourceVersion");
  }
  return r;
}

std::string invalidReason(const EventOccurrence& o) {
  if (o.type != "Normal" && o.type != "Warning") return "type must be Normal or Warning";
  if (o.reason.empty() || o.reason.size() > kMaxReasonOrAction) return "reason: 1-128 characters";
  if (o.action.empty() || o.action.size() > kMaxReasonOrAction) return "action: 1-128 characters";
  if (o.regarding.kind.empty() || o.regarding.name.empty()) return "regarding needs kind and name";
  return "";
}

std::string normalizeNote(const std::string& note) {
  // nlohmann's dump throws on invalid UTF-8; replacing it here keeps the writer's JSON valid.
  std::string text = Json::parse(Json(note).dump(-1, ' ', false, Json::error_handler_t::replace))
                         .get<std::string>();
  if (text.size() <= kMaxNoteBytes) return text;
  std::size_t cut = kMaxNoteBytes;
  // Back up over continuation bytes (10xxxxxx) so a multi-byte character is not split.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text;
}

EventAggregator::EventAggregator(std::string reportingController, std::string reportingInstance,
                                 util::ClockPtr clock, WallTime wallAtStart, RandomSource random)
    : reportingController_(std::move(reportingController)),
      reportingInstance_(std::move(reportingInstance)),
      clock_(std::move(clock)),
      clockAtStart_(clock_->now()),
      wallAtStart_(wallAtStart),
      random_(std::move(random)),
      lastSweep_(clockAtStart_) {
  if (!random_) {
    random_ = [engine = std::mt19937_64(std::random_device{}())]() mutable { return engine(); };
  }
}

std::string EventAggregator::wallNow() const {
  return util::formatMicroTime(
      wallAtStart_ + std::chrono::duration_cast<WallTime::duration>(clock_->now() - clockAtStart_));
}

std::string EventAggregator::eventName(const std::string& regardingName) {
  // The name must stay a DNS subdomain: short enough for the suffix, ending alphanumeric.
  std::string prefix = regardingName.substr(0, kMaxName - kSuffixLength);
  while (!prefix.empty() && !std::isalnum(static_cast<unsigned char>(prefix.back())))
    prefix.pop_back();
  char suffix[kSuffixLength + 1];
  std::snprintf(suffix, sizeof(suffix), ".%016llx", static_cast<unsigned long long>(random_()));
  return (prefix.empty() ? std::string("event") : prefix) + suffix;
}

std::optional<EventWrite> EventAggregator::observe(const EventOccurrence& occurrence) {
  if (!invalidReason(occurrence).empty()) return std::nullopt;
  const std::string note = normalizeNote(occurrence.note);
  const EventRegarding& r = occurrence.regarding;
  Key key{r.uid, r.kind, r.name, r.ns, occurrence.type, occurrence.reason, occurrence.action, note};
  const util::TimePoint now = clock_->now();
  sweep(false);

  auto it = series_.find(key);
  if (it != series_.end() && now - it->second.lastObserved < kSeriesExpiry) {
    Series& s = it->second;
    ++s.count;
    s.lastObserved = now;
    s.lastObservedWall = wallNow();
    if (!s.pending && now - s.lastWrite >= kSeriesWriteInterval) return patchOf(s);
    s.pending = true;  // written by takeDue once the interval has passed
    return std::nullopt;
  }
  // First occurrence, or a repeat after the series expired: a new Event.
  if (it != series_.end()) series_.erase(it);
  if (series_.size() >= kMaxSeries) sweep(true);
  if (series_.size() >= kMaxSeries) {  // still full: forget the least recently observed
    series_.erase(std::min_element(series_.begin(), series_.end(), [](auto& a, auto& b) {
      return a.second.lastObserved < b.second.lastObserved;
    }));
  }
  Json regarding = Json::object();
  for (const auto& [field, value] : {std::pair{"apiVersion", &r.apiVersion},
                                     {"kind", &r.kind},
                                     {"name", &r.name},
                                     {"namespace", &r.ns},
                                     {"uid", &r.uid},
                                     {"resourceVersion", &r.resourceVersion}}) {
    if (!value->empty()) regarding[field] = *value;
  }
  // client-go puts Events about cluster-scoped objects in "default".
  const std::string ns = r.ns.empty() ? "default" : r.ns;
  Series s;
  s.event = {{"apiVersion", "events.k8s.io/v1"},
             {"kind", "Event"},
             {"metadata", {{"name", eventName(r.name)}, {"namespace", ns}}},
             {"eventTime", wallNow()},
             {"reportingController", reportingController_},
             {"reportingInstance", reportingInstance_},
             {"action", occurrence.action},
             {"reason", occurrence.reason},
             {"type", occurrence.type},
             {"note", note},
             {"regarding", std::move(regarding)}};
  s.lastObserved = now;
  s.lastWrite = now;
  EventWrite write{EventWrite::Verb::kCreate, ns, s.event["metadata"]["name"], s.event, s.event};
  series_.emplace(std::move(key), std::move(s));
  return write;
}

EventWrite EventAggregator::patchOf(Series& s) {
  s.pending = false;
  s.lastWrite = clock_->now();
  Json patch = {{"series", {{"count", s.count}, {"lastObservedTime", s.lastObservedWall}}}};
  Json event = s.event;
  event["series"] = patch["series"];
  const Json& md = s.event["metadata"];
  return {EventWrite::Verb::kPatchSeries, md["namespace"], md["name"], patch, std::move(event)};
}

std::vector<EventWrite> EventAggregator::takePending(bool all) {
  std::vector<EventWrite> writes;
  const util::TimePoint now = clock_->now();
  for (auto& [key, s] : series_) {
    if (s.pending && (all || now - s.lastWrite >= kSeriesWriteInterval)) {
      writes.push_back(patchOf(s));
    }
  }
  return writes;
}

std::optional<util::TimePoint> EventAggregator::nextDue() const {
  std::optional<util::TimePoint> due;
  for (const auto& [key, s] : series_) {
    if (s.pending && (!due || s.lastWrite + kSeriesWriteInterval < *due)) {
      due = s.lastWrite + kSeriesWriteInterval;
    }
  }
  return due;
}

void EventAggregator::forget(const std::string& ns, const std::string& eventName) {
  std::erase_if(series_, [&](const auto& e) {
    const Json& md = e.second.event["metadata"];
    return md["name"] == eventName && md["namespace"] == ns;
  });
}

void EventAggregator::sweep(bool force) {
  // Expired series are dropped lazily, at most every kSweepInterval, to keep the map bounded
  // by the event rate of the last few minutes without scanning it on every occurrence.
  const util::TimePoint now = clock_->now();
  if (!force && now - lastSweep_ < kSweepInterval) return;
  lastSweep_ = now;
  std::erase_if(series_, [&](const auto& e) {
    return !e.second.pending && now - e.second.lastObserved >= kSeriesExpiry;
  });
}

EventRecorder::EventRecorder(kube::ClientPtr client, std::string reportingController,
                             std::string reportingInstance, util::ClockPtr clock,
                             EventRecorderOptions options)
    : client_(std::move(client)),
      clock_(std::move(clock)),
      options_(options),
      aggregator_(
          reportingController,
          (reportingInstance.empty() ? defaultInstance(reportingController) : reportingInstance)
              .substr(0, kMaxInstance),
          clock_) {
  metrics();
  thread_ = std::thread([this] { run(); });
}

void EventRecorder::drop(const char* reason, std::uint64_t n) {
  if (n == 0) return;
  // Logged once per hundred so that a flood of drops does not become a flood of log lines.
  if (dropped_ / 100 != (dropped_ + n) / 100 || dropped_ == 0) {
    spdlog::warn("event recorder: dropping events ({}), {} dropped so far", reason, dropped_ + n);
  }
  dropped_ += n;  // under mutex_
  metrics().dropped.Add({{"reason", reason}}).Increment(static_cast<double>(n));
}

void EventRecorder::record(const Json& regarding, std::string type, std::string reason,
                           std::string action, std::string note) noexcept {
  try {
    EventOccurrence o{regardingOf(regarding), std::move(type), std::move(reason), std::move(action),
                      std::move(note)};
    const std::string invalid = invalidReason(o);
    std::lock_guard lock(mutex_);
    if (!invalid.empty()) {
      spdlog::warn("event recorder: dropping an invalid event about {} {}: {}", o.regarding.kind,
                   o.regarding.name, invalid);
      return drop("invalid");
    }
    if (stopping_) return drop("stopped");
    // Never block a reconcile on the API server: losing an event is the lesser harm.
    if (queue_.size() >= options_.queueCapacity) return drop("queue_full");
    queue_.push_back(std::move(o));
    reportPending(0);
    wake_.notify_one();
  } catch (...) {  // bad_alloc, or a logger failure: the caller must not see it
  }
}

bool EventRecorder::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  wake_.notify_one();  // the writer re-reads the clock: a FakeClock may have moved
  const auto written = [this] { return queue_.empty() && !aggregator_.hasPending(); };
  return idle_.wait_for(lock, timeout, [&] { return finished_ || (written() && !inFlight_); }) &&
         written();
}

void EventRecorder::stop(std::chrono::milliseconds deadline) {
  std::lock_guard joinLock(joinMutex_);
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) stopDeadline_ = std::chrono::steady_clock::now() + deadline;
    stopping_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void EventRecorder::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    try {
      std::vector<EventWrite> writes;
      if (stopping_ && std::chrono::steady_clock::now() >= stopDeadline_) {
        drop("deadline", queue_.size() + aggregator_.takeAllPending().size());
        queue_.clear();
        break;
      }
      if (!queue_.empty()) {
        EventOccurrence o = std::move(queue_.front());
        queue_.pop_front();
        if (auto w = aggregator_.observe(o)) writes.push_back(std::move(*w));
        for (auto& w : aggregator_.takeDue()) writes.push_back(std::move(w));
      } else {
        writes = stopping_ ? aggregator_.takeAllPending() : aggregator_.takeDue();
        if (writes.empty()) {
          if (stopping_) break;
          idle_.notify_all();
          // Wake for a coalesced repeat when it falls due; re-check at least every second so
          // that a clock that is not steady time (a FakeClock) is noticed too.
          const auto due = aggregator_.nextDue();
          const util::Duration wait = due ? *due - clock_->now() : std::chrono::seconds(1);
          wake_.wait_for(lock, std::clamp<util::Duration>(wait, std::chrono::milliseconds(1),
                                                          std::chrono::seconds(1)));
          continue;
        }
      }
      inFlight_ = true;
      reportPending(writes.size());
      lock.unlock();
      std::erase_if(writes, [this](const EventWrite& w) { return send(w); });  // keeps failures
      lock.lock();
      inFlight_ = false;
      failedWrites_ += writes.size();
      for (const EventWrite& w : writes) aggregator_.forget(w.ns, w.name);
      reportPending(0);
    } catch (...) {
      if (!lock.owns_lock()) lock.lock();
      inFlight_ = false;
      spdlog::error("event recorder: unexpected error: {}", currentError());
    }
  }
  finished_ = true;
  reportPending(0);
  idle_.notify_all();
}

void EventRecorder::reportPending(std::size_t inFlight) {
  metrics().pending.Set(static_cast<double>(queue_.size() + aggregator_.pendingCount() + inFlight));
}

bool EventRecorder::send(const EventWrite& write) {
  const bool create = write.verb == EventWrite::Verb::kCreate;
  const char* verb = create ? "create" : "patch";
  std::string error;
  try {
    for (int attempt = 1; attempt <= std::max(1, options_.maxAttempts); ++attempt) {
      auto result = create ? client_->create(kube::resources::events(), write.body)
                           : client_->patch(kube::resources::events(), write.ns, write.name,
                                            kube::PatchType::kMerge, write.body);
      if (!result && !create && result.error().isNotFound()) {
        // The Event expired (1 h TTL) or was deleted mid-series: create it with its series.
        result = client_->create(kube::resources::events(), write.event);
      }
      if (result) {
        metrics().writes.Add({{"verb", verb}, {"result", "success"}}).Increment();
        return true;
      }
      error = result.error().describe();
      if (!result.error().isRetryable()) break;
      // Back off, but give up at once when stop() is waiting for us.
      std::unique_lock lock(mutex_);
      const auto backoff = std::chrono::milliseconds(200) * attempt;
      if (wake_.wait_for(lock, backoff, [this] { return stopping_; })) break;
    }
  } catch (...) {
    error = currentError();
  }
  metrics().writes.Add({{"verb", verb}, {"result", "error"}}).Increment();
  spdlog::warn("event recorder: {} of Event {}/{} failed: {}", verb, write.ns, write.name, error);
  return false;
}

}  // namespace envop::runtime
