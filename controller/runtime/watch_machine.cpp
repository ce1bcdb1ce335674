#include "controller/runtime/watch_machine.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace envop::runtime {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
// Spelled out for clang before 17 (the fuzz build's clang-16), which lacks C++20's implicit
// deduction guides for aggregates.
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// 410 Gone: the resourceVersion we asked from (or the list snapshot behind a continue token) has
// been compacted away. A Status may say so only through its reason.
bool isExpired(const Failed& failed) {
  return failed.httpStatus == 410 || failed.reason == "Expired" || failed.reason == "Gone";
}

Failed failedFromStatus(const nlohmann::json& status) {
  Failed failed;
  if (!status.is_object()) return failed;
  if (const auto code = status.find("code"); code != status.end() && code->is_number_integer()) {
    failed.httpStatus = code->get<int>();
  }
  if (const auto reason = status.find("reason"); reason != status.end() && reason->is_string()) {
    failed.reason = reason->get<std::string>();
  }
  if (const auto message = status.find("message");
      message != status.end() && message->is_string()) {
    failed.message = message->get<std::string>();
  }
  return failed;
}

}  // namespace

WatchMachine::WatchMachine(StorePtr store, WatchMachineOptions options, util::ClockPtr clock,
                           util::UnitRandom random)
    : store_(std::move(store)),
      options_(options),
      clock_(std::move(clock)),
      // Shared so that the backoff and the watch timeouts draw from one sequence.
      random_(std::make_shared<util::UnitRandom>(std::move(random))),
      backoff_(options.backoff, [random = random_] { return (*random)(); }) {}

WatchAction WatchMachine::start() {
  if (state_ != WatchState::kNew) return Idle{};
  return list("0");
}

WatchStep WatchMachine::handle(WatchInput input) {
  if (state_ == WatchState::kStopped) return {Stopped{}, {}};
  return std::visit(Overloaded{
                        [this](ListPage& page) { return onListPage(std::move(page)); },
                        [this](WatchEvent& event) { return onWatchEvent(std::move(event)); },
                        [this](WatchEnded&) { return onWatchEnded(); },
                        [this](Failed& failed) { return onFailed(failed); },
                        [this](TimerFired&) { return onTimerFired(); },
                        [this](Stop&) {
                          state_ = WatchState::kStopped;
                          listed_.clear();
                          return WatchStep{Stopped{}, {}};
                        },
                    },
                    input);
}

WatchStep WatchMachine::onListPage(ListPage page) {
  if (state_ != WatchState::kListing) return {Idle{}, {}};
  backoff_.reset();
  std::move(page.items.begin(), page.items.end(), std::back_inserter(listed_));
  if (!page.continueToken.empty()) {
    continueToken_ = std::move(page.continueToken);
    // Like client-go's pager: a continued page must not carry a resourceVersion (the apiserver
    // rejects it); the token pins the snapshot.
    return {StartList{"", options_.pageSize, continueToken_}, {}};
  }
  Deltas deltas = store_->replace(std::move(listed_));
  listed_.clear();
  continueToken_.clear();
  resourceVersion_ = std::move(page.resourceVersion);
  resourceVersionExpired_ = false;
  synced_ = true;
  return {watch(), std::move(deltas)};
}

WatchStep WatchMachine::onWatchEvent(WatchEvent event) {
  if (state_ != WatchState::kWatching) return {Idle{}, {}};
  if (event.type == "ERROR") return onFailed(failedFromStatus(event.object));

  ++watchEvents_;
  backoff_.reset();
  std::optional<Delta> delta;
  if (event.type == "BOOKMARK") {
    // A bookmark carries only a resourceVersion: progress, not an object.
    advance(event.object);
  } else if (event.type == "ADDED" || event.type == "MODIFIED") {
    advance(event.object);
    delta = store_->upsert(std::move(event.object));
  } else if (event.type == "DELETED") {
    advance(event.object);
    delta = store_->remove(std::move(event.object));
  }
  // Unknown types are ignored: a newer apiserver must not break an older operator.
  WatchStep step{Idle{}, {}};
  if (delta) step.deltas.push_back(std::move(*delta));
  return step;
}

WatchStep WatchMachine::onWatchEnded() {
  if (state_ != WatchState::kWatching) return {Idle{}, {}};
  if (watchEvents_ == 0 && clock_->now() - watchStarted_ < options_.shortWatch) {
    return {backOff(), {}};
  }
  // The server's timeoutSeconds elapsed: not a failure, so no backoff.
  backoff_.reset();
  return {watch(), {}};
}

WatchStep WatchMachine::onFailed(const Failed& failed) {
  switch (state_) {
    case WatchState::kListing:
      if (isExpired(failed)) {
        // The snapshot behind the continue token was compacted: start this list over. A 410 on a
        // first page can only come from a resourceVersion that is too old: read from etcd.
        if (!continueToken_.empty()) return {list(listResourceVersion_), {}};
        return {relistConsistent(), {}};
      }
      return {backOff(), {}};
    case WatchState::kWatching:
      return {isExpired(failed) ? relistConsistent() : backOff(), {}};
    default:
      return {Idle{}, {}};  // a late failure of an abandoned request
  }
}

WatchStep WatchMachine::onTimerFired() {
  if (state_ != WatchState::kBackingOff) return {Idle{}, {}};
  if (!resourceVersion_.empty()) return {watch(), {}};
  return {list(resourceVersionExpired_ ? "" : "0"), {}};
}

WatchAction WatchMachine::list(std::string resourceVersion) {
  state_ = WatchState::kListing;
  listResourceVersion_ = std::move(resourceVersion);
  continueToken_.clear();
  listed_.clear();
  return StartList{listResourceVersion_, options_.pageSize, ""};
}

WatchAction WatchMachine::watch() {
  state_ = WatchState::kWatching;
  watchStarted_ = clock_->now();
  watchEvents_ = 0;
  using Seconds = std::chrono::seconds::rep;
  const Seconds low = options_.minWatchTimeout.count();
  const Seconds high = std::max(options_.maxWatchTimeout.count(), low);
  const double u = std::clamp((*random_)(), 0.0, 1.0);
  // Spread over [low, high] so that watches opened together (a restart) do not all expire,
  // and all relist or re-watch, at the same moment.
  const auto spread = static_cast<Seconds>(std::floor(u * static_cast<double>(high - low + 1)));
  const Seconds timeout = std::clamp<Seconds>(low + spread, low, high);
  return StartWatch{resourceVersion_, static_cast<int>(timeout)};
}

WatchAction WatchMachine::relistConsistent() {
  // resourceVersion=0 could be answered by a watch cache older than what we have seen;
  // "" is a quorum read from etcd.
  resourceVersion_.clear();
  resourceVersionExpired_ = true;
  return list("");
}

WatchAction WatchMachine::backOff() {
  state_ = WatchState::kBackingOff;
  listed_.clear();
  continueToken_.clear();
  return Wait{backoff_.next()};
}

void WatchMachine::advance(const nlohmann::json& object) {
  std::string resourceVersion = resourceVersionOf(object);
  if (!resourceVersion.empty()) resourceVersion_ = std::move(resourceVersion);
}

}  // namespace envop::runtime
