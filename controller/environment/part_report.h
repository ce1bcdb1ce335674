// What one pass over a part of an Environment found and did, and how the outcome of each
// apply, removal or observation folds into it: the worst finding decides the part's state.
// Shared by the parts that write plain objects (namespace, external services).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "controller/environment/applier.h"
#include "controller/environment/status.h"

namespace envop::environment {

struct PartReport : PartOutcome {
  explicit PartReport(std::string_view name) {
    part = std::string(name);
    state = State::kReady;
  }
  std::vector<std::string> repaired;  // "ResourceQuota pro/envop-quota", for events
  // Observe-only (spec.suspend): what differs from the spec and was left as it is,
  // "ResourceQuota pro/envop-quota is missing".
  std::vector<std::string> drift;
};

// The worst finding wins: Stalled > Failed > Progressing > Ready (the enum's order); of
// equally bad ones the first is kept.
void mark(PartReport& report, PartOutcome::State state, std::string reason, std::string message);

// "ResourceQuota pro/envop-quota", "Namespace ext".
std::string describe(const kube::Resource& r, const kube::Json& object);

// Applies and records the outcome: a field conflict or an invalid object Stalls the part,
// another error Fails it, a repair is listed.
void applyTracked(Applier& applier, const kube::Resource& r, const kube::Json& desired,
                  PartReport& report, ApplyOptions options = {});

// Observe-only: compares `desired` with the live object and lists a difference as drift;
// writes nothing. A read error Fails the part.
void observeTracked(Applier& applier, const kube::Resource& r, const kube::Json& desired,
                    PartReport& report);

// Closes an observe-only pass: drift found makes the part not Ready (Progressing, reason
// DriftDetected), its message saying what differs and that nothing was changed.
void concludeObservation(PartReport& report);

}  // namespace envop::environment
