#include "test/support/secret_scan.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "controller/kube/config.h"

namespace envop::testing {
namespace {

enum class Alphabet { kStandard, kUrl };

// Base64 without its padding, in the standard or the URL alphabet (RFC 4648 5: - and _ for +
// and /).
std::string encodeUnpadded(const std::string& bytes, Alphabet alphabet) {
  std::string out = kube::encodeBase64(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  if (alphabet == Alphabet::kUrl) {
    for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  return out;
}

// The base64 characters that depend on the value's bytes alone when it starts `align` bytes
// into a longer blob: the first characters share bits with the bytes before it and the last
// with the bytes after it, so a scan for the whole encoding would miss it there.
std::string base64Core(const std::string& value, std::size_t align, Alphabet alphabet) {
  const std::string encoded = encodeUnpadded(std::string(align, '\0') + value, alphabet);
  const std::size_t first = (8 * align + 5) / 6;              // first char wholly in the value
  const std::size_t last = (8 * (align + value.size())) / 6;  // one past the last such char
  return last > first ? encoded.substr(first, last - first) : std::string();
}

std::string jsonEscaped(const std::string& value) {
  const std::string quoted =
      nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return quoted.substr(1, quoted.size() - 2);
}

std::string jsonEscapedAscii(const std::string& value) {
  const std::string quoted =
      nlohmann::json(value).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  return quoted.substr(1, quoted.size() - 2);
}

// Go's encoding/json (kubectl, the apiserver) also escapes <, > and & as \u003c, \u003e, \u0026.
std::string goJsonEscaped(const std::string& value) {
  std::string out;
  for (const char c : jsonEscaped(value)) {
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::string base64Encode(const std::string& bytes) {
  std::string out = encodeUnpadded(bytes, Alphabet::kStandard);
  while (out.size() % 4 != 0) out.push_back('=');
  return out;
}

std::map<std::string, std::string> secretPatterns(const std::string& value) {
  std::vector<std::pair<std::string, std::string>> candidates = {
      {"plain", value},
      {"json-escaped", jsonEscaped(value)},
      {"json-escaped-go", goJsonEscaped(value)},
      {"json-escaped-ascii", jsonEscapedAscii(value)},
      {"json-escaped-twice", jsonEscaped(jsonEscaped(value))},
  };
  for (std::size_t align = 0; align < 3; ++align) {
    // Appended, not "@" + std::string: GCC 12 at -O3 warns there (-Wrestrict, a false positive).
    std::string suffix;
    if (align != 0) {
      suffix = "@";
      suffix += static_cast<char>('0' + align);
    }
    candidates.emplace_back("base64" + suffix, base64Core(value, align, Alphabet::kStandard));
    candidates.emplace_back("base64url" + suffix, base64Core(value, align, Alphabet::kUrl));
  }
  std::map<std::string, std::string> patterns;
  std::vector<std::string> seen;
  for (auto& [form, pattern] : candidates) {
    if (pattern.empty()) continue;
    bool duplicate = false;
    for (const auto& s : seen) duplicate = duplicate || s == pattern;
    if (duplicate) continue;
    seen.push_back(pattern);
    patterns.emplace(form, std::move(pattern));
  }
  return patterns;
}

std::vector<SecretHit> scanForSecrets(const std::map<std::string, std::string>& secrets,
                                      const std::vector<ScanSource>& sources) {
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> patterns;
  for (const auto& [name, value] : secrets) {
    if (value.size() < kMinSecretLength) {
      throw std::invalid_argument("secret " + name + " is shorter than " +
                                  std::to_string(kMinSecretLength) + " bytes");
    }
    patterns.emplace_back(name, secretPatterns(value));
  }
  std::vector<SecretHit> hits;
  for (const auto& source : sources) {
    for (const auto& [name, forms] : patterns) {
      for (const auto& [form, pattern] : forms) {
        for (auto pos = source.text.find(pattern); pos != std::string::npos;
             pos = source.text.find(pattern, pos + 1)) {
          hits.push_back({source.where, name, form, pos});
        }
      }
    }
  }
  return hits;
}

std::string describeHits(const std::vector<SecretHit>& hits) {
  std::ostringstream out;
  for (const auto& hit : hits) {
    out << hit.where << ": secret " << hit.secret << " as " << hit.form << " at offset "
        << hit.offset << "\n";
  }
  return out.str();
}

namespace {

nlohmann::json kubectlJson(const KubectlRunner& kubectl, const std::vector<std::string>& args) {
  const std::string out = kubectl(args);
  try {
    return nlohmann::json::parse(out);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("kubectl output is not JSON: " + std::string(e.what()));
  }
}

std::string readWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::vector<ScanSource> eventSources(const KubectlRunner& kubectl) {
  std::vector<ScanSource> sources;
  const auto list = kubectlJson(kubectl, {"get", "events", "-A", "-o", "json"});
  for (const auto& item : list.value("items", nlohmann::json::array())) {
    const auto& meta = item.value("metadata", nlohmann::json::object());
    sources.push_back({"Event " + meta.value("namespace", std::string()) + "/" +
                           meta.value("name", std::string()),
                       item.dump()});
  }
  return sources;
}

std::vector<ScanSource> environmentStatusSources(const KubectlRunner& kubectl) {
  std::vector<ScanSource> sources;
  const auto list = kubectlJson(kubectl, {"get", "environments", "-o", "json"});
  for (const auto& item : list.value("items", nlohmann::json::array())) {
    const auto& meta = item.value("metadata", nlohmann::json::object());
    sources.push_back({"Environment " + meta.value("name", std::string()) + " status",
                       item.value("status", nlohmann::json::object()).dump()});
  }
  return sources;
}

std::vector<ScanSource> fileSources(const std::vector<std::string>& paths) {
  std::vector<ScanSource> sources;
  for (const auto& path : paths) sources.push_back({"file " + path, readWhole(path)});
  return sources;
}

std::vector<ScanSource> directorySources(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> paths;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      paths.push_back(entry.path().string());
    }
  }
  return fileSources(paths);
}

void writeHelmArgvShim(const std::string& shimPath, const std::string& realHelm,
                       const std::string& argvLog) {
  {
    std::ofstream out(shimPath, std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + shimPath);
    // One write per run (the line is built first), so concurrent helm children do not
    // interleave inside a line.
    out << "#!/usr/bin/env bash\n"
        << "line=\"\"\n"
        << "for a in \"$@\"; do line+=\"$a \"; done\n"
        << "printf '%s\\n' \"$line\" >> '" << argvLog << "'\n"
        << "exec '" << realHelm << "' \"$@\"\n";
  }
  if (::chmod(shimPath.c_str(), 0755) != 0) {
    throw std::runtime_error("cannot make " + shimPath + " executable");
  }
}

}  // namespace envop::testing
