#include "controller/harbor/harbor_errors.h"

#include <cctype>

namespace envop::harbor {
namespace {

constexpr size_t kExcerpt = 200;

// One line, no control characters, at most kExcerpt characters: the body of a proxy's error
// page goes into a condition message, which must stay readable in `kubectl get -o wide`.
std::string excerpt(const std::string& body) {
  std::string out;
  bool space = false;
  for (const char c : body) {
    if (std::isspace(static_cast<unsigned char>(c)) ||
        std::iscntrl(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
    if (out.size() >= kExcerpt) {
      out += "...";
      break;
    }
  }
  return out;
}

std::string harborErrors(const std::string& body) {
  const Json parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return "";
  const auto errors = parsed.find("errors");
  if (errors == parsed.end() || !errors->is_array()) return "";
  std::string out;
  for (const Json& e : *errors) {
    if (!e.is_object()) continue;
    const std::string code = e.value("code", "");
    const std::string message = e.value("message", "");
    if (code.empty() && message.empty()) continue;
    if (!out.empty()) out += "; ";
    out += code.empty() ? message : (message.empty() ? code : code + ": " + message);
  }
  return out;
}

}  // namespace

std::string describeErrorBody(int status, const std::string& body) {
  try {
    if (std::string errors = harborErrors(body); !errors.empty()) return errors;
  } catch (const std::exception&) {
    // value() throws on a code or message of the wrong type: describe the body instead.
  }
  std::string out = "HTTP " + std::to_string(status);
  if (const std::string e = excerpt(body); !e.empty()) out += ": " + e;
  return out;
}

HarborError errorFromAnswer(int status, const std::string& body, const std::string& requestId) {
  return HarborError{
      .status = status, .message = describeErrorBody(status, body), .requestId = requestId};
}

HarborError errorWithoutAnswer(const std::string& what, const std::string& requestId) {
  return HarborError{.status = 0,
                     .message = what.empty() ? "no answer from Harbor" : what,
                     .requestId = requestId};
}

}  // namespace envop::harbor
