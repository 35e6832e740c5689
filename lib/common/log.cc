#include "log.h"

#include <kj/vector.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

namespace ctrd {
namespace {

constexpr kj::StringPtr LEVEL_NAMES[] = {"trace"_kj,   "debug"_kj, "info"_kj,
                                         "warning"_kj, "error"_kj, "fatal"_kj};
LogLevel currentLevel = LogLevel::INFO;
char source[64] = "containerd";

kj::String quote(kj::StringPtr s) {
  kj::Vector<char> out(s.size() + 2);
  out.add('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out.add('\\');
    if (c == '\n') {
      out.addAll("\\n"_kj);
      continue;
    }
    out.add(c);
  }
  out.add('"');
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

}  // namespace

kj::Maybe<LogLevel> tryParseLogLevel(kj::StringPtr name) {
  for (size_t i = 0; i < kj::size(LEVEL_NAMES); i++) {
    if (name == LEVEL_NAMES[i]) return static_cast<LogLevel>(i);
  }
  if (name == "warn") return LogLevel::WARN;
  if (name == "panic") return LogLevel::FATAL;
  return nullptr;
}

void setLogLevel(LogLevel level) {
  currentLevel = level;
}

void setLogSource(kj::StringPtr name) {
  size_t n = kj::min(name.size(), sizeof(source) - 1);
  memcpy(source, name.begin(), n);
  source[n] = '\0';
}

bool logEnabled(LogLevel level) {
  return level >= currentLevel;
}

void logLine(LogLevel level, kj::StringPtr message) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[64];
  size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(when + n, sizeof(when) - n, ".%06ldZ", ts.tv_nsec / 1000);
  auto line = kj::str("time=\"", when, "\" level=", LEVEL_NAMES[static_cast<int>(level)],
                      " msg=", quote(message), " process=", source, "\n");
  // One write per line so that the lines of several processes sharing stderr do not interleave.
  ssize_t ignored = write(STDERR_FILENO, line.begin(), line.size());
  (void)ignored;
}

}  // namespace ctrd
