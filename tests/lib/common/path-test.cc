// Paths relative to a directory fd: nothing leads out of it, and no small file is read or
// written through a symlink.
#include <common/path.h>
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

namespace ctrd {
namespace {

class PathTest : public ::testing::Test {
protected:
  void SetUp() override {
    char templ[] = "/tmp/path-test-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    top = templ;
    ASSERT_EQ(mkdir((top + "/root").c_str(), 0700), 0);
    ASSERT_EQ(symlink("/etc/passwd", (top + "/root/out").c_str()), 0);
    ASSERT_EQ(symlink("../secret", (top + "/root/up").c_str()), 0);
    int fd = open((top + "/secret").c_str(), O_WRONLY | O_CREAT, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, "secret", 6), 6);
    close(fd);
    root = open((top + "/root").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(root, 0);
  }
  void TearDown() override {
    close(root);
    std::string cmd = "rm -rf '" + top + "'";
    EXPECT_EQ(system(cmd.c_str()), 0);
  }
  std::string top;
  int root = -1;
};

TEST_F(PathTest, OpenBeneathRefusesEveryWayOut) {
  for (const char* path : {"../secret", "/etc/passwd", "out", "up", "/proc/self/root/etc"}) {
    errno = 0;
    int fd = openBeneath(root, path, O_RDONLY);
    EXPECT_LT(fd, 0) << path;
    EXPECT_EQ(errno, EXDEV) << path;
    if (fd >= 0) close(fd);
  }
}

TEST_F(PathTest, SmallFilesAreNeverReadOrWrittenThroughASymlink) {
  EXPECT_EQ(tryReadSmallFile(root, "up"), nullptr);
  EXPECT_ANY_THROW(writeSmallFile(root, "up", "overwritten"_kj.asBytes()));
  auto secret =
      tryReadSmallFile(kj::AutoCloseFd(open(top.c_str(), O_RDONLY | O_DIRECTORY)), "secret");
  KJ_IF_MAYBE(s, secret) {
    EXPECT_EQ(*s, "secret");
  } else {
    ADD_FAILURE() << "the file beside the root is unreadable";
  }
}

TEST_F(PathTest, AWriteReplacesTheWholeFileAndAReadStopsAtItsLimit) {
  writeSmallFile(root, "state", "a longer first version"_kj.asBytes());
  writeSmallFile(root, "state", "short"_kj.asBytes());
  EXPECT_EQ(KJ_ASSERT_NONNULL(tryReadSmallFile(root, "state")), "short");
  EXPECT_EQ(KJ_ASSERT_NONNULL(tryReadSmallFile(root, "state", 3)), "sho");
  EXPECT_EQ(tryReadSmallFile(root, "absent"), nullptr);
  struct stat st;
  ASSERT_EQ(fstatat(root, "state", &st, 0), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(PathTest, MakeDirectoryIsIdempotentAndListingSkipsDots) {
  auto a = makeDirectory(root, "d", 0700);
  auto b = makeDirectory(root, "d", 0700);
  writeSmallFile(a, "one", "1"_kj.asBytes());
  writeSmallFile(b, "two", "2"_kj.asBytes());
  std::vector<std::string> names;
  for (auto& n : listDirectory(a)) names.push_back(n.cStr());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"one", "two"}));
  EXPECT_ANY_THROW(makeDirectory(root, "out", 0700));  // a symlink is not a directory to open
}

}  // namespace
}  // namespace ctrd
