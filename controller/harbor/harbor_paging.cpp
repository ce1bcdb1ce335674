#include "controller/harbor/harbor_paging.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string_view>

namespace envop::harbor {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Whether the parameters after "<target>" (";rel=next; title=x") name rel "next". rel may be
// quoted and may list several relation types ("next last").
bool relIsNext(std::string_view params) {
  while (!params.empty()) {
    const size_t semi = params.find(';');
    std::string_view param = trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
    const size_t eq = param.find('=');
    if (eq == std::string_view::npos || lower(trim(param.substr(0, eq))) != "rel") continue;
    std::string_view value = trim(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    const std::string types = lower(value);
    size_t from = 0;
    while (from <= types.size()) {
      const size_t space = std::min(types.find(' ', from), types.size());
      if (types.compare(from, space - from, "next") == 0 && space - from == 4) return true;
      from = space + 1;
    }
  }
  return false;
}

std::optional<std::string> relativeTarget(std::string_view target) {
  if (const size_t scheme = target.find("://"); scheme != std::string_view::npos) {
    const size_t path = target.find('/', scheme + 3);
    if (path == std::string_view::npos) return std::nullopt;
    target = target.substr(path);
  }
  if (target.substr(0, 10) != "/api/v2.0/") return std::nullopt;
  return std::string(target);
}

}  // namespace

std::optional<std::string> nextPageLink(const std::string& linkHeader) {
  // Link values are comma separated; a comma inside <...> belongs to the target (Harbor's q
  // syntax uses commas), so split at commas outside angle brackets only.
  std::string_view rest = linkHeader;
  while (!rest.empty()) {
    const size_t open = rest.find('<');
    if (open == std::string_view::npos) break;
    const size_t close = rest.find('>', open);
    if (close == std::string_view::npos) break;
    const std::string_view target = trim(rest.substr(open + 1, close - open - 1));
    rest = rest.substr(close + 1);
    const size_t nextLink = rest.find('<');
    const size_t comma = rest.substr(0, nextLink).rfind(',');
    const std::string_view params =
        rest.substr(0, comma == std::string_view::npos ? nextLink : comma);
    if (relIsNext(params)) return relativeTarget(target);
  }
  return std::nullopt;
}

std::optional<std::int64_t> parseTotalCount(const std::string& value) {
  const std::string_view v = trim(value);
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < 0) return std::nullopt;
  return n;
}

}  // namespace envop::harbor
