// Logging set-up for the whole process: one line per event, as text for people
// or as one JSON object per line for log pipelines (--log-format json).
#pragma once

#include <string>
#include <string_view>

namespace envop::util {

enum class LogFormat { kText, kJson };

// Parses "json" / "text"; returns false for anything else.
bool parseLogFormat(std::string_view text, LogFormat& out);

// Parses "trace|debug|info|warn|error|critical|off" into spdlog's level number.
bool parseLogLevel(std::string_view text, int& out);

// Installs the default logger; safe to call once at start-up before threads exist.
void setupLogging(LogFormat format, int level);

}  // namespace envop::util
