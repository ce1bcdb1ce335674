// The other pure half of the helm driver: what helm prints, made safe and typed. Output is
// redacted (a configured secret becomes "***") before anything else looks at it, stderr is
// cut to its tail (helm puts the "Error: ..." line last) so it fits a condition message, and
// the JSON of `status`, `history`, `list` and `get values` becomes typed views. Parsing never
// throws: a failure is a Parsed without a value and with a message a human can act on.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace envop::helm {

inline constexpr std::size_t kStderrTailBytes = 2048;
inline constexpr const char* kRedacted = "***";

template <typename T>
struct Parsed {
  std::optional<T> value;
  std::string error;
};

// One release as `helm upgrade -o json` reports it. `helm status -o json` leaves out the chart
// and the config, so after status() the chart fields and config are empty.
struct ReleaseStatus {
  std::string name;
  std::string ns;
  int revision = 0;
  std::string status;  // deployed, failed, pending-install, pending-upgrade, superseded, ...
  std::string description;
  std::string chartName;
  std::string chartVersion;
  std::string appVersion;
  nlohmann::json config = nlohmann::json::object();  // the user-supplied values
};

// One row of `helm history -o json`.
struct ReleaseRevision {
  int revision = 0;
  std::string status;
  std::string chart;  // "name-version"
  std::string appVersion;
  std::string description;
  std::string updated;
};

// One row of `helm list -o json`.
struct ReleaseSummary {
  std::string name;
  std::string ns;
  int revision = 0;
  std::string status;
  std::string chart;
  std::string appVersion;
  std::string updated;
};

// Chart.yaml's identity, plus the OCI manifest digest when the chart came from a registry.
struct ChartInfo {
  std::string name;
  std::string version;
  std::string appVersion;
  std::string digest;  // "sha256:..." for OCI, empty otherwise
};

// Every non-empty secret in `text` replaced by "***"; longer secrets first, so a secret that
// contains a shorter one is not left half-visible.
std::string redact(std::string text, const std::vector<std::string>& secrets);

// Trailing whitespace dropped, then the last `maxBytes` bytes, starting at a line (or at least
// a UTF-8 character) boundary and marked with a leading "...".
std::string trimTail(std::string_view text, std::size_t maxBytes = kStderrTailBytes);

// The "Digest: sha256:..." line helm's registry client prints on a pull.
std::optional<std::string> parseDigest(std::string_view text);

bool isPendingStatus(const std::string& status);
bool isReleaseNotFound(std::string_view stderrText);

Parsed<ReleaseStatus> parseStatus(std::string_view json);
Parsed<std::vector<ReleaseRevision>> parseHistory(std::string_view json);
Parsed<std::vector<ReleaseSummary>> parseList(std::string_view json);
// `helm get values -o json` prints "null" for a release without user values: that is {}.
Parsed<nlohmann::json> parseValues(std::string_view json);
// The top-level scalars of Chart.yaml (as `helm show chart` prints it).
Parsed<ChartInfo> parseChartYaml(std::string_view yaml);

}  // namespace envop::helm
