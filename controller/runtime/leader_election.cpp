#include "controller/runtime/leader_election.h"

#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <random>

#include "controller/kube/resource.h"
#include "controller/util/metrics.h"

namespace envop::runtime {
namespace {

using Kind = LeaseAction::Kind;

prometheus::Gauge& masterStatus(const std::string& name) {
  static auto& family = prometheus::BuildGauge()
                            .Name("leader_election_master_status")
                            .Help(
                                "Gauge of if the reporting system is master of the relevant "
                                "lease, 0 indicates backup, 1 indicates master. 'name' is the "
                                "string used to identify the lease.")
                            .Register(util::metricsRegistry());
  return family.Add({{"name", name}});
}

std::string stringField(const kube::Json& spec, const char* key) {
  auto it = spec.find(key);
  return it != spec.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int intField(const kube::Json& spec, const char* key) {
  auto it = spec.find(key);
  return it != spec.end() && it->is_number_integer() ? it->get<int>() : 0;
}

int wholeSeconds(util::Duration d) {
  // A lease shorter than a second would be written as 0, which reads as "already expired".
  return std::max(1, static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(d).count()));
}

}  // namespace

LeaseRecord leaseRecordFromJson(const kube::Json& lease) {
  LeaseRecord record;
  if (!lease.is_object()) return record;
  auto spec = lease.find("spec");
  if (spec == lease.end() || !spec->is_object()) return record;
  record.holderIdentity = stringField(*spec, "holderIdentity");
  record.leaseDurationSeconds = intField(*spec, "leaseDurationSeconds");
  record.acquireTime = stringField(*spec, "acquireTime");
  record.renewTime = stringField(*spec, "renewTime");
  record.leaseTransitions = intField(*spec, "leaseTransitions");
  return record;
}

kube::Json leaseSpecToJson(const LeaseRecord& record) {
  kube::Json spec = {{"holderIdentity", record.holderIdentity},
                     {"leaseDurationSeconds", record.leaseDurationSeconds},
                     {"leaseTransitions", record.leaseTransitions}};
  if (!record.acquireTime.empty()) spec["acquireTime"] = record.acquireTime;
  if (!record.renewTime.empty()) spec["renewTime"] = record.renewTime;
  return spec;
}

LeaseElection::LeaseElection(std::string identity, LeaseTimings timings)
    : identity_(std::move(identity)), timings_(timings) {}

LeaseAction LeaseElection::decide(const std::optional<LeaseRecord>& observed, util::TimePoint now,
                                  WallTime stamp) {
  const std::string time = util::formatMicroTime(stamp);
  LeaseRecord mine{identity_, wholeSeconds(timings_.leaseDuration), time, time, 0};
  if (!observed) return {Kind::kCreate, mine};

  // Expiry is measured from when *we* first saw this exact record, never from its renewTime:
  // the holder's clock may be skewed from ours.
  if (!observed_ || *observed_ != *observed) observe(*observed, now);
  if (!holdsRecord()) leading_ = false;
  if (!observed->holderIdentity.empty() && !holdsRecord() && observedValid(now)) {
    return {Kind::kWait, {}};
  }
  if (holdsRecord()) {
    mine.acquireTime = observed->acquireTime;
    mine.leaseTransitions = observed->leaseTransitions;
  } else {
    mine.leaseTransitions = observed->leaseTransitions + 1;
  }
  return {Kind::kUpdate, mine};
}

void LeaseElection::written(const LeaseRecord& record, util::TimePoint now) {
  observe(record, now);
  leading_ = holdsRecord();
  lastRenew_ = now;
}

util::TimePoint LeaseElection::trustedUntil() const {
  return leading_ ? lastRenew_ + timings_.renewDeadline : util::TimePoint::min();
}

bool LeaseElection::renewDeadlinePassed(util::TimePoint now) {
  if (!leading_ || now - lastRenew_ < timings_.renewDeadline) return false;
  leading_ = false;
  return true;
}

std::optional<LeaseRecord> LeaseElection::releaseRecord(WallTime stamp) const {
  if (!holdsRecord()) return std::nullopt;
  const std::string time = util::formatMicroTime(stamp);
  // Duration 1 s and no holder: a candidate takes over at its next try instead of waiting a full
  // lease duration; renewTime changes so even an old-style observer sees a new record.
  return LeaseRecord{"", 1, time, time, observed_->leaseTransitions};
}

void LeaseElection::released(const LeaseRecord& record, util::TimePoint now) {
  observe(record, now);
  leading_ = false;
}

bool LeaseElection::holdsRecord() const {
  return observed_ && observed_->holderIdentity == identity_;
}

bool LeaseElection::observedValid(util::TimePoint now) const {
  // The holder's own leaseDurationSeconds counts (a released lease says 1 s), not ours.
  return observed_ && observedTime_ + std::chrono::seconds(observed_->leaseDurationSeconds) > now;
}

void LeaseElection::observe(const LeaseRecord& record, util::TimePoint now) {
  observed_ = record;
  observedTime_ = now;
}

std::string defaultIdentity() {
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0 || host[0] == '\0') {
    std::snprintf(host.data(), host.size(), "envop");
  }
  std::random_device random;
  std::array<char, 40> suffix{};
  std::snprintf(suffix.data(), suffix.size(), "%08x%08x", random(), random());
  return std::string(host.data()) + "_" + suffix.data();
}

LeaderElector::LeaderElector(kube::ClientPtr client, LeaderElectionConfig config,
                             LeaderCallbacks callbacks, util::ClockPtr clock)
    : client_(std::move(client)),
      config_(std::move(config)),
      callbacks_(std::move(callbacks)),
      clock_(std::move(clock)),
      election_(config_.identity.empty() ? defaultIdentity() : config_.identity, config_.timings) {
  masterStatus(config_.leaseName).Set(0);
}

LeaderElector::~LeaderElector() { stop(); }

void LeaderElector::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { run(); });
}

void LeaderElector::stop() {
  std::thread thread;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    // Called from a callback on our own thread: the loop ends by itself after the callback.
    if (thread_.get_id() == std::this_thread::get_id()) return;
    thread = std::move(thread_);
  }
  wake_.notify_all();
  if (thread.joinable()) thread.join();
}

void LeaderElector::run() {
  spdlog::info("leader election: {} campaigning for lease {}/{}", identity(),
               config_.leaseNamespace, config_.leaseName);
  do {
    try {
      tryOnce();
    } catch (const std::exception& e) {
      spdlog::error("leader election: lease {}/{}: attempt failed: {}", config_.leaseNamespace,
                    config_.leaseName, e.what());
      lease_.reset();
    } catch (...) {
      spdlog::error("leader election: lease {}/{}: attempt failed", config_.leaseNamespace,
                    config_.leaseName);
      lease_.reset();
    }
  } while (pause(nextPause()));
  try {
    // Stop the leader's work before giving the Lease away, so two leaders never overlap.
    setLeader(false);
    release();
  } catch (const std::exception& e) {
    spdlog::error("leader election: lease {}/{}: release failed: {}", config_.leaseNamespace,
                  config_.leaseName, e.what());
  } catch (...) {
    spdlog::error("leader election: lease {}/{}: release failed", config_.leaseNamespace,
                  config_.leaseName);
  }
}

void LeaderElector::tryOnce() {
  if (election_.renewDeadlinePassed(clock_->now())) {
    spdlog::warn(
        "leader election: {} could not renew lease {}/{} within {} ms; stepping down", identity(),
        config_.leaseNamespace, config_.leaseName,
        std::chrono::duration_cast<std::chrono::milliseconds>(election_.timings().renewDeadline)
            .count());
    setLeader(false);
  }
  // The leader writes over its own last write without reading first (client-go's optimistic
  // renewal); a conflict means someone else wrote, and we fall back to reading.
  const bool fastPath = election_.isLeader() && lease_.has_value();
  std::optional<LeaseRecord> observed;
  if (fastPath) {
    observed = leaseRecordFromJson(*lease_);
  } else if (!readLease(observed)) {
    setLeader(election_.isLeader());
    return;
  }
  // A renewal counts from before it was sent: the API server stored it no earlier, so no
  // candidate's countdown can have started before this.
  auto sent = clock_->now();
  auto action = election_.decide(observed, sent, std::chrono::system_clock::now());
  bool ok = action.kind == Kind::kWait || write(action);
  if (!ok && fastPath && readLease(observed)) {
    sent = clock_->now();
    action = election_.decide(observed, sent, std::chrono::system_clock::now());
    ok = action.kind == Kind::kWait || write(action);
  }
  if (ok && action.kind != Kind::kWait) election_.written(action.record, sent);
  setLeader(election_.isLeader());
}

bool LeaderElector::readLease(std::optional<LeaseRecord>& observed) {
  auto got = client_->get(kube::resources::leases(), config_.leaseNamespace, config_.leaseName);
  if (!got) {
    lease_.reset();
    if (got.error().isNotFound()) {
      observed.reset();
      return true;
    }
    spdlog::warn("leader election: reading lease {}/{}: {}", config_.leaseNamespace,
                 config_.leaseName, got.error().describe());
    return false;
  }
  lease_ = std::move(got.value());
  observed = leaseRecordFromJson(*lease_);
  return true;
}

bool LeaderElector::write(const LeaseAction& action) {
  kube::Json object;
  if (action.kind == Kind::kCreate) {
    object = {{"apiVersion", kube::resources::leases().apiVersion()},
              {"kind", "Lease"},
              {"metadata", {{"name", config_.leaseName}, {"namespace", config_.leaseNamespace}}}};
  } else {
    object = *lease_;  // keeps metadata.resourceVersion: the PUT fails if anyone wrote since
  }
  object["spec"] = leaseSpecToJson(action.record);
  auto result = action.kind == Kind::kCreate ? client_->create(kube::resources::leases(), object)
                                             : client_->update(kube::resources::leases(), object);
  if (!result) {
    lease_.reset();
    // Losing a race is the normal way for a candidate to fail; anything else is worth a warning.
    if (result.error().isConflict() || result.error().isAlreadyExists()) {
      spdlog::debug("leader election: lease {}/{} was written by someone else",
                    config_.leaseNamespace, config_.leaseName);
    } else {
      spdlog::warn("leader election: writing lease {}/{}: {}", config_.leaseNamespace,
                   config_.leaseName, result.error().describe());
    }
    return false;
  }
  lease_ = std::move(result.value());
  return true;
}

void LeaderElector::release() {
  auto record = election_.releaseRecord(std::chrono::system_clock::now());
  if (!record) return;
  // Two tries: our cached resourceVersion may be stale only because our own last renewal
  // answer was lost; a fresh read tells whether we still hold the Lease.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!lease_) {
      std::optional<LeaseRecord> current;
      if (!readLease(current) || !current || current->holderIdentity != identity()) return;
      record->leaseTransitions = current->leaseTransitions;
    }
    kube::Json object = *lease_;
    object["spec"] = leaseSpecToJson(*record);
    auto result = client_->update(kube::resources::leases(), object);
    if (result) {
      lease_ = std::move(result.value());
      election_.released(*record, clock_->now());
      spdlog::info("leader election: {} released lease {}/{}", identity(), config_.leaseNamespace,
                   config_.leaseName);
      return;
    }
    lease_.reset();
    if (!result.error().isConflict()) {
      spdlog::warn("leader election: releasing lease {}/{}: {}", config_.leaseNamespace,
                   config_.leaseName, result.error().describe());
      return;
    }
  }
}

bool LeaderElector::holdsLease() const {
  return leader_.load() && clock_->now() < trustedUntil_.load();
}

void LeaderElector::setLeader(bool leading) {
  // Before the callbacks: the work onStartedLeading starts may write at once, and nothing
  // may write any more by the time onStoppedLeading runs.
  trustedUntil_.store(leading ? election_.trustedUntil() : util::TimePoint::min());
  if (leader_.exchange(leading) == leading) return;
  masterStatus(config_.leaseName).Set(leading ? 1 : 0);
  spdlog::info("leader election: {} {} lease {}/{}", identity(),
               leading ? "acquired" : "stopped leading on", config_.leaseNamespace,
               config_.leaseName);
  const auto& callback = leading ? callbacks_.onStartedLeading : callbacks_.onStoppedLeading;
  if (!callback) return;
  try {
    callback();
  } catch (const std::exception& e) {
    spdlog::error("leader election: lease {}/{}: callback failed: {}", config_.leaseNamespace,
                  config_.leaseName, e.what());
  } catch (...) {
    spdlog::error("leader election: lease {}/{}: callback failed", config_.leaseNamespace,
                  config_.leaseName);
  }
}

bool LeaderElector::pause(util::Duration d) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, d, [this] { return stopping_; });
  return !stopping_;
}

util::Duration LeaderElector::nextPause() const {
  const auto retry = config_.timings.retryPeriod;
  if (election_.isLeader()) return retry;
  // Candidates spread their tries over [1, 2.2) retry periods (client-go's JitterFactor 1.2) so
  // replicas started together do not hit the API server in lockstep.
  thread_local std::mt19937 random{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(0.0, 1.2);
  return retry + std::chrono::duration_cast<util::Duration>(retry * jitter(random));
}

}  // namespace envop::runtime
