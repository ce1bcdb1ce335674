#include "controller/util/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

namespace envop::util {
namespace {

// One JSON object per line. A pattern string cannot escape quotes or newlines in the
// message, so the line is built as a JSON value and dumped.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    time_.format(msg, ts_);
    nlohmann::json line = {
        {"ts", std::string(ts_.data(), ts_.size())},
        {"level", std::string(spdlog::level::to_string_view(msg.level).data(),
                              spdlog::level::to_string_view(msg.level).size())},
        {"logger", std::string(msg.logger_name.data(), msg.logger_name.size())},
        {"msg", std::string(msg.payload.data(), msg.payload.size())},
    };
    ts_.clear();
    const std::string text =
        line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }

 private:
  spdlog::pattern_formatter time_{"%Y-%m-%dT%H:%M:%S.%fZ", spdlog::pattern_time_type::utc, ""};
  spdlog::memory_buf_t ts_;
};

}  // namespace

bool parseLogFormat(std::string_view text, LogFormat& out) {
  if (text == "json") {
    out = LogFormat::kJson;
    return true;
  }
  if (text == "text") {
    out = LogFormat::kText;
    return true;
  }
  return false;
}

bool parseLogLevel(std::string_view text, int& out) {
  static constexpr std::string_view kNames[] = {"trace", "debug",    "info", "warn",
                                                "error", "critical", "off"};
  for (int i = 0; i < static_cast<int>(std::size(kNames)); ++i) {
    if (text == kNames[i]) {
      out = i;
      return true;
    }
  }
  return false;
}

void setupLogging(LogFormat format, int level) {
  auto logger = spdlog::stderr_logger_mt("envop");
  if (format == LogFormat::kJson) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(static_cast<spdlog::level::level_enum>(level));
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace envop::util
