// Values YAML as envop reads it (spec values are JSON already; valuesFrom ConfigMap/Secret keys
// and rendered manifests are YAML): parseValuesYaml, parseYamlDocuments, the merge of the
// layers a release is installed with, and the digest of the merged values. Input: YAML text; when
// it contains a line "---" the documents also become merge layers of each other, in both orders.
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "controller/environment/release_digest.h"
#include "controller/environment/values.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace envop::environment;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto single = parseValuesYaml(text, "fuzz values.yaml");
  auto docs = parseYamlDocuments(text, "fuzz manifest");
  std::vector<nlohmann::json> layers;
  if (auto* d = std::get_if<std::vector<nlohmann::json>>(&docs)) layers = *d;
  if (auto* v = std::get_if<nlohmann::json>(&single)) layers.push_back(*v);
  if (layers.empty()) return 0;
  const nlohmann::json merged = mergeAll(layers);
  (void)stripNulls(merged);
  const std::vector<nlohmann::json> reversed(layers.rbegin(), layers.rend());
  (void)mergeReleaseValues(layers.front(), reversed, layers.back());
  for (const auto& a : layers) (void)mergeValues(merged, a);
  // What the release's digest and helm's values file are made of: the merged values serialised
  // (parsing refused what is not UTF-8, so a plain dump must not throw).
  (void)merged.dump();
  (void)releaseDigest(ResolvedChart{}, "1.0.0", merged);
  return 0;
}
