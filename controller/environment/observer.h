// What applying an object would change, found without writing: the observe-only mode of a
// suspended Environment. The live object shows the desired one when every field the
// desired object sets has that value live (defaults and other managers' fields are extra,
// not drift). When it does not, the API server is asked to normalise (a dry-run update of
// the live object with the desired fields merged in), so that "0.5" and "500m" of a
// quantity are not told apart.
#pragma once

#include <optional>
#include <string>

#include "controller/environment/applier.h"

namespace envop::environment {

struct Observation {
  bool missing = false;    // no such object
  std::string difference;  // the first field that differs, ".spec.hard.pods"; empty: none
  std::optional<kube::ApiError> error;  // the object could not be read
  bool drifted() const { return missing || !difference.empty(); }
};

Observation observe(Applier& applier, const kube::Resource& r, const kube::Json& desired);

// The first field path set in `desired` whose value `live` does not show: objects by their
// keys (extra keys live are fine), arrays element by element and of the same length,
// scalars equal. nullopt when `live` shows all of `desired`.
std::optional<std::string> firstUncovered(const kube::Json& desired, const kube::Json& live);

// The first field path set in `desired` where `a` and `b` differ, arrays and scalars compared
// whole; nullopt when they agree on every field `desired` sets.
std::optional<std::string> firstDifference(const kube::Json& desired, const kube::Json& a,
                                           const kube::Json& b);

}  // namespace envop::environment
