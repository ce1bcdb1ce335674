// The release digest identifies what one Helm release should be: the chart it comes from, the
// chart version or digest that reference resolved to, and the merged values. It is recorded with
// the deployed revision; when the desired digest equals the recorded one nothing needs to run,
// which is how a resync keeps its promise of no needless `helm` commands.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "controller/environment/release_spec.h"

namespace envop::environment {

// "sha256:" + 64 lowercase hex digits over a canonical JSON serialisation (object keys sorted),
// so the key order of the values does not matter and any change to a value does. The requested
// version (a range such as "1.x") is left out on purpose: only what it resolved to matters.
// Returns "" only if OpenSSL itself fails; a caller treats "" as "differs", never as equal.
std::string releaseDigest(const ResolvedChart& chart,
                          const std::string& resolvedChartDigestOrVersion,
                          const nlohmann::json& mergedValues);

}  // namespace envop::environment
