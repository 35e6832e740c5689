#include <common/errors.h>
#include <gtest/gtest.h>

namespace ctrd {
namespace {

TEST(Errors, MessageReadsLikeContainerd) {
  auto e = makeError(ErrorKind::NOT_FOUND, "image \"x\"");
  EXPECT_STREQ(errorMessage(e).cStr(), "image \"x\": not found");
  EXPECT_EQ(errorKind(e), ErrorKind::NOT_FOUND);
}

TEST(Errors, KindSurvivesRemotePrefixes) {
  kj::Exception e(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                  kj::str("remote exception: remote exception: ref \"a\": already exists"));
  EXPECT_EQ(errorKind(e), ErrorKind::ALREADY_EXISTS);
  EXPECT_STREQ(errorMessage(e).cStr(), "ref \"a\": already exists");
}

TEST(Errors, ContextKeepsTheKind) {
  auto e = withContext("pull", makeError(ErrorKind::INVALID_ARGUMENT, "manifest"));
  EXPECT_STREQ(errorMessage(e).cStr(), "pull: manifest: invalid argument");
  EXPECT_EQ(errorKind(e), ErrorKind::INVALID_ARGUMENT);
}

TEST(Errors, KindInTheMiddleOfAWordIsNotAKind) {
  kj::Exception e(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::str("file: not foundation"));
  EXPECT_EQ(errorKind(e), ErrorKind::UNKNOWN);
}

TEST(Errors, UnknownAddsNoSuffix) {
  EXPECT_STREQ(errorMessage(makeError(ErrorKind::UNKNOWN, "boom")).cStr(), "boom");
}

TEST(Errors, DisconnectedMeansUnavailable) {
  kj::Exception e(kj::Exception::Type::DISCONNECTED, __FILE__, __LINE__, kj::str("peer gone"));
  EXPECT_EQ(errorKind(e), ErrorKind::UNAVAILABLE);
}

}  // namespace
}  // namespace ctrd

namespace ctrd {
namespace {

TEST(Errors, TheSubjectIsTheMessageWithoutItsKind) {
  auto e = makeError(ErrorKind::UNAVAILABLE, "host: refused");
  EXPECT_EQ(errorSubject(e), "host: refused");
  auto again = makeError(errorKind(e), kj::str(errorSubject(e), " (gave up)"));
  EXPECT_EQ(errorMessage(again), "host: refused (gave up): unavailable");
  EXPECT_EQ(errorSubject(makeError(ErrorKind::UNKNOWN, "plain")), "plain");
}

}  // namespace
}  // namespace ctrd
