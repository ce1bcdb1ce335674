// Status is the Environment's desired `.status`, computed as a pure function of what one
// reconcile found for each part (Namespace, ExternalServices, Releases, Registry, Monitoring).
// Each configured part reports its own `<Part>Ready` condition; `Ready` summarises them; kstatus's
// abnormal-true `Reconciling` and `Stalled` are present only while true (the kstatus convention:
// their absence means normal). The function is idempotent — fed its own output with the same
// outcomes it returns that output unchanged and no transitions — so the reconciler can skip the
// status write on a resync, as the idempotence contract in docs/api.md requires.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "controller/environment/conditions.h"
#include "controller/util/wall_time.h"

namespace envop::environment {

inline constexpr std::string_view kConditionReady = "Ready";
inline constexpr std::string_view kConditionReconciling = "Reconciling";
inline constexpr std::string_view kConditionStalled = "Stalled";

inline constexpr std::string_view kReasonReconciled = "Reconciled";
inline constexpr std::string_view kReasonProgressing = "Progressing";
inline constexpr std::string_view kReasonFailed = "Failed";
inline constexpr std::string_view kReasonStalled = "Stalled";
inline constexpr std::string_view kReasonSuspended = "Suspended";
inline constexpr std::string_view kReasonTerminating = "Terminating";
inline constexpr std::string_view kReasonPending = "Pending";

inline constexpr std::string_view kSuspendedMessage = "spec.suspend is true: observing only";

inline constexpr std::string_view kPhasePending = "Pending";
inline constexpr std::string_view kPhaseProgressing = "Progressing";
inline constexpr std::string_view kPhaseReady = "Ready";
inline constexpr std::string_view kPhaseDegraded = "Degraded";
inline constexpr std::string_view kPhaseSuspended = "Suspended";
inline constexpr std::string_view kPhaseTerminating = "Terminating";

// The parts this controller knows, in the order their conditions are listed.
inline constexpr std::string_view kPartNamespace = "Namespace";
inline constexpr std::string_view kPartExternalServices = "ExternalServices";
inline constexpr std::string_view kPartReleases = "Releases";
inline constexpr std::string_view kPartRegistry = "Registry";
inline constexpr std::string_view kPartMonitoring = "Monitoring";

// What one reconcile found for one part.
struct PartOutcome {
  enum class State {
    kNotConfigured,  // not in the spec, or not implemented yet: reports no condition at all
    kReady,
    kProgressing,  // converging; expected to get there without a human
    kFailed,       // a retryable error (Harbor down, a chart that fails)
    kStalled,      // a terminal error a human must fix (a cycle, a missing Secret)
  };

  std::string part;  // kPartNamespace, ...; the condition is "<part>Ready"
  State state = State::kNotConfigured;
  std::string reason;   // UpperCamelCase; empty: a default for the state
  std::string message;  // for humans
};

struct StatusInput {
  std::int64_t generation = 0;
  bool suspended = false;
  bool deleting = false;
  std::string namespaceName;  // status.namespace; empty leaves the previous value
  std::vector<PartOutcome> parts;
  // Top-level status fields other parts own (releases, registry, monitoring): each key replaces
  // the previous value, a null value removes it. Fields named in neither are passed through.
  nlohmann::json partFields = nlohmann::json::object();
  nlohmann::json previous;  // the status as last written; null or not an object: none
  util::WallTime now;
};

// A condition that appeared, disappeared, flipped status or changed reason; the caller turns it
// into an Event. A message-only change is not a transition (messages may carry counts).
struct ConditionTransition {
  std::string type;
  std::string oldStatus;  // empty: the condition did not exist
  std::string newStatus;  // empty: the condition was removed
  std::string oldReason;
  std::string reason;    // of the new condition; empty when removed
  std::string message;   // of the new condition; empty when removed
  bool warning = false;  // the new state is abnormal: Ready-type False, or Stalled True

  bool operator==(const ConditionTransition&) const = default;
};

struct StatusResult {
  nlohmann::json status;
  std::vector<ConditionTransition> transitions;
  bool changed = false;  // status differs from input.previous: a write is needed
};

// The events of one status write. A Warning transition is an event of its own (alerts and
// `kubectl get events --field-selector reason=` key on its reason); the Normal ones are one
// event together, Ready's first, so that a first reconcile which sets Ready and every part's
// condition is one write to the events API, not one per condition. A removed condition is not
// news.
struct ConditionEvent {
  bool warning = false;
  std::string reason;
  std::string note;

  bool operator==(const ConditionEvent&) const = default;
};
std::vector<ConditionEvent> eventsFor(const std::vector<ConditionTransition>& transitions);

// "<part>Ready", e.g. "NamespaceReady".
std::string partConditionType(std::string_view part);

StatusResult computeStatus(const StatusInput& input);

// The body of the status write: a full replace of the status subresource (PUT), so the status
// on the server is exactly `status` afterwards — a key it no longer has is gone, which a merge
// patch could never say. Guarded by the object's resourceVersion, so a status someone wrote
// since `object` was read is not lost: the write fails with a Conflict instead. Only status is
// taken from the body (the API server keeps spec and metadata), so only what the guard needs
// of metadata is sent.
nlohmann::json statusReplacement(const nlohmann::json& object, const nlohmann::json& status);

}  // namespace envop::environment
