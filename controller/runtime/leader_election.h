// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does
// it with a LeaseLock: replicas race to hold the Lease, the holder renews spec.renewTime every
// retry period, and a candidate takes the Lease over only once its own observation of the record
// has not changed for leaseDurationSeconds (local time only: the other host's clock is never
// trusted). LeaseElection is the pure decision core (observed Lease + now -> what to write);
// LeaderElector is the thin loop on its own thread that does the I/O, calls the callbacks,
// publishes leader_election_master_status{name} and releases the Lease on stop().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "controller/kube/client.h"
#include "controller/util/clock.h"
#include "controller/util/wall_time.h"

namespace envop::runtime {

using util::WallTime;

// The spec of a Lease: the leader election record.
struct LeaseRecord {
  std::string holderIdentity;  // "" when released
  int leaseDurationSeconds = 0;
  std::string acquireTime;  // RFC3339 with microseconds, as stored; "" when absent
  std::string renewTime;
  int leaseTransitions = 0;

  bool operator==(const LeaseRecord&) const = default;
};

// spec of a Lease object; fields absent from the object keep their defaults.
LeaseRecord leaseRecordFromJson(const kube::Json& lease);
// The spec as written: absent times are omitted (the API rejects "").
kube::Json leaseSpecToJson(const LeaseRecord& record);

struct LeaseTimings {
  // How long a candidate waits, without seeing the record change, before taking over.
  util::Duration leaseDuration = std::chrono::seconds(15);
  // How long the leader keeps trying to renew before it gives up leading.
  util::Duration renewDeadline = std::chrono::seconds(10);
  // The pause between tries, for the leader and for candidates.
  util::Duration retryPeriod = std::chrono::seconds(2);
};

struct LeaseAction {
  enum class Kind {
    kWait,    // held by someone else and not expired: try again after the retry period
    kCreate,  // no Lease yet: create it holding `record`
    kUpdate,  // acquire, take over or renew: PUT `record` with the observed resourceVersion
  };
  Kind kind = Kind::kWait;
  LeaseRecord record;
};

// The decision core of one candidate. Not thread-safe; no I/O, no clock of its own: `now` is the
// injected monotonic clock (for expiry) and `stamp` the wall time to write into the Lease.
class LeaseElection final {
 public:
  LeaseElection(std::string identity, LeaseTimings timings);

  // What to do given the Lease as just read (nullopt: it does not exist). Records the
  // observation: a record different from the last one restarts the expiry countdown. Seeing
  // someone else hold the Lease ends our leadership at once.
  LeaseAction decide(const std::optional<LeaseRecord>& observed, util::TimePoint now,
                     WallTime stamp);
  // The write decide() asked for went through: we lead, and `now` counts as a renewal.
  void written(const LeaseRecord& record, util::TimePoint now);
  // True once, when we lead but have not renewed for the renew deadline: we stopped leading.
  bool renewDeadlinePassed(util::TimePoint now);
  // The record that gives the Lease up (holder "", duration 1 s, as client-go's
  // ReleaseOnCancel), or nullopt when we do not hold it.
  std::optional<LeaseRecord> releaseRecord(WallTime stamp) const;
  // The release was written: we neither lead nor hold the Lease any more.
  void released(const LeaseRecord& record, util::TimePoint now);

  // Until when we may act as leader: the start of our last successful write plus the renew
  // deadline, which is shorter than the lease duration any other candidate waits, counted from
  // later still (when it saw that write). TimePoint::min() when we do not lead.
  util::TimePoint trustedUntil() const;

  bool isLeader() const { return leading_; }
  const std::string& identity() const { return identity_; }
  const LeaseTimings& timings() const { return timings_; }

 private:
  // The record says we hold it (client-go's IsLeader), whether or not we still act as leader.
  bool holdsRecord() const;
  bool observedValid(util::TimePoint now) const;
  void observe(const LeaseRecord& record, util::TimePoint now);

  std::string identity_;
  LeaseTimings timings_;
  std::optional<LeaseRecord> observed_;
  util::TimePoint observedTime_{};
  util::TimePoint lastRenew_{};
  bool leading_ = false;
};

// hostname + "_" + a random suffix, so two replicas (or a restarted pod) never share one.
std::string defaultIdentity();

struct LeaderElectionConfig {
  std::string leaseNamespace;
  std::string leaseName;
  std::string identity;  // defaultIdentity() when empty
  LeaseTimings timings;
};

struct LeaderCallbacks {
  // Both run on the elector's thread and must return promptly; they may be empty. They
  // alternate strictly, starting with onStartedLeading.
  std::function<void()> onStartedLeading;
  std::function<void()> onStoppedLeading;
};

// After losing the Lease (renew deadline passed, or someone else seen holding it) the elector
// calls onStoppedLeading and keeps campaigning; a caller that prefers controller-runtime's
// "exit on lost leadership" stops the process from onStoppedLeading instead.
class LeaderElector final {
 public:
  LeaderElector(kube::ClientPtr client, LeaderElectionConfig config, LeaderCallbacks callbacks,
                util::ClockPtr clock = util::steadyClock());
  ~LeaderElector();  // stop()
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Starts campaigning on a new thread; a second call, or a call after stop(), does nothing.
  void start();
  // Ends the loop, calls onStoppedLeading if leading, then releases the Lease so another
  // replica takes over within one retry period. Blocks until the thread has finished, except
  // when called from a callback (the loop then ends once the callback returns).
  void stop();
  bool isLeader() const { return leader_.load(); }
  // Whether this replica may write now, from any thread: it leads and its last renewal is
  // younger than the renew deadline. Unlike isLeader() this turns false by itself when the
  // elector cannot run (the process was stopped, the thread starved), before a candidate can
  // take over; a fence for every write.
  bool holdsLease() const;
  const std::string& identity() const { return election_.identity(); }

 private:
  void run();
  void tryOnce();
  bool readLease(std::optional<LeaseRecord>& observed);
  bool write(const LeaseAction& action);
  void release();
  void setLeader(bool leading);
  // Waits `d` on the real clock unless stop() comes first; returns false when stopping.
  bool pause(util::Duration d);
  util::Duration nextPause() const;

  kube::ClientPtr client_;
  LeaderElectionConfig config_;
  LeaderCallbacks callbacks_;
  util::ClockPtr clock_;
  LeaseElection election_;  // only touched by the elector's thread
  // The Lease object as last read or written: its resourceVersion makes our PUTs optimistic.
  std::optional<kube::Json> lease_;
  std::atomic<bool> leader_{false};
  std::atomic<util::TimePoint> trustedUntil_{util::TimePoint::min()};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace envop::runtime
