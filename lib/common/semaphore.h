// At most N of something at once, on one event loop: downloads of a pull, worker threads of a
// service.
#pragma once

#include <kj/async.h>
#include <kj/vector.h>

namespace ctrd {

class Semaphore {
public:
  explicit Semaphore(size_t n) : available(n) {}

  kj::Promise<void> acquire() {
    if (available > 0) {
      available--;
      return kj::READY_NOW;
    }
    auto paf = kj::newPromiseAndFulfiller<void>();
    waiters.add(kj::mv(paf.fulfiller));
    return kj::mv(paf.promise);
  }

  void release() {
    // The first waiter still waiting gets the slot; one whose caller went away is skipped.
    while (next < waiters.size()) {
      auto& w = waiters[next++];
      if (w->isWaiting()) {
        w->fulfill();
        return;
      }
    }
    waiters.clear();
    next = 0;
    available++;
  }

private:
  size_t available;
  kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> waiters;
  size_t next = 0;
};

}  // namespace ctrd
