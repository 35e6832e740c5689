// One apply (or inherit) per target directory at a time.
//
// Two appliers writing the same tree could each replace a name the other is about to change:
// even with every metadata call made through an O_NOFOLLOW fd, a layer's meaning depends on the
// order of its entries, which concurrent writers would interleave. Applies of a pull go into
// separate directories and never wait here.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <mutex>
#include <set>
#include <utility>

namespace ctrd {

class TargetLocks {
public:
  class Held {
  public:
    Held(TargetLocks& locks, std::pair<dev_t, ino_t> key) : locks(&locks), key(key) {}
    Held(Held&& other) : locks(other.locks), key(other.key) { other.locks = nullptr; }
    Held(const Held&) = delete;
    ~Held();

  private:
    TargetLocks* locks;
    std::pair<dev_t, ino_t> key;
  };

  Held lock(int dirFd);
  // Blocks (on a worker thread) until no other holder has the directory `dirFd` is.

private:
  std::mutex mutex;
  std::condition_variable released;
  std::set<std::pair<dev_t, ino_t>> busy;
};

}  // namespace ctrd
