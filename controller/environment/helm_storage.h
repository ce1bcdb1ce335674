// HelmStorage reads Helm's own record of its releases without running helm: Helm keeps
// each revision in a Secret labelled owner=helm, name=<release>, status=<status>,
// version=<revision>, and a metadata-only watch of those Secrets (their labels, never
// the release payload) tells every release's newest revision and status. This is what
// lets a resync of an unchanged Environment run no helm process at all.
#pragma once

#include <optional>
#include <string>

#include "controller/environment/release_state.h"
#include "controller/runtime/store.h"

namespace envop::environment {

inline constexpr const char* kHelmStorageSelector = "owner=helm";

class HelmStorage final {
 public:
  // secrets: the cache of Secrets labelled owner=helm (metadata only).
  explicit HelmStorage(runtime::StorePtr secrets);

  // The newest revision of the release; nullopt when Helm has none.
  std::optional<StoredRelease> latest(const std::string& ns, const std::string& release) const;

  // The name of a revision's Secret (Helm's storage driver naming).
  static std::string secretName(const std::string& release, int revision);

 private:
  runtime::StorePtr secrets_;
};

// RFC 3339 ("2026-12-01T09:00:00Z", fractions and offsets allowed); nullopt when malformed.
std::optional<std::chrono::system_clock::time_point> parseRfc3339(const std::string& text);

}  // namespace envop::environment
