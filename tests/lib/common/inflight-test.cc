#include <common/errors.h>
#include <common/inflight.h>
#include <gtest/gtest.h>
#include <kj/async.h>
#include <kj/debug.h>

namespace ctrd {
namespace {

TEST(Inflight, CallersAtTheSameTimeShareOneRun) {
  kj::EventLoop loop;
  kj::WaitScope ws(loop);
  Inflight inflight;
  int runs = 0;
  auto paf = kj::newPromiseAndFulfiller<void>();
  auto forked = paf.promise.fork();
  auto work = [&]() -> kj::Promise<void> {
    runs++;
    return forked.addBranch();
  };
  auto a = inflight.once(kj::str("k"), work);
  auto b = inflight.once(kj::str("k"), work);
  auto other = inflight.once(kj::str("other"), []() -> kj::Promise<void> { return kj::READY_NOW; });
  EXPECT_EQ(runs, 1);
  paf.fulfiller->fulfill();
  a.wait(ws);
  b.wait(ws);
  other.wait(ws);
  ws.poll();
  EXPECT_EQ(inflight.running(), 0u);
  // Settled: the next caller runs it again.
  inflight.once(kj::str("k"), work).wait(ws);
  EXPECT_EQ(runs, 2);
}

TEST(Inflight, EveryWaiterSeesTheFailureAndTheKeyIsFreedForARetry) {
  kj::EventLoop loop;
  kj::WaitScope ws(loop);
  Inflight inflight;
  auto fail = []() -> kj::Promise<void> {
    return kj::evalLater([]() { throwError(ErrorKind::UNAVAILABLE, "gone"); });
  };
  auto a = inflight.once(kj::str("k"), fail);
  auto b = inflight.once(kj::str("k"), fail);
  for (auto* p : {&a, &b}) {
    auto e = kj::runCatchingExceptions([&]() { p->wait(ws); });
    ASSERT_TRUE(e != nullptr);
    EXPECT_EQ(errorKind(KJ_ASSERT_NONNULL(e)), ErrorKind::UNAVAILABLE);
  }
  ws.poll();
  bool ran = false;
  inflight
      .once(kj::str("k"),
            [&]() -> kj::Promise<void> {
              ran = true;
              return kj::READY_NOW;
            })
      .wait(ws);
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace ctrd
