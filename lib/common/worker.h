// A blocking call on a thread of its own, its result delivered to the event loop.
#pragma once

#include <kj/async.h>
#include <kj/thread.h>

#include <atomic>

namespace ctrd {

struct WorkerJob {
  // Dropping it (the caller went away) raises `cancelled` and waits for the thread, so nothing
  // outlives what the call uses.
  std::atomic<bool> cancelled{false};
  kj::Maybe<kj::Own<kj::Thread>> thread;
  ~WorkerJob() noexcept(false) {
    cancelled = true;
    thread = nullptr;
  }
};

template <typename T, typename Func>
kj::Promise<T> onWorker(Func&& func) {
  // `func(std::atomic<bool>& cancelled)` runs on a new thread. Results cross as an Own: GCC warns
  // (wrongly) about a T held by value in the cross-thread fulfiller.
  auto paf = kj::newPromiseAndCrossThreadFulfiller<kj::Own<T>>();
  auto job = kj::heap<WorkerJob>();
  auto& flag = job->cancelled;
  job->thread = kj::heap<kj::Thread>([func = kj::fwd<Func>(func), &flag,
                                      fulfiller = kj::mv(paf.fulfiller)]() mutable {
    KJ_IF_MAYBE(e,
                kj::runCatchingExceptions([&]() { fulfiller->fulfill(kj::heap<T>(func(flag))); })) {
      fulfiller->reject(kj::mv(*e));
    }
  });
  return paf.promise.attach(kj::mv(job)).then([](kj::Own<T> result) { return kj::mv(*result); });
}

}  // namespace ctrd
