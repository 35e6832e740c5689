#include <common/semaphore.h>
#include <gtest/gtest.h>
#include <kj/async.h>
#include <kj/debug.h>

namespace ctrd {
namespace {

struct Gate {
  // Work that runs until the test opens it.
  kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> open;
  int running = 0;
  int most = 0;
  kj::Promise<void> work() {
    running++;
    most = kj::max(most, running);
    auto paf = kj::newPromiseAndFulfiller<void>();
    open.add(kj::mv(paf.fulfiller));
    return paf.promise.then([this]() { running--; });
  }
};

TEST(Semaphore, AtMostNRunAtOnceAndTheRestFollow) {
  kj::EventLoop loop;
  kj::WaitScope ws(loop);
  Semaphore slots(2);
  Gate gate;
  kj::Vector<kj::Promise<void>> all;
  for (int i = 0; i < 5; i++) {
    all.add(slots.run([&]() { return gate.work(); }).eagerlyEvaluate(nullptr));
  }
  loop.run();
  EXPECT_EQ(gate.running, 2);
  for (size_t i = 0; i < gate.open.size(); i++) {
    gate.open[i]->fulfill();
    loop.run();
  }
  kj::joinPromises(all.releaseAsArray()).wait(ws);
  EXPECT_EQ(gate.most, 2);
  EXPECT_EQ(gate.open.size(), 5u);
}

TEST(Semaphore, ACallerThatGoesAwayGivesItsSlotBack) {
  kj::EventLoop loop;
  kj::WaitScope ws(loop);
  Semaphore slots(1);
  Gate gate;
  {
    auto dropped = slots.run([&]() { return gate.work(); }).eagerlyEvaluate(nullptr);
    loop.run();
    EXPECT_EQ(gate.running, 1);
    // This one goes away while it waits.
    auto waiting = slots.run([&]() { return gate.work(); }).eagerlyEvaluate(nullptr);
    loop.run();
  }
  // Both are gone: the slot is free again, and the waiter that left never ran.
  bool ran = false;
  slots
      .run([&]() -> kj::Promise<void> {
        ran = true;
        return kj::READY_NOW;
      })
      .wait(ws);
  EXPECT_TRUE(ran);
  EXPECT_EQ(gate.open.size(), 1u);
}

TEST(Semaphore, AFailureGivesTheSlotBack) {
  kj::EventLoop loop;
  kj::WaitScope ws(loop);
  Semaphore slots(1);
  EXPECT_ANY_THROW(slots.run([]() -> kj::Promise<int> { KJ_FAIL_REQUIRE("no"); }).wait(ws));
  EXPECT_EQ(slots.run([]() { return kj::Promise<int>(7); }).wait(ws), 7);
}

}  // namespace
}  // namespace ctrd
