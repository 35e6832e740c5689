// Wall-clock times as containerd records them: nanoseconds since the Unix epoch.
#pragma once

#include <kj/common.h>
#include <kj/string.h>
#include <stdint.h>
#include <time.h>

namespace ctrd {

int64_t nowNanos();
inline int64_t toNanos(const struct timespec& ts) {
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

kj::Maybe<int64_t> parseRfc3339(kj::StringPtr text);
// "2026-12-02T20:43:46Z", "2026-12-02T20:43:46.5+01:00", as Go's time.RFC3339Nano parses
// (containerd's `containerd.io/gc.expire`); null when it is not one.

kj::String formatRfc3339(int64_t nanoseconds);
// UTC, with the nanoseconds Go prints (none when zero, trailing zeros dropped).
kj::String formatGoTime(int64_t nanoseconds);
// Go's time.Time.String() in UTC: "2026-12-03 03:50:00.123456789 +0000 UTC".

}  // namespace ctrd
