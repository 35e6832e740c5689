#include "clock.h"

namespace ctrd {

int64_t nowNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return toNanos(ts);
}

}  // namespace ctrd
