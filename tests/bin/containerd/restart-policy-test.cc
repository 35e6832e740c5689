// When a dead service is started again: a short first wait, doubling to a ceiling, and the
// sequence over once a process has lived long enough to be called stable.
#include <gtest/gtest.h>
#include <supervisor.h>

namespace ctrd {
namespace {

int64_t ms(kj::Duration d) {
  return d / kj::MILLISECONDS;
}

TEST(RestartPolicy, ACrashLoopWaitsTwiceAsLongEachTimeUpToTheCeiling) {
  RestartPolicy policy(2 * kj::SECONDS);
  std::vector<int64_t> waits;
  for (int i = 0; i < 7; i++) waits.push_back(ms(policy.delayAfter(50 * kj::MILLISECONDS)));
  EXPECT_EQ(waits, (std::vector<int64_t>{100, 200, 400, 800, 1600, 2000, 2000}));
}

TEST(RestartPolicy, AProcessThatLivedUntilStableStartsTheSequenceOver) {
  RestartPolicy policy(30 * kj::SECONDS);
  for (int i = 0; i < 5; i++) policy.delayAfter(kj::SECONDS);
  EXPECT_EQ(ms(policy.delayAfter(kj::SECONDS)), 3200);
  EXPECT_EQ(ms(policy.delayAfter(RestartPolicy::STABLE_AFTER)), 100);
  EXPECT_EQ(ms(policy.delayAfter(kj::SECONDS)), 200);
  // Just short of stable is still the loop.
  EXPECT_EQ(ms(policy.delayAfter(RestartPolicy::STABLE_AFTER - kj::MILLISECONDS)), 400);
}

}  // namespace
}  // namespace ctrd
