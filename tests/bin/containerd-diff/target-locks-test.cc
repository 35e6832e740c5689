// One apply per target directory: a second holder of the same directory (by any fd) waits;
// another directory does not.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <target-locks.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "integration/harness.h"

namespace ctrd {
namespace {

TEST(TargetLocks, TheSameDirectoryThroughAnotherFdWaits) {
  test::TempDir dir;
  int a = open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int b = open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int other = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  TargetLocks locks;
  std::atomic<bool> second{false};
  std::thread waiter;
  {
    auto held = locks.lock(a);
    // Another directory is not held up.
    { auto unrelated = locks.lock(other); }
    waiter = std::thread([&]() {
      auto mine = locks.lock(b);
      second = true;
    });
    // The waiter cannot get in while `held` lives, however long we give it.
    for (int i = 0; i < 20; i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      ASSERT_FALSE(second);
    }
  }
  waiter.join();
  EXPECT_TRUE(second);
  for (int fd : {a, b, other}) close(fd);
}

}  // namespace
}  // namespace ctrd
