// At most N of something at once, on one event loop: downloads of a pull, worker threads of a
// service.
#pragma once

#include <kj/async.h>
#include <kj/vector.h>

namespace ctrd {

class Semaphore {
public:
  explicit Semaphore(size_t n) : available(n) {}
  KJ_DISALLOW_COPY(Semaphore);

  template <typename Func>
  kj::PromiseForResult<Func, void> run(Func&& func) {
    // `func()` once a slot is free. The slot is given back when what it returned settles, or is
    // dropped (a caller that went away), however it ends.
    return acquire().then([func = kj::fwd<Func>(func)](kj::Own<Slot> slot) mutable {
      return kj::evalNow(kj::mv(func)).attach(kj::mv(slot));
    });
  }

private:
  class Slot {
  public:
    explicit Slot(Semaphore& semaphore) : semaphore(semaphore) {}
    KJ_DISALLOW_COPY(Slot);
    ~Slot() { semaphore.release(); }

  private:
    Semaphore& semaphore;
  };

  size_t available;
  kj::Vector<kj::Own<kj::PromiseFulfiller<kj::Own<Slot>>>> waiters;
  size_t next = 0;

  kj::Promise<kj::Own<Slot>> acquire() {
    if (available > 0) {
      available--;
      return kj::heap<Slot>(*this);
    }
    auto paf = kj::newPromiseAndFulfiller<kj::Own<Slot>>();
    waiters.add(kj::mv(paf.fulfiller));
    return kj::mv(paf.promise);
  }

  void release() {
    // The slot passes to the first waiter still waiting (one whose caller went away is
    // skipped); a slot handed over but then dropped unused comes back here.
    while (next < waiters.size()) {
      auto& w = waiters[next++];
      if (w->isWaiting()) {
        w->fulfill(kj::heap<Slot>(*this));
        return;
      }
    }
    waiters.clear();
    next = 0;
    available++;
  }
};

}  // namespace ctrd
