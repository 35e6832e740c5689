// Wall-clock times as containerd records them: nanoseconds since the Unix epoch.
#pragma once

#include <stdint.h>
#include <time.h>

namespace ctrd {

int64_t nowNanos();
inline int64_t toNanos(const struct timespec& ts) {
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace ctrd
