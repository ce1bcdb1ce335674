#include "controller/runtime/informer.h"

#include <spdlog/spdlog.h>

#include <type_traits>

namespace envop::runtime {

Informer::Informer(kube::ClientPtr client, InformerOptions options)
    : client_(std::move(client)), options_(std::move(options)), machine_(store_, options_.watch) {}

Informer::~Informer() { stop(); }

void Informer::addHandler(Handler handler) { handlers_.push_back(std::move(handler)); }

void Informer::start() {
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
    // "" means a consistent read from etcd: the parameter is left out.
    if (!list->resourceVersion.empty()) opts.resourceVersion = list->resourceVersion;
    auto page = client_->listPage(options_.resource, options_.namespace_, opts);
    if (!page) {
      const kube::ApiError& e = page.error();
      return Failed{e.httpStatus, e.reason, e.describe()};
    }
    if (options_.keep) std::erase_if(page.value().items, [&](const kube::Json& o) { return !options_.keep(o); });
    return std::move(page.value());
  }
  if (const auto* watch = std::get_if<StartWatch>(&action)) {
    kube::WatchOptions opts{.resourceVersion = watch->resourceVersion,
                            .timeoutSeconds = watch->timeoutSeconds,
                            .labelSelector = options_.labelSelector,
                            .fieldSelector = options_.fieldSelector,
                            .metadataOnly = options_.metadataOnly};
    auto status = client_->watch(
        options_.resource, options_.namespace_, opts,
        [&](const kube::Json& event) {
          std::string type = event.value("type", "");
          kube::Json object = event.value("object", kube::Json::object());
          if (options_.keep && (type == "ADDED" || type == "MODIFIED") && !options_.keep(object)) {
            type = "DELETED";  // gone from what is kept, if it was ever there
          }
          WatchStep step = machine_.handle(WatchEvent{std::move(type), std::move(object)});
          synced_.store(machine_.hasSynced());
          dispatch(step.deltas);
          if (!std::holds_alternative<Idle>(step.action)) {
            next = std::move(step.action);  // e.g. a 410 ERROR event: abandon this stream
            return false;
          }
          return !stopping_.load();
        },
        cancel_);
    if (next) return TimerFired{};  // unused: the caller takes `next`
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
  WatchAction action = machine_.start();
  while (!stopping_.load()) {
    if (std::holds_alternative<Stopped>(action)) return;
    if (std::holds_alternative<Idle>(action)) {
      // The machine has nothing to do only after an input that did not fit its state;
      // ask it again after a short pause rather than spin.
      waitFor(std::chrono::seconds(1));
      action = machine_.handle(TimerFired{}).action;
      continue;
    }
    std::optional<WatchAction> next;
    WatchInput input = perform(action, next);
    if (stopping_.load()) break;
    if (next) {
      action = std::move(*next);
      continue;
    }
    if (const auto* failed = std::get_if<Failed>(&input)) {
      spdlog::warn("informer {}: {} (status {}), retrying", options_.resource.plural,
                   failed->message, failed->httpStatus);
    }
    WatchStep step = machine_.handle(std::move(input));
    synced_.store(machine_.hasSynced());
    dispatch(step.deltas);
    action = std::move(step.action);
  }
  machine_.handle(Stop{});
}

void Informer::resyncLoop() {
  while (waitFor(options_.resyncPeriod)) {
    if (!hasSynced()) continue;
    Deltas deltas;
    for (const ObjectPtr& object : store_->list()) {
      if (auto key = objectKey(*object)) {
        deltas.push_back(Delta{Delta::Type::kUpdated, *key, object, object});
      }
    }
    dispatch(deltas);
  }
}

}  // namespace envop::runtime
