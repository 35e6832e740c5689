// Users resolved through the image's own /etc/passwd and /etc/group, never outside its rootfs.
#include <common/errors.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <oci/user.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "integration/harness.h"

namespace ctrd::oci {
namespace {

constexpr kj::StringPtr PASSWD =
    "root:x:0:0:root:/root:/bin/sh\n"
    "# a comment\n"
    "broken line\n"
    "web:x:1000:1000::/home/web:/bin/sh\n"
    "db:x:1001:2000::/:/bin/false\n"_kj;
constexpr kj::StringPtr GROUP =
    "root:x:0:\n"
    "web:x:1000:\n"
    "wheel:x:10:web,db\n"
    "audio:x:29:web\n"
    "dbgroup:x:2000:\n"_kj;

ErrorKind kindOf(kj::StringPtr user) {
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { resolveUserFrom(user, PASSWD, GROUP); })) {
    return errorKind(*e);
  }
  return ErrorKind::UNKNOWN;
}

TEST(User, NamesAndNumbersResolveAsRuncDoes) {
  auto web = resolveUserFrom("web", PASSWD, GROUP);
  EXPECT_EQ(web.uid, 1000u);
  EXPECT_EQ(web.gid, 1000u);
  EXPECT_EQ(web.additionalGids.size(), 2u);  // wheel and audio

  auto numeric = resolveUserFrom("1001", PASSWD, GROUP);
  EXPECT_EQ(numeric.uid, 1001u);
  EXPECT_EQ(numeric.gid, 2000u);  // the primary group from /etc/passwd

  auto unknown = resolveUserFrom("4242", PASSWD, GROUP);
  EXPECT_EQ(unknown.uid, 4242u);
  EXPECT_EQ(unknown.gid, 0u);

  auto both = resolveUserFrom("web:audio", PASSWD, GROUP);
  EXPECT_EQ(both.uid, 1000u);
  EXPECT_EQ(both.gid, 29u);
  EXPECT_EQ(both.additionalGids.size(), 0u);

  auto numbers = resolveUserFrom("5:6", "", "");
  EXPECT_EQ(numbers.uid, 5u);
  EXPECT_EQ(numbers.gid, 6u);
}

TEST(User, WhatIsNotThereIsNotFound) {
  EXPECT_EQ(kindOf("nobody"), ErrorKind::NOT_FOUND);
  EXPECT_EQ(kindOf("web:nogroup"), ErrorKind::NOT_FOUND);
  EXPECT_EQ(kindOf("broken"), ErrorKind::NOT_FOUND);
  EXPECT_EQ(kindOf(""), ErrorKind::INVALID_ARGUMENT);
  EXPECT_EQ(kindOf("web:"), ErrorKind::INVALID_ARGUMENT);
}

TEST(User, TheFilesAreReadInsideTheRootfsEvenThroughAbsoluteSymlinks) {
  test::TempDir dir;
  auto root = dir.path() + "/rootfs";
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((root + "/etc").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((root + "/usr").c_str(), 0755), 0);
  std::ofstream(root + "/usr/passwd") << PASSWD.cStr();
  // /etc/passwd -> /usr/passwd means the image's /usr/passwd, not the host's.
  ASSERT_EQ(symlink("/usr/passwd", (root + "/etc/passwd").c_str()), 0);
  // /etc/group -> the host's /etc/gshadow by "..": stays inside, where there is none.
  ASSERT_EQ(symlink("../../../../../../etc/gshadow", (root + "/etc/group").c_str()), 0);
  int fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  kj::AutoCloseFd rootfs(fd);
  auto web = resolveUser(rootfs, "web");
  EXPECT_EQ(web.uid, 1000u);
  EXPECT_EQ(web.additionalGids.size(), 0u);  // the host's /etc/group was not read
  // The host's root is in the host's /etc/passwd; "daemon" is there on Debian, not in the image.
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { resolveUser(rootfs, "daemon"); })) {
    EXPECT_EQ(errorKind(*e), ErrorKind::NOT_FOUND);
    EXPECT_NE(std::string(e->getDescription().cStr()).find("image's /etc/passwd"),
              std::string::npos);
  } else {
    ADD_FAILURE() << "a user of the host's /etc/passwd was found";
  }
}

}  // namespace
}  // namespace ctrd::oci
