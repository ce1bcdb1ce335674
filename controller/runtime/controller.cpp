#include "controller/runtime/controller.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <random>

#include "controller/util/metrics.h"

namespace envop::runtime {
namespace {

using prometheus::Counter;
using prometheus::Gauge;
using prometheus::Histogram;

// controller-runtime's metric names, so existing dashboards work unchanged.
struct ControllerMetrics {
  prometheus::Family<Counter>& total = prometheus::BuildCounter()
                                           .Name("controller_runtime_reconcile_total")
                                           .Help("Total number of reconciliations per controller")
                                           .Register(util::metricsRegistry());
  prometheus::Family<Counter>& errors =
      prometheus::BuildCounter()
          .Name("controller_runtime_reconcile_errors_total")
          .Help("Total number of reconciliation errors per controller")
          .Register(util::metricsRegistry());
  prometheus::Family<Histogram>& time =
      prometheus::BuildHistogram()
          .Name("controller_runtime_reconcile_time_seconds")
          .Help("Length of time per reconciliation per controller")
          .Register(util::metricsRegistry());
  prometheus::Family<Gauge>& active = prometheus::BuildGauge()
                                          .Name("controller_runtime_active_workers")
                                          .Help("Number of currently used workers per controller")
                                          .Register(util::metricsRegistry());
  prometheus::Family<Gauge>& max =
      prometheus::BuildGauge()
          .Name("controller_runtime_max_concurrent_reconciles")
          .Help("Maximum number of concurrent reconciles per controller")
          .Register(util::metricsRegistry());

  static ControllerMetrics& get() {
    static ControllerMetrics m;
    return m;
  }
};

const Histogram::BucketBoundaries& reconcileBuckets() {
  static const Histogram::BucketBoundaries b = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                1,     2.5,  5,     10,   15,  30,   60};
  return b;
}

struct QueueMetricFamilies {
  prometheus::Family<Gauge>& depth = prometheus::BuildGauge()
                                         .Name("workqueue_depth")
                                         .Help("Current depth of workqueue")
                                         .Register(util::metricsRegistry());
  prometheus::Family<Counter>& adds = prometheus::BuildCounter()
                                          .Name("workqueue_adds_total")
                                          .Help("Total number of adds handled by workqueue")
                                          .Register(util::metricsRegistry());
  prometheus::Family<Histogram>& queueDuration =
      prometheus::BuildHistogram()
          .Name("workqueue_queue_duration_seconds")
          .Help("How long in seconds an item stays in workqueue before being requested")
          .Register(util::metricsRegistry());
  prometheus::Family<Histogram>& workDuration =
      prometheus::BuildHistogram()
          .Name("workqueue_work_duration_seconds")
          .Help("How long in seconds processing an item from workqueue takes")
          .Register(util::metricsRegistry());
  prometheus::Family<Counter>& retries = prometheus::BuildCounter()
                                             .Name("workqueue_retries_total")
                                             .Help("Total number of retries handled by workqueue")
                                             .Register(util::metricsRegistry());

  // envop's own: what workqueue_depth leaves out, so a dashboard (or a test) can tell an idle
  // controller from one with a retry due.
  prometheus::Family<Gauge>& delayed = prometheus::BuildGauge()
                                           .Name("envop_workqueue_delayed_keys")
                                           .Help("Keys waiting out a backoff or a requeueAfter")
                                           .Register(util::metricsRegistry());
  prometheus::Family<Gauge>& nextDelayed =
      prometheus::BuildGauge()
          .Name("envop_workqueue_next_delayed_timestamp_seconds")
          .Help("When the earliest delayed key is due, in Unix seconds; 0 when none waits")
          .Register(util::metricsRegistry());

  static QueueMetricFamilies& get() {
    static QueueMetricFamilies f;
    return f;
  }
};

const Histogram::BucketBoundaries& queueBuckets() {
  // client-go's: 1e-8 s to 10 s, factor 10.
  static const Histogram::BucketBoundaries b = {1e-8, 1e-7, 1e-6, 1e-5, 1e-4,
                                                1e-3, 1e-2, 1e-1, 1,    10};
  return b;
}

class PrometheusQueueMetrics final : public WorkQueueMetrics {
 public:
  explicit PrometheusQueueMetrics(const std::string& name)
      : depth_(QueueMetricFamilies::get().depth.Add({{"name", name}})),
        adds_(QueueMetricFamilies::get().adds.Add({{"name", name}})),
        queueDuration_(
            QueueMetricFamilies::get().queueDuration.Add({{"name", name}}, queueBuckets())),
        workDuration_(
            QueueMetricFamilies::get().workDuration.Add({{"name", name}}, queueBuckets())),
        retries_(QueueMetricFamilies::get().retries.Add({{"name", name}})),
        delayed_(QueueMetricFamilies::get().delayed.Add({{"name", name}})),
        nextDelayed_(QueueMetricFamilies::get().nextDelayed.Add({{"name", name}})) {}
  void onDepth(std::size_t depth) noexcept override { depth_.Set(static_cast<double>(depth)); }
  void onAdd() noexcept override { adds_.Increment(); }
  void onQueueDuration(double seconds) noexcept override { queueDuration_.Observe(seconds); }
  void onWorkDuration(double seconds) noexcept override { workDuration_.Observe(seconds); }
  void onRetry() noexcept override { retries_.Increment(); }
  void onDelayed(std::size_t keys, std::optional<util::TimePoint> earliest,
                 util::TimePoint now) noexcept override {
    delayed_.Set(static_cast<double>(keys));
    if (!earliest) {
      nextDelayed_.Set(0);
      return;
    }
    // The queue's clock is monotonic; the gauge is wall-clock time, as Prometheus compares it.
    const auto due = std::chrono::system_clock::now() + (*earliest - now);
    nextDelayed_.Set(std::chrono::duration<double>(due.time_since_epoch()).count());
  }

 private:
  Gauge& depth_;
  Counter& adds_;
  Histogram& queueDuration_;
  Histogram& workDuration_;
  Counter& retries_;
  Gauge& delayed_;
  Gauge& nextDelayed_;
};

}  // namespace

std::string newReconcileId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

namespace {

// The object as a reconciler sees it: without status and the bookkeeping every write changes.
Object withoutStatus(const Object& object) {
  Object copy = object;
  copy.erase("status");
  if (auto md = copy.find("metadata"); md != copy.end() && md->is_object()) {
    md->erase("resourceVersion");
    md->erase("managedFields");
  }
  return copy;
}

bool hasGeneration(const Object& object) {
  const auto md = object.find("metadata");
  return md != object.end() && md->is_object() && md->contains("generation");
}

// A full object carries more than apiVersion, kind, metadata and status (spec, data, ...).
bool hasBody(const Object& object) {
  for (const auto& [field, value] : object.items()) {
    if (field != "apiVersion" && field != "kind" && field != "metadata" && field != "status") {
      return true;
    }
  }
  return false;
}

}  // namespace

bool isMaterialChange(const Delta& delta) {
  if (delta.type != Delta::Type::kUpdated || !delta.object || !delta.oldObject) return true;
  const Object& now = *delta.object;
  const Object& before = *delta.oldObject;
  const std::string rv = resourceVersionOf(now);
  if (!rv.empty() && rv == resourceVersionOf(before)) return false;  // a resync
  if (withoutStatus(now) != withoutStatus(before)) return true;
  // Only status moved, as far as this cache can see: with a generation the apiserver would have
  // bumped it for a spec change; without one, a metadata-only copy cannot see the data at all.
  return !hasGeneration(now) && !hasBody(now) && !hasBody(before);
}

KeyMapper byLabel(std::string label) {
  return [label = std::move(label)](const Delta& delta) -> std::vector<std::string> {
    std::vector<std::string> keys;
    for (const ObjectPtr& object : {delta.object, delta.oldObject}) {
      if (!object) continue;
      std::string key = labelOf(*object, label);
      if (!key.empty() && (keys.empty() || keys.front() != key)) keys.push_back(std::move(key));
    }
    return keys;
  };
}

Controller::Controller(std::string name, std::shared_ptr<Reconciler> reconciler, int workers,
                       util::ClockPtr clock)
    : name_(std::move(name)),
      reconciler_(std::move(reconciler)),
      workers_(workers),
      queue_(std::make_unique<WorkQueue>(clock, nullptr,
                                         std::make_shared<PrometheusQueueMetrics>(name_))) {
  auto& m = ControllerMetrics::get();
  // Every label set exists from the start, so rate() works from the first scrape.
  for (const char* result : {"success", "error", "requeue", "requeue_after"}) {
    m.total.Add({{"controller", name_}, {"result", result}});
  }
  m.errors.Add({{"controller", name_}});
  m.time.Add({{"controller", name_}}, reconcileBuckets());
  m.active.Add({{"controller", name_}}).Set(0);
  m.max.Add({{"controller", name_}}).Set(workers_);
}

Controller::~Controller() { stop(std::chrono::seconds(0)); }

void Controller::watchPrimary(Informer& informer) {
  informer.addHandler([this](const Delta& delta) { enqueue(delta, {delta.key}); });
}

void Controller::watchSecondary(Informer& informer, KeyMapper mapper) {
  informer.addHandler(
      [this, mapper = std::move(mapper)](const Delta& delta) { enqueue(delta, mapper(delta)); });
}

void Controller::enqueue(const Delta& delta, const std::vector<std::string>& keys) {
  if (keys.empty()) return;
  const bool material = isMaterialChange(delta);
  for (const std::string& key : keys) {
    if (material) {
      queue_->add(key);
    } else {
      queue_->addUnlessBackingOff(key);
    }
  }
}

void Controller::start() {
  if (started_.exchange(true)) return;
  for (int i = 0; i < workers_; ++i) threads_.emplace_back([this] { work(); });
}

void Controller::stop(util::Duration drain) {
  if (threads_.empty()) return;
  // Give reconciles in flight up to `drain` to finish, then stop handing out keys.
  auto drained = std::async(std::launch::async, [this] { queue_->shutDownWithDrain(); });
  if (drained.wait_for(drain) != std::future_status::ready) {
    spdlog::warn("controller {}: reconciles still running after the drain period", name_);
  }
  queue_->shutDown();
  drained.wait();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void Controller::work() {
  while (auto key = queue_->get()) {
    if (queue_->shuttingDown()) {
      // A stopping controller finishes what is in flight, not what is queued.
      queue_->done(*key);
      continue;
    }
    process(*key);
    queue_->done(*key);
  }
}

void Controller::process(const std::string& key) {
  auto& m = ControllerMetrics::get();
  auto& active = m.active.Add({{"controller", name_}});
  active.Increment();
  const ReconcileRequest request{key, newReconcileId()};
  const auto start = std::chrono::steady_clock::now();
  ReconcileResult result;
  try {
    result = reconciler_->reconcile(request);
  } catch (const std::exception& e) {
    result = ReconcileResult::failed(std::string("reconcile threw: ") + e.what());
  } catch (...) {
    result = ReconcileResult::failed("reconcile threw a non-standard exception");
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.time.Add({{"controller", name_}}, reconcileBuckets()).Observe(seconds);
  active.Decrement();

  const char* outcome = "success";
  if (!result.error.empty()) {
    m.errors.Add({{"controller", name_}}).Increment();
    outcome = "error";
    if (result.terminal) {
      spdlog::error("controller={} object={} reconcileID={} terminal error, not retried: {}", name_,
                    key, request.reconcileId, result.error);
      queue_->forget(key);
    } else {
      spdlog::warn("controller={} object={} reconcileID={} reconcile failed, will retry: {}", name_,
                   key, request.reconcileId, result.error);
      queue_->addRateLimited(key);
      // The earlier of the two delays wins.
      if (result.requeueAfter > util::Duration::zero()) queue_->addAfter(key, result.requeueAfter);
    }
  } else if (result.requeueAfter > util::Duration::zero()) {
    outcome = "requeue_after";
    queue_->forget(key);
    queue_->addAfter(key, result.requeueAfter);
  } else {
    queue_->forget(key);
  }
  m.total.Add({{"controller", name_}, {"result", outcome}}).Increment();
}

}  // namespace envop::runtime
