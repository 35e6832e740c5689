// Log lines in containerd's shape: time="..." level=info msg="..." on stderr.
#pragma once

#include <kj/string.h>

namespace ctrd {

enum class LogLevel { TRACE, DEBUG, INFO, WARN, ERROR, FATAL };

kj::Maybe<LogLevel> tryParseLogLevel(kj::StringPtr name);

void setLogLevel(LogLevel level);
// Process-wide, like KJ's own log severity: one process has one stderr.

void setLogSource(kj::StringPtr name);
// Every line names the process it came from, since all services share the supervisor's stderr.

bool logEnabled(LogLevel level);
void logLine(LogLevel level, kj::StringPtr message);

template <typename... Params>
void logInfo(Params&&... params) {
  if (logEnabled(LogLevel::INFO)) logLine(LogLevel::INFO, kj::str(kj::fwd<Params>(params)...));
}
template <typename... Params>
void logWarn(Params&&... params) {
  if (logEnabled(LogLevel::WARN)) logLine(LogLevel::WARN, kj::str(kj::fwd<Params>(params)...));
}
template <typename... Params>
void logError(Params&&... params) {
  if (logEnabled(LogLevel::ERROR)) logLine(LogLevel::ERROR, kj::str(kj::fwd<Params>(params)...));
}
template <typename... Params>
void logDebug(Params&&... params) {
  if (logEnabled(LogLevel::DEBUG)) logLine(LogLevel::DEBUG, kj::str(kj::fwd<Params>(params)...));
}

}  // namespace ctrd
