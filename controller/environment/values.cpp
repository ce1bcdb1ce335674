#include "controller/environment/values.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <sstream>
#include <string_view>

namespace envop::environment {

using Json = nlohmann::json;

namespace {

// Deep enough for any real values file; guards the stack against hostile input.
constexpr int kMaxDepth = 256;
// Aliases are shared nodes in yaml-cpp, so a small document can expand enormously ("billion
// laughs"); a values file is nowhere near this many nodes.
constexpr std::size_t kMaxNodes = 1'000'000;

// go-yaml v2's resolve table: Helm reads values files with it, so `enabled: yes` is true there
// and must be true here, or the digest and the merge would disagree with Helm.
constexpr std::array<std::string_view, 11> kTrue = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                                    "True", "TRUE", "on",  "On",  "ON"};
constexpr std::array<std::string_view, 11> kFalse = {"n",     "N",     "no",  "No",  "NO", "false",
                                                     "False", "FALSE", "off", "Off", "OFF"};
constexpr std::array<std::string_view, 5> kNull = {"", "~", "null", "Null", "NULL"};
constexpr std::array<std::string_view, 9> kNonFinite = {".nan", ".NaN",  ".NAN",  ".inf", ".Inf",
                                                        ".INF", "+.inf", "+.Inf", "+.INF"};

constexpr bool oneOf(std::string_view s, const auto& table) {
  return std::find(table.begin(), table.end(), s) != table.end();
}

bool isDigits(std::string_view s, int base) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [base](char c) {
    if (base == 16) return std::isxdigit(static_cast<unsigned char>(c)) != 0;
    return c >= '0' && c < static_cast<char>('0' + base);
  });
}

// Go's strconv.ParseInt/ParseUint with base 0 (0x, 0o, 0b and a leading 0 for octal), which is
// what go-yaml v2 resolves plain integers with.
std::optional<Json> parseInteger(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  } else if (s.size() > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
    base = 8;
    s.remove_prefix(2);
  } else if (s.size() > 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
    base = 2;
    s.remove_prefix(2);
  } else if (s.size() > 1 && s[0] == '0') {
    base = 8;
    s.remove_prefix(1);
  }
  if (!isDigits(s, base)) return std::nullopt;
  std::uint64_t magnitude = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), magnitude, base);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  constexpr auto kMaxInt = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (!negative) {
    if (magnitude <= kMaxInt) return Json(static_cast<std::int64_t>(magnitude));
    return Json(magnitude);
  }
  if (magnitude <= kMaxInt) return Json(-static_cast<std::int64_t>(magnitude));
  if (magnitude == kMaxInt + 1) return Json(std::numeric_limits<std::int64_t>::min());
  return std::nullopt;
}

// go-yaml v2's float syntax: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
std::optional<Json> parseFloat(std::string_view s) {
  std::string_view rest = s;
  if (!rest.empty() && (rest[0] == '+' || rest[0] == '-')) rest.remove_prefix(1);
  auto digits = [&rest]() {
    std::size_t n = 0;
    while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
    rest.remove_prefix(n);
    return n;
  };
  if (!rest.empty() && rest[0] == '.') {
    rest.remove_prefix(1);
    if (digits() == 0) return std::nullopt;
  } else {
    if (digits() == 0) return std::nullopt;
    if (!rest.empty() && rest[0] == '.') {
      rest.remove_prefix(1);
      digits();
    }
  }
  if (!rest.empty() && (rest[0] == 'e' || rest[0] == 'E')) {
    rest.remove_prefix(1);
    if (!rest.empty() && (rest[0] == '+' || rest[0] == '-')) rest.remove_prefix(1);
    if (digits() == 0) return std::nullopt;
  }
  if (!rest.empty()) return std::nullopt;
  if (s[0] == '+') s.remove_prefix(1);  // from_chars takes no '+'
  double value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  // Out of range: Go's ParseFloat fails too, and go-yaml then keeps the text as a string.
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return Json(value);
}

class Converter {
 public:
  explicit Converter(std::string_view source) : source_(source) {}

  std::optional<std::string> error_;

  Json convert(const YAML::Node& node, int depth) {
    if (error_) return nullptr;
    if (++nodes_ > kMaxNodes) return fail(node, "too many nodes (aliases expanded too far)");
    if (depth > kMaxDepth) return fail(node, "nested too deeply");
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nullptr;
      case YAML::NodeType::Scalar:
        return scalar(node);
      case YAML::NodeType::Sequence: {
        Json out = Json::array();
        for (const YAML::Node& item : node) out.push_back(convert(item, depth + 1));
        return out;
      }
      case YAML::NodeType::Map: {
        Json out = Json::object();
        for (const auto& entry : node) {
          const YAML::Node& key = entry.first;
          if (key.IsNull()) {
            out["null"] = convert(entry.second, depth + 1);
          } else if (!key.IsScalar()) {
            return fail(key, "a map key is not a scalar");
          } else {
            // Later duplicates win, as in go-yaml v2.
            out[key.Scalar()] = convert(entry.second, depth + 1);
          }
        }
        return out;
      }
    }
    return nullptr;
  }

  Json fail(const YAML::Node& node, std::string_view what) {
    if (!error_) error_ = std::string(source_) + at(node.Mark()) + ": " + std::string(what);
    return nullptr;
  }

  static std::string at(const YAML::Mark& mark) {
    if (mark.is_null()) return "";
    return " (line " + std::to_string(mark.line + 1) + ", column " +
           std::to_string(mark.column + 1) + ")";
  }

 private:
  Json scalar(const YAML::Node& node) {
    const std::string& text = node.Scalar();
    const std::string& tag = node.Tag();
    // "!" marks a quoted or block scalar, which YAML never resolves: it stays a string.
    if (tag == "!" || tag == "tag:yaml.org,2002:str") return text;
    if (oneOf(text, kTrue)) return true;
    if (oneOf(text, kFalse)) return false;
    if (oneOf(text, kNull)) return nullptr;
    if (oneOf(text, kNonFinite) || (text.size() > 1 && text[0] == '-' && text[1] == '.' &&
                                    oneOf(std::string_view(text).substr(1), kNonFinite))) {
      return fail(node, "NaN and infinite numbers are not valid values");
    }
    const char first = text.empty() ? '\0' : text[0];
    if ((first >= '0' && first <= '9') || first == '+' || first == '-' || first == '.') {
      std::string plain = text;
      plain.erase(std::remove(plain.begin(), plain.end(), '_'), plain.end());
      if (auto integer = parseInteger(plain)) return *integer;
      if (auto real = parseFloat(plain)) return *real;
    }
    return text;
  }

  std::string_view source_;
  std::size_t nodes_ = 0;
};

// yaml-cpp's messages are fixed phrases, except a few that append the offending character or
// code point after a colon; cut there so no byte of a secret reaches an error message.
std::string withoutDetail(const std::string& message) {
  return message.substr(0, message.find(':'));
}

}  // namespace

Json mergeValues(const Json& base, const Json& overlay) {
  if (overlay.is_null()) return base;
  if (!overlay.is_object() || !base.is_object()) return overlay;
  Json out = base;
  for (const auto& [key, value] : overlay.items()) {
    auto it = out.find(key);
    if (it != out.end() && it->is_object() && value.is_object()) {
      *it = mergeValues(*it, value);
    } else {
      out[key] = value;  // lists, scalars and null tombstones replace
    }
  }
  return out;
}

Json mergeAll(const std::vector<Json>& layers) {
  Json out = Json::object();
  for (const Json& layer : layers) out = mergeValues(out, layer);
  return out;
}

Json mergeReleaseValues(const Json& specValues, const std::vector<Json>& valuesFrom,
                        const Json& releaseValues) {
  Json out = mergeValues(Json::object(), specValues);
  for (const Json& layer : valuesFrom) out = mergeValues(out, layer);
  return mergeValues(out, releaseValues);
}

Json stripNulls(const Json& values) {
  if (!values.is_object()) return values;
  Json out = Json::object();
  for (const auto& [key, value] : values.items()) {
    if (!value.is_null()) out[key] = stripNulls(value);
  }
  return out;
}

namespace {

// Ignores every event: for a pass that only counts documents.
struct IgnoreEvents final : YAML::EventHandler {
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Whether yaml-cpp's parser reaches the end of the stream. yaml-cpp 0.7 (Debian bookworm) never
// does on a flow collection followed by a stray top-level ',' ("{a: 1},"): every call yields
// one more document without consuming the ',', so YAML::LoadAll loops, allocating, until the
// process runs out of memory (test/fuzz's values_fuzzer found it). Every document after the
// first starts after a "---" or a "..." line, so a stream has at most one more document than
// it has of those; a parser still going past that is stuck.
bool parserTerminates(const std::string& text) {
  std::size_t markers = 0;
  for (const std::string_view m : {"---", "..."}) {
    for (auto at = text.find(m); at != std::string::npos; at = text.find(m, at + 1)) ++markers;
  }
  std::istringstream in(text);
  YAML::Parser parser(in);
  IgnoreEvents ignore;
  for (std::size_t documents = 0; documents <= markers + 1; ++documents) {
    if (!parser.HandleNextDocument(ignore)) return true;
  }
  return false;
}

// The YAML documents of `text`, each typed as Helm reads values; one error policy for values
// files and manifests alike (errors name the source and never echo content).
std::variant<std::vector<Json>, std::string> loadDocuments(std::string_view text,
                                                           std::string_view sourceForErrors,
                                                           bool valuesFile) {
  const std::string source(sourceForErrors);
  std::vector<YAML::Node> roots;
  try {
    if (valuesFile) {
      roots.push_back(YAML::Load(std::string(text)));
    } else {
      const std::string stream(text);
      if (!parserTerminates(stream)) return source + ": invalid YAML: the stream does not end";
      roots = YAML::LoadAll(stream);
    }
  } catch (const YAML::Exception& e) {
    return source + Converter::at(e.mark) + ": invalid YAML: " + withoutDetail(e.msg);
  } catch (const std::exception&) {
    return source + ": invalid YAML";
  }
  std::vector<Json> out;
  for (const YAML::Node& root : roots) {
    if (root.IsNull() || !root.IsDefined()) continue;
    if (valuesFile && !root.IsMap()) return source + ": the values document must be a map";
    Converter converter(sourceForErrors);
    Json doc;
    try {
      doc = converter.convert(root, 0);
    } catch (const std::exception&) {
      return source + ": invalid YAML";
    }
    if (converter.error_) return *converter.error_;
    try {
      // Helm takes values as JSON text; bytes that are not UTF-8 cannot get there.
      (void)doc.dump();
    } catch (const Json::exception&) {
      return source + ": the values contain text that is not valid UTF-8";
    }
    out.push_back(std::move(doc));
  }
  return out;
}

}  // namespace

std::variant<Json, std::string> parseValuesYaml(std::string_view text,
                                                std::string_view sourceForErrors) {
  auto docs = loadDocuments(text, sourceForErrors, true);
  if (auto* error = std::get_if<std::string>(&docs)) return *error;
  auto& values = std::get<std::vector<Json>>(docs);
  if (values.empty()) return Json::object();
  return std::move(values.front());
}

std::variant<std::vector<Json>, std::string> parseYamlDocuments(std::string_view text,
                                                                std::string_view sourceForErrors) {
  return loadDocuments(text, sourceForErrors, false);
}

}  // namespace envop::environment
