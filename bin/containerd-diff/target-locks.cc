#include "target-locks.h"

#include <kj/debug.h>
#include <sys/stat.h>

namespace ctrd {

TargetLocks::Held::~Held() {
  if (locks == nullptr) return;
  {
    std::lock_guard<std::mutex> guard(locks->mutex);
    locks->busy.erase(key);
  }
  locks->released.notify_all();
}

TargetLocks::Held TargetLocks::lock(int dirFd) {
  struct stat st;
  KJ_SYSCALL(fstat(dirFd, &st));
  auto key = std::make_pair(st.st_dev, st.st_ino);
  std::unique_lock<std::mutex> guard(mutex);
  released.wait(guard, [&]() { return busy.count(key) == 0; });
  busy.insert(key);
  return Held(*this, key);
}

}  // namespace ctrd
