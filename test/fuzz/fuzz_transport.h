// FuzzTransport answers a fuzz target's requests from the fuzz input: send() hands out the
// scripted responses in order (then "no answer"), stream() feeds the scripted lines. It lets the
// targets drive the production REST clients (kube::Client, harbor::HarborClient), so what is
// fuzzed is their decoding, not a copy of it.
#pragma once

#include <cctype>
#include <cstddef>
#include <cstdlib>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/kube/transport.h"

namespace envop::fuzz {

class FuzzTransport final : public kube::Transport {
 public:
  FuzzTransport(std::deque<kube::HttpResponse> responses, std::vector<std::string> lines)
      : responses_(std::move(responses)), lines_(std::move(lines)) {}

  kube::HttpResponse send(const kube::HttpRequest&) override {
    if (responses_.empty()) return {.status = 0, .error = "fuzz: no more answers"};
    kube::HttpResponse r = std::move(responses_.front());
    responses_.pop_front();
    return r;
  }
  kube::HttpResponse stream(const kube::HttpRequest&,
                            const std::function<bool(std::string_view line)>& onLine,
                            kube::Cancellation& cancel) override {
    for (const auto& line : lines_) {
      if (cancel.cancelled() || !onLine(line)) break;
    }
    return {.status = 200};
  }
  const std::string& host() const override { return host_; }

 private:
  std::deque<kube::HttpResponse> responses_;
  std::vector<std::string> lines_;
  std::string host_ = "fuzz";
};

// The input split at every occurrence of `separator` (an input without one is one part).
inline std::vector<std::string> splitInput(std::string_view data, std::string_view separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t at = data.find(separator, start);
    if (at == std::string_view::npos) {
      parts.emplace_back(data.substr(start));
      return parts;
    }
    parts.emplace_back(data.substr(start, at - start));
    start = at + separator.size();
  }
}

// "STATUS\nname: value\n...\n\nbody" → a response (a malformed status line reads as 200), so a
// corpus file is a readable transcript of what a server answered.
inline kube::HttpResponse parseResponse(const std::string& text) {
  kube::HttpResponse r{.status = 200};
  std::size_t pos = 0;
  auto nextLine = [&]() -> std::string_view {
    const std::size_t end = text.find('\n', pos);
    std::string_view line = std::string_view(text).substr(
        pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? text.size() : end + 1;
    return line;
  };
  const std::string_view status = nextLine();
  int code = 0;
  for (const char c : status.substr(0, 3)) {
    if (c < '0' || c > '9') {
      code = -1;
      break;
    }
    code = code * 10 + (c - '0');
  }
  if (code >= 0 && status.size() >= 3) r.status = code;
  while (pos < text.size()) {
    const std::string_view line = nextLine();
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name(line.substr(0, colon));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    r.headers[name] = std::string(value);
    if (name == "retry-after") r.retryAfterSeconds = std::atoi(std::string(value).c_str());
  }
  r.body = text.substr(pos);
  return r;
}

}  // namespace envop::fuzz
