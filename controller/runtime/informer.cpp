#include "controller/runtime/informer.h"

#include <prometheus/counter.h>
#include <spdlog/spdlog.h>

#include <type_traits>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "controller/util/metrics.h"

namespace envop::runtime {
namespace {

prometheus::Family<prometheus::Counter>& exceptionsTotal() {
  static auto& family = prometheus::BuildCounter()
                            .Name("envop_informer_exceptions_total")
                            .Help(
                                "Exceptions caught at an informer thread's boundary (each one "
                                "backs the informer off and resumes it), by resource.")
                            .Register(util::metricsRegistry());
  return family;
}

std::string stringField(const kube::Json& object, const char* field) {
  const auto it = object.find(field);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

double informerExceptions(const std::string& plural) {
  return exceptionsTotal().Add({{"resource", plural}}).Value();
}

Informer::Informer(kube::ClientPtr client, InformerOptions options)
    : client_(std::move(client)),
      options_(std::move(options)),
      store_(std::make_shared<Store>(options_.indexLabel)),
      machine_(store_, options_.watch) {}

Informer::~Informer() { stop(); }

void Informer::addHandler(Handler handler) { handlers_.push_back(std::move(handler)); }

void Informer::start() {
  started_.store(true);
  thread_ = std::thread([this] { run(); });
  if (options_.resyncPeriod > util::Duration::zero()) {
    resyncThread_ = std::thread([this] { resyncLoop(); });
  }
}

void Informer::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_.exchange(true)) {
      // Already stopping; still join below if a first caller has not yet.
    }
  }
  wake_.notify_all();
  cancel_.cancel();
  if (thread_.joinable()) thread_.join();
  if (resyncThread_.joinable()) resyncThread_.join();
}

void Informer::recheckNamespace(const std::string& ns) {
  if (!started_.load()) return;
  // A list (and the watch restart it needs) only when it can find something: an object of ns
  // was refused since the last recheck, or a cached one is refused now. A namespace envop has
  // just made usually has neither, and 1,000 of them made as many lists and watch restarts of
  // every informer that keeps by namespace. admit() and keepStill() close the races with the
  // watch thread (see there).
  bool needed = false;
  {
    std::lock_guard lock(mu_);
    needed = refused_.erase(ns) > 0;
  }
  if (!needed && options_.keep) {
    for (const ObjectPtr& object : store_->listNamespace(ns)) {
      if (!options_.keep(*object)) {
        needed = true;
        break;
      }
    }
  }
  if (!needed) return;
  std::lock_guard lock(mu_);
  pendingRechecks_.insert(ns);
  if (openWatch_ != nullptr) openWatch_->cancel();
}

bool Informer::admit(kube::Json& object) {
  if (options_.transform) options_.transform(object);
  if (!options_.keep) return true;
  if (options_.keep(object)) return true;
  // Remembered before keep is asked again: a recheckNamespace() that looks after this sees the
  // namespace and lists it; one that looked before ran after its namespace changed, so the
  // second answer already reflects that change.
  {
    std::lock_guard lock(mu_);
    refused_.insert(kube::namespaceOf(object));
  }
  return options_.keep(object);
}

void Informer::keepStill(const std::string& key) {
  // The object was admitted and stored; if keep refuses it now, its namespace changed in
  // between, and a recheckNamespace() may have looked at the store before the object was in
  // it: take it out here instead.
  if (!options_.keep) return;
  const ObjectPtr stored = store_->get(key);
  if (stored == nullptr || options_.keep(*stored)) return;
  if (auto delta = store_->remove(*stored)) dispatch({std::move(*delta)});
}

bool Informer::runRechecks(Failed& failed) {
  std::set<std::string> namespaces;
  {
    std::lock_guard lock(mu_);
    namespaces.swap(pendingRechecks_);
  }
  auto ns = namespaces.begin();
  // What was not done is tried again after the backoff (after a failed list, or an exception
  // on its way to run()'s boundary).
  auto keepTheRest = [&] {
    std::lock_guard lock(mu_);
    pendingRechecks_.insert(ns, namespaces.end());
  };
  try {
    for (; ns != namespaces.end(); ++ns) {
      Deltas deltas;
      // What keep refuses now goes, as if deleted (the store is small: only what is kept).
      for (const ObjectPtr& object : store_->listNamespace(*ns)) {
        if (options_.keep && !options_.keep(*object)) {
          if (auto delta = store_->remove(*object)) deltas.push_back(std::move(*delta));
        }
      }
      // What keep accepts now comes, from a consistent read (resourceVersion left out), so it is
      // at least as new as the watch's position; the watch then resumes from that position and
      // replays every later change on top.
      kube::ListOptions opts{.labelSelector = options_.labelSelector,
                             .fieldSelector = options_.fieldSelector,
                             .limit = options_.watch.pageSize,
                             .metadataOnly = options_.metadataOnly};
      do {
        auto page = client_->listPage(options_.resource, *ns, opts);
        if (!page) {
          dispatch(deltas);
          keepTheRest();
          const kube::ApiError& e = page.error();
          failed = Failed{e.httpStatus, e.reason, e.describe()};
          return false;
        }
        for (kube::Json& item : page.value().items) {
          if (!admit(item)) continue;
          const auto key = objectKey(item);
          const ObjectPtr cached = key ? store_->get(*key) : nullptr;
          if (cached && resourceVersionOf(*cached) == resourceVersionOf(item)) continue;
          if (auto delta = store_->upsert(std::move(item))) deltas.push_back(std::move(*delta));
        }
        opts.continueToken = page.value().continueToken;
      } while (!opts.continueToken.empty() && !stopping_.load());
      dispatch(deltas);
      for (const Delta& delta : deltas) {
        if (delta.type != Delta::Type::kDeleted) keepStill(delta.key);
      }
    }
  } catch (...) {
    keepTheRest();
    throw;
  }
  return true;
}

bool Informer::waitFor(util::Duration d) {
  std::unique_lock lock(mu_);
  return !wake_.wait_for(lock, d, [this] { return stopping_.load(); });
}

void Informer::dispatch(const Deltas& deltas) {
  for (const Delta& delta : deltas) {
    for (const Handler& handler : handlers_) {
      try {
        handler(delta);
      } catch (const std::exception& e) {
        spdlog::error("informer {}: a handler failed on {}: {}", options_.resource.plural,
                      delta.key, e.what());
      }
    }
  }
}

WatchInput Informer::perform(const WatchAction& action, std::optional<WatchAction>& next) {
  if (const auto* list = std::get_if<StartList>(&action)) {
    kube::ListOptions opts{.labelSelector = options_.labelSelector,
                           .fieldSelector = options_.fieldSelector,
                           .limit = list->limit,
                           .continueToken = list->continueToken,
                           .metadataOnly = options_.metadataOnly};
    // "" means a consistent read from etcd: the parameter is left out. An informer that keeps
    // few of a kind's objects (`keep`) always reads so: resourceVersion=0 is answered from the
    // watch cache in one piece whatever the limit, and that piece (every Secret of the cluster)
    // would sit in memory at once; a consistent read comes in pages.
    if (!list->resourceVersion.empty() && !(options_.keep && list->resourceVersion == "0")) {
      opts.resourceVersion = list->resourceVersion;
    }
    auto page = client_->listPage(options_.resource, options_.namespace_, opts);
    if (!page) {
      const kube::ApiError& e = page.error();
      return Failed{e.httpStatus, e.reason, e.describe()};
    }
    std::erase_if(page.value().items, [&](kube::Json& o) { return !admit(o); });
    return std::move(page.value());
  }
  if (const auto* watch = std::get_if<StartWatch>(&action)) {
    if (Failed failed; !runRechecks(failed)) return failed;
    // This stream's own cancellation: stop() ends it, and so does a recheck request.
    kube::Cancellation stream;
    const int linked = cancel_.subscribe([&stream] { stream.cancel(); });
    {
      std::lock_guard lock(mu_);
      openWatch_ = &stream;
      if (!pendingRechecks_.empty()) stream.cancel();
    }
    kube::WatchOptions opts{.resourceVersion = watch->resourceVersion,
                            .timeoutSeconds = watch->timeoutSeconds,
                            .labelSelector = options_.labelSelector,
                            .fieldSelector = options_.fieldSelector,
                            .metadataOnly = options_.metadataOnly};
    auto status = client_->watch(
        options_.resource, options_.namespace_, opts,
        [&](kube::Json& event) {
          std::string type = stringField(event, "type");
          const auto found = event.find("object");
          kube::Json object = found == event.end() ? kube::Json::object() : std::move(*found);
          std::optional<std::string> kept;
          if (type == "ADDED" || type == "MODIFIED" || type == "DELETED") {
            if (!admit(object) && type != "DELETED") {
              type = "DELETED";  // gone from what is kept, if it was ever there
            } else if (type != "DELETED" && options_.keep) {
              kept = objectKey(object);
            }
          }
          WatchStep step = machine_.handle(WatchEvent{std::move(type), std::move(object)});
          synced_.store(machine_.hasSynced());
          dispatch(step.deltas);
          if (kept) keepStill(*kept);
          if (!std::holds_alternative<Idle>(step.action)) {
            next = std::move(step.action);  // e.g. a 410 ERROR event: abandon this stream
            return false;
          }
          return !stopping_.load() && !stream.cancelled();
        },
        stream);
    {
      std::lock_guard lock(mu_);
      openWatch_ = nullptr;
    }
    cancel_.unsubscribe(linked);
    if (next) return TimerFired{};  // unused: the caller takes `next`
    if (stream.cancelled() && !stopping_.load()) {
      // Ended for a recheck: the same watch again from where it was (the rechecks run first).
      next = StartWatch{machine_.resourceVersion(), watch->timeoutSeconds};
      return TimerFired{};
    }
    if (!status) {
      const kube::ApiError& e = status.error();
      return Failed{e.httpStatus, e.reason, e.describe()};
    }
    return WatchEnded{};
  }
  if (const auto* wait = std::get_if<Wait>(&action)) {
    waitFor(wait->duration);
    return TimerFired{};
  }
  return Stop{};
}

void Informer::run() {
  exceptionsTotal().Add({{"resource", options_.resource.plural}});  // exists from the start
  WatchAction action = machine_.start();
  while (!stopping_.load()) {
    if (std::holds_alternative<Stopped>(action)) return;
    // No exception may leave this thread (it would call std::terminate): a decoding bug or a
    // library that throws is a failure of this list or watch like any other, so the machine
    // backs off and resumes (relisting when it has no resourceVersion to watch from).
    try {
      action = step(std::move(action));
    } catch (const std::exception& e) {
      action = recover(e.what());
    } catch (...) {
      action = recover("a non-standard exception");
    }
  }
  try {
    machine_.handle(Stop{});
  } catch (...) {  // stopping anyway
  }
}

WatchAction Informer::recover(const std::string& what) {
  exceptionsTotal().Add({{"resource", options_.resource.plural}}).Increment();
  spdlog::warn("informer {}: caught an exception, backing off: {}", options_.resource.plural, what);
  try {
    WatchAction next = machine_.handle(Failed{0, "", "exception: " + what}).action;
    if (!std::holds_alternative<Idle>(next)) return next;
  } catch (...) {
  }
  // The machine was not in a state a failure fits (Idle): run() pauses and asks again.
  return Idle{};
}

WatchAction Informer::step(WatchAction action) {
  if (std::holds_alternative<Idle>(action)) {
    // The machine has nothing to do only after an input that did not fit its state;
    // ask it again after a short pause rather than spin.
    waitFor(std::chrono::seconds(1));
    return machine_.handle(TimerFired{}).action;
  }
  std::optional<WatchAction> next;
  WatchInput input = perform(action, next);
  if (stopping_.load()) return Stopped{};
  if (next) return std::move(*next);
  if (const auto* failed = std::get_if<Failed>(&input)) {
    spdlog::warn("informer {}: {} (status {}), retrying", options_.resource.plural, failed->message,
                 failed->httpStatus);
  }
  WatchStep step = machine_.handle(std::move(input));
  const bool wasSynced = synced_.exchange(machine_.hasSynced());
#ifdef __GLIBC__
  // The pages of a first list were parsed whole and mostly thrown away (keep, transform): hand
  // the freed heap back, or the process keeps the peak of a list it no longer holds.
  if (!wasSynced && machine_.hasSynced()) malloc_trim(0);
#else
  (void)wasSynced;
#endif
  dispatch(step.deltas);
  return std::move(step.action);
}

void Informer::resyncLoop() {
  while (waitFor(options_.resyncPeriod)) {
    if (!hasSynced()) continue;
    try {
      Deltas deltas;
      for (const ObjectPtr& object : store_->list()) {
        if (auto key = objectKey(*object)) {
          deltas.push_back(Delta{Delta::Type::kUpdated, *key, object, object});
        }
      }
      dispatch(deltas);
    } catch (const std::exception& e) {  // bad_alloc: skip this resync, not the process
      exceptionsTotal().Add({{"resource", options_.resource.plural}}).Increment();
      spdlog::warn("informer {}: resync failed: {}", options_.resource.plural, e.what());
    }
  }
}

}  // namespace envop::runtime
