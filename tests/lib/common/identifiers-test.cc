#include <common/errors.h>
#include <common/identifiers.h>
#include <gtest/gtest.h>

namespace ctrd {
namespace {

ErrorKind check(kj::StringPtr name) {
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { validateIdentifier("namespace", name); })) {
    return errorKind(*e);
  }
  return ErrorKind::UNKNOWN;
}

TEST(Identifiers, AcceptsContainerdNames) {
  for (auto name : {"default", "k8s.io", "a", "tenant_1-b.c", "0"}) {
    EXPECT_EQ(check(name), ErrorKind::UNKNOWN) << name;
  }
}

TEST(Identifiers, RefusesMalformedNames) {
  for (auto name : {"", "-a", "a-", "a..b", "a/b", "../x", "a b", "a\xc3\xa9"}) {
    EXPECT_EQ(check(name), ErrorKind::INVALID_ARGUMENT) << name;
  }
  EXPECT_EQ(check(kj::str(kj::repeat('a', 77))), ErrorKind::INVALID_ARGUMENT);
  EXPECT_EQ(check(kj::str(kj::repeat('a', 76))), ErrorKind::UNKNOWN);
}

}  // namespace
}  // namespace ctrd
