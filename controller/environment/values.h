// Values are the Helm values a release is installed with, built from layers: spec.values under
// everything, then each valuesFrom document in order, then the release's own values. Layers
// merge the way Helm merges the files given with `-f`: maps merge key by key, lists and scalars
// replace, and a null replaces too — the null is kept on purpose, because Helm itself then drops
// that key *and the chart's default for it*; removing the key here would bring the chart's
// default back, which is not what a user who writes `key: null` asks for.
//
// valuesFrom documents are YAML text from ConfigMaps and Secrets; they are converted to JSON with
// the scalar rules Helm's YAML library applies (go-yaml v2, YAML 1.1 booleans included) so that
// what the digest sees is what Helm would see. Errors never quote the document: it may be secret.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace envop::environment {

// `overlay` on top of `base`: objects merge recursively, anything else in `overlay` (lists,
// scalars, null) replaces what `base` holds. A non-object `overlay` replaces `base` entirely;
// a null `overlay` at the top level is "no layer" and returns `base`.
nlohmann::json mergeValues(const nlohmann::json& base, const nlohmann::json& overlay);

// Merges the layers in order, each on top of the previous ones; starts from {}.
nlohmann::json mergeAll(const std::vector<nlohmann::json>& layers);

// The values a release is installed with: specValues, then each valuesFrom document in order,
// then the release's own values.
nlohmann::json mergeReleaseValues(const nlohmann::json& specValues,
                                  const std::vector<nlohmann::json>& valuesFrom,
                                  const nlohmann::json& releaseValues);

// The values as a chart template sees them once Helm has applied the null tombstones: every
// null-valued key removed, recursively. For display and tests; hand Helm the unstripped values.
nlohmann::json stripNulls(const nlohmann::json& values);

// Parses a values document. An empty document is {} (as Helm treats an empty values file);
// a document that is not a map, an unsupported scalar (.nan, .inf) or invalid YAML is an error
// that names `sourceForErrors` (e.g. `Secret gateway-secrets key values.yaml`) and the line, but
// never the content.
std::variant<nlohmann::json, std::string> parseValuesYaml(std::string_view text,
                                                          std::string_view sourceForErrors);

// Every document of a multi-document YAML stream (a rendered Helm manifest), typed the way
// the values are; empty documents are skipped. Errors never echo content.
std::variant<std::vector<nlohmann::json>, std::string> parseYamlDocuments(
    std::string_view text, std::string_view sourceForErrors);

}  // namespace envop::environment
