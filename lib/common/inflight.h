// Work that must happen once even when several callers want it at the same time, on one event
// loop: two pulls of one image download each blob once and unpack each layer once.
#pragma once

#include <kj/async.h>
#include <kj/function.h>
#include <kj/map.h>
#include <kj/string.h>
#include <stdint.h>

namespace ctrd {

class Inflight {
public:
  Inflight() : tasks(errorHandler) {}
  KJ_DISALLOW_COPY(Inflight);

  kj::Promise<void> once(kj::String key, kj::Function<kj::Promise<void>()> work);
  // Runs `work`, or waits for the run already in flight under `key`. Once it settles, the next
  // caller runs it again (and finds the blob or snapshot there). Every waiter sees the run's
  // error, if any.

  size_t running() const { return runs.size(); }

private:
  struct IgnoreErrors final : public kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&&) override {}
  } errorHandler;
  struct Run {
    uint64_t id;
    kj::ForkedPromise<void> done;
  };
  kj::HashMap<kj::String, Run> runs;
  uint64_t nextId = 0;
  void settle(kj::String key, uint64_t id);
  kj::TaskSet tasks;
};

}  // namespace ctrd
