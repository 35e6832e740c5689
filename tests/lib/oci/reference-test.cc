#include <common/errors.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <oci/reference.h>

namespace ctrd::oci {
namespace {

std::string normalized(kj::StringPtr text) {
  return parseReference(text).toString().cStr();
}

std::string failure(kj::StringPtr text) {
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { parseReference(text); })) {
    EXPECT_EQ(errorKind(*e), ErrorKind::INVALID_ARGUMENT);
    return errorMessage(*e).cStr();
  }
  return "(parsed)";
}

TEST(Reference, NormalizesLikeContainerd) {
  EXPECT_EQ(normalized("busybox"), "docker.io/library/busybox:latest");
  EXPECT_EQ(normalized("busybox:1.36"), "docker.io/library/busybox:1.36");
  EXPECT_EQ(normalized("user/app"), "docker.io/user/app:latest");
  EXPECT_EQ(normalized("docker.io/busybox"), "docker.io/library/busybox:latest");
  EXPECT_EQ(normalized("index.docker.io/library/busybox"), "docker.io/library/busybox:latest");
  EXPECT_EQ(normalized("127.0.0.1:5000/busybox:latest"), "127.0.0.1:5000/busybox:latest");
  EXPECT_EQ(normalized("localhost/app"), "localhost/app:latest");
  EXPECT_EQ(normalized("localhost:5000/a/b/c:v1.2-rc_3"), "localhost:5000/a/b/c:v1.2-rc_3");
  EXPECT_EQ(normalized("ghcr.io/o/r"), "ghcr.io/o/r:latest");
}

TEST(Reference, DigestsPinAndNeedNoTag) {
  auto d = "sha256:402c721d2abf2175a220016bd8591f52ac322bec1e0c1a680520372cb1408067";
  auto r = parseReference(kj::str("127.0.0.1:5000/busybox@", d));
  EXPECT_TRUE(r.tag == nullptr);
  EXPECT_EQ(std::string(KJ_ASSERT_NONNULL(r.digest).cStr()), d);
  EXPECT_EQ(normalized(kj::str("busybox:1@", d)), std::string("docker.io/library/busybox:1@") + d);
  EXPECT_EQ(std::string(r.name().cStr()), "127.0.0.1:5000/busybox");
}

TEST(Reference, PortIsNotATag) {
  auto r = parseReference("registry:5000/app");
  EXPECT_EQ(std::string(r.domain.cStr()), "registry:5000");
  EXPECT_EQ(std::string(KJ_ASSERT_NONNULL(r.tag).cStr()), "latest");
}

TEST(Reference, MalformedReferencesAreRefused) {
  EXPECT_EQ(failure("Busybox"),
            "reference \"Busybox\": repository name must be lowercase: invalid argument");
  EXPECT_EQ(failure(""), "reference \"\": empty reference: invalid argument");
  EXPECT_NE(failure("busybox@sha256:abc").find("invalid digest"), std::string::npos);
  EXPECT_NE(failure("busybox:-bad").find("invalid tag"), std::string::npos);
  EXPECT_NE(failure("a//b").find("invalid reference format"), std::string::npos);
  EXPECT_NE(failure("a/b_-c").find("invalid reference format"), std::string::npos);
  EXPECT_NE(failure(":tag").find("empty repository name"), std::string::npos);
  EXPECT_NE(failure("-host.io/x").find("invalid domain"), std::string::npos);
  EXPECT_NE(failure(kj::str("x/", kj::repeat('a', 260))).find("longer than 255"),
            std::string::npos);
}

}  // namespace
}  // namespace ctrd::oci
