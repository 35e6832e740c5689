#include <common/config.h>
#include <common/errors.h>
#include <gtest/gtest.h>
#include <kj/debug.h>

namespace ctrd {
namespace {

kj::String failure(kj::StringPtr text) {
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { parseConfig(text, "test.toml"); })) {
    EXPECT_EQ(errorKind(*e), ErrorKind::INVALID_ARGUMENT) << errorMessage(*e).cStr();
    return kj::str(errorMessage(*e));
  }
  return kj::str("(parsed)");
}

TEST(Config, DefaultTextParsesToTheDefaults) {
  auto parsed = parseConfig(defaultConfigText(), "default");
  auto defaults = defaultConfig();
  EXPECT_EQ(parsed.root, defaults.root);
  EXPECT_EQ(parsed.state, defaults.state);
  EXPECT_EQ(parsed.socketAddress(), defaults.socketAddress());
  EXPECT_EQ(parsed.socketAddress(), "/run/containerd/containerd.sock");
  ASSERT_EQ(parsed.services.size(), allProfiles().size());
  for (auto& s : parsed.services) {
    if (s.profile->runsAsRoot) {
      EXPECT_TRUE(s.user == nullptr);
    } else {
      EXPECT_EQ(KJ_ASSERT_NONNULL(s.user), s.profile->executable);
    }
  }
}

TEST(Config, ContainerdKeysAreRead) {
  auto c = parseConfig(
      "version = 2\nroot = \"/r\"\nstate = \"/s\"\n[grpc]\n  address = \"/a.sock\"\n"
      "[debug]\n  level = \"debug\"\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  x = 1\n",
      "t");
  EXPECT_EQ(c.root, "/r");
  EXPECT_EQ(c.state, "/s");
  EXPECT_EQ(c.socketAddress(), "/a.sock");
  EXPECT_EQ(c.logLevel, "debug");
}

TEST(Config, NumericIdsReplaceTheUser) {
  auto c = parseConfig("[services.diff]\nuid = 5000\ngid = 5001\n", "t");
  auto& diff = c.service(ServiceKind::DIFF);
  EXPECT_TRUE(diff.user == nullptr);
  auto id = resolveIdentity(diff);
  EXPECT_EQ(id.uid, 5000u);
  EXPECT_EQ(id.gid, 5001u);
}

TEST(Config, SyntaxErrorNamesFileAndLine) {
  auto msg = failure("root = \"/x\nstate = 1\n");
  EXPECT_NE(strstr(msg.cStr(), "config test.toml"), nullptr) << msg.cStr();
  EXPECT_NE(strstr(msg.cStr(), "line 1"), nullptr) << msg.cStr();
}

TEST(Config, WrongTypesAreRefused) {
  EXPECT_NE(strstr(failure("root = 5\n").cStr(), "\"root\" must be a string"), nullptr);
  EXPECT_NE(
      strstr(failure("[services.content]\nuid = \"x\"\ngid = 1\n").cStr(), "services.content.uid"),
      nullptr);
  EXPECT_NE(strstr(failure("version = 9\n").cStr(), "version"), nullptr);
  EXPECT_NE(strstr(failure("[debug]\nlevel = \"loud\"\n").cStr(), "loud"), nullptr);
  EXPECT_NE(strstr(failure("root = \"relative\"\n").cStr(), "absolute"), nullptr);
}

TEST(Config, UnknownServiceOrKeyIsRefused) {
  EXPECT_NE(strstr(failure("[services.cri]\n").cStr(), "unknown service \"cri\""), nullptr);
  EXPECT_NE(
      strstr(failure("[services.diff]\nuser_name = \"x\"\n").cStr(), "services.diff.user_name"),
      nullptr);
}

TEST(Config, UnprivilegedServicesNeverGetUidZero) {
  EXPECT_NE(strstr(failure("[services.content]\nuid = 0\ngid = 0\n").cStr(), "must not be 0"),
            nullptr);
  EXPECT_NE(strstr(failure("[services.content]\nuid = 5\n").cStr(), "both uid and gid"), nullptr);
  EXPECT_NE(strstr(failure("[services.tasks]\nuser = \"nobody\"\n").cStr(), "runs as root"),
            nullptr);
}

TEST(Config, MissingUserIsAClearError) {
  auto c = parseConfig("[services.content]\nuser = \"no-such-user-ctrd\"\n", "t");
  KJ_IF_MAYBE(e, kj::runCatchingExceptions(
                     [&]() { resolveIdentity(c.service(ServiceKind::CONTENT)); })) {
    EXPECT_EQ(errorKind(*e), ErrorKind::NOT_FOUND);
    EXPECT_NE(strstr(errorMessage(*e).cStr(), "no-such-user-ctrd"), nullptr);
  } else {
    ADD_FAILURE() << "resolved a user that does not exist";
  }
}

}  // namespace
}  // namespace ctrd
