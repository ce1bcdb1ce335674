#include "controller/helm/helm_output.h"

#include <algorithm>
#include <cctype>

namespace envop::helm {
namespace {

using Json = nlohmann::json;

// helm prints revisions as numbers in status/history but as strings in list.
int intField(const Json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return 0;
  const Json& v = j.at(key);
  if (v.is_number_integer()) return v.get<int>();
  if (v.is_string()) {
    try {
      return std::stoi(v.get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

std::string stringField(const Json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j.at(key).is_string()) return "";
  return j.at(key).get<std::string>();
}

Parsed<Json> parseJson(std::string_view text, const char* what) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return {.error = std::string("helm printed no valid JSON for ") + what};
  return {.value = std::move(j)};
}

std::string unquote(std::string v) {
  while (!v.empty() && (v.back() == ' ' || v.back() == '\r' || v.back() == '\t')) v.pop_back();
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
    return v.substr(1, v.size() - 2);
  }
  return v;
}

}  // namespace

std::string redact(std::string text, const std::vector<std::string>& secrets) {
  std::vector<std::string> sorted;
  for (const auto& s : secrets) {
    if (!s.empty()) sorted.push_back(s);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  const std::string mask = kRedacted;
  for (const auto& secret : sorted) {
    for (std::size_t at = text.find(secret); at != std::string::npos;
         at = text.find(secret, at + mask.size())) {
      text.replace(at, secret.size(), mask);
    }
  }
  return text;
}

std::string trimTail(std::string_view text, std::size_t maxBytes) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  if (text.size() <= maxBytes) return std::string(text);
  const std::string_view marker = "...";
  std::size_t start = text.size() - (maxBytes > marker.size() ? maxBytes - marker.size() : 0);
  // Prefer a whole line, unless that would leave nothing (one huge line).
  const std::size_t newline = text.find('\n', start);
  if (newline != std::string_view::npos && newline + 1 < text.size()) {
    start = newline + 1;
  } else {
    while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) {
      ++start;
    }
  }
  return std::string(marker) + std::string(text.substr(start));
}

std::optional<std::string> parseDigest(std::string_view text) {
  const std::string_view key = "Digest: ";
  for (std::size_t at = text.find(key); at != std::string_view::npos; at = text.find(key, at + 1)) {
    if (at != 0 && text[at - 1] != '\n') continue;
    std::string_view rest = text.substr(at + key.size());
    rest = rest.substr(0, rest.find_first_of("\r\n \t"));
    if (rest.rfind("sha256:", 0) == 0 && rest.size() == 7 + 64) return std::string(rest);
  }
  return std::nullopt;
}

bool isPendingStatus(const std::string& status) { return status.rfind("pending-", 0) == 0; }

bool isReleaseNotFound(std::string_view stderrText) {
  return stderrText.find("release: not found") != std::string_view::npos;
}

Parsed<ReleaseStatus> parseStatus(std::string_view json) {
  Parsed<Json> j = parseJson(json, "a release status");
  if (!j.value) return {.error = j.error};
  const Json& r = *j.value;
  if (!r.is_object() || !r.contains("info") || !r.at("info").is_object()) {
    return {.error = "helm status JSON has no info object"};
  }
  ReleaseStatus s;
  s.name = stringField(r, "name");
  s.ns = stringField(r, "namespace");
  s.revision = intField(r, "version");
  s.status = stringField(r.at("info"), "status");
  s.description = stringField(r.at("info"), "description");
  if (r.contains("chart") && r.at("chart").is_object()) {
    const Json& md = r.at("chart").value("metadata", Json::object());
    s.chartName = stringField(md, "name");
    s.chartVersion = stringField(md, "version");
    s.appVersion = stringField(md, "appVersion");
  }
  if (r.contains("config") && r.at("config").is_object()) s.config = r.at("config");
  if (s.status.empty() || s.revision <= 0)
    return {.error = "helm status JSON lacks status/version"};
  return {.value = std::move(s)};
}

Parsed<std::vector<ReleaseRevision>> parseHistory(std::string_view json) {
  Parsed<Json> j = parseJson(json, "a release history");
  if (!j.value) return {.error = j.error};
  if (!j.value->is_array()) return {.error = "helm history JSON is not a list"};
  std::vector<ReleaseRevision> out;
  for (const Json& row : *j.value) {
    out.push_back({.revision = intField(row, "revision"),
                   .status = stringField(row, "status"),
                   .chart = stringField(row, "chart"),
                   .appVersion = stringField(row, "app_version"),
                   .description = stringField(row, "description"),
                   .updated = stringField(row, "updated")});
  }
  return {.value = std::move(out)};
}

Parsed<std::vector<ReleaseSummary>> parseList(std::string_view json) {
  Parsed<Json> j = parseJson(json, "a release list");
  if (!j.value) return {.error = j.error};
  if (!j.value->is_array()) return {.error = "helm list JSON is not a list"};
  std::vector<ReleaseSummary> out;
  for (const Json& row : *j.value) {
    out.push_back({.name = stringField(row, "name"),
                   .ns = stringField(row, "namespace"),
                   .revision = intField(row, "revision"),
                   .status = stringField(row, "status"),
                   .chart = stringField(row, "chart"),
                   .appVersion = stringField(row, "app_version"),
                   .updated = stringField(row, "updated")});
  }
  return {.value = std::move(out)};
}

Parsed<nlohmann::json> parseValues(std::string_view json) {
  Parsed<Json> j = parseJson(json, "release values");
  if (!j.value) return j;
  if (j.value->is_null()) return {.value = Json::object()};
  if (!j.value->is_object()) return {.error = "helm values JSON is not an object"};
  return j;
}

Parsed<ChartInfo> parseChartYaml(std::string_view yaml) {
  ChartInfo info;
  std::size_t pos = 0;
  while (pos < yaml.size()) {
    std::size_t end = yaml.find('\n', pos);
    if (end == std::string_view::npos) end = yaml.size();
    const std::string_view line = yaml.substr(pos, end - pos);
    pos = end + 1;
    // Only top-level keys: nested maps (maintainers, dependencies) are indented or listed.
    if (line.empty() || line[0] == ' ' || line[0] == '-' || line[0] == '#') continue;
    const std::size_t colon = line.find(": ");
    if (colon == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, colon);
    std::string value = unquote(std::string(line.substr(colon + 2)));
    if (key == "name") info.name = std::move(value);
    if (key == "version") info.version = std::move(value);
    if (key == "appVersion") info.appVersion = std::move(value);
  }
  if (info.name.empty() || info.version.empty()) return {.error = "Chart.yaml lacks name/version"};
  return {.value = std::move(info)};
}

}  // namespace envop::helm
