#include <common/errors.h>
#include <common/filters.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

namespace ctrd {
namespace {

bool matches(std::initializer_list<kj::StringPtr> filters,
             const std::map<std::string, std::string>& fields) {
  auto list = kj::heapArray<kj::StringPtr>(filters.begin(), filters.size());
  auto filter = Filter::parse(list);
  FieldLookup lookup = [&](kj::ArrayPtr<const kj::String> path) -> kj::Maybe<kj::String> {
    auto key = kj::strArray(path, ".");
    auto it = fields.find(key.cStr());
    if (it == fields.end()) return nullptr;
    return kj::str(it->second.c_str());
  };
  return filter.matches(lookup);
}

const std::map<std::string, std::string> BLOB = {
    {"digest", "sha256:abc"},
    {"labels.containerd.io/gc.root", "2026"},
    {"labels.a", "b c"},
};

TEST(Filters, EmptyMatchesEverything) {
  EXPECT_TRUE(matches({}, BLOB));
}

TEST(Filters, EqualityPresenceAndQuotedPaths) {
  EXPECT_TRUE(matches({"digest==sha256:abc"}, BLOB));
  EXPECT_FALSE(matches({"digest==sha256:abd"}, BLOB));
  EXPECT_TRUE(matches({"digest!=sha256:abd"}, BLOB));
  EXPECT_TRUE(matches({"labels.\"containerd.io/gc.root\""}, BLOB));
  EXPECT_FALSE(matches({"labels.missing"}, BLOB));
  EXPECT_TRUE(matches({"labels.a==\"b c\""}, BLOB));
  EXPECT_FALSE(matches({"labels.missing!=x"}, BLOB));
}

TEST(Filters, CommaIsAndSeveralFiltersAreOr) {
  EXPECT_FALSE(matches({"digest==sha256:abc,labels.a==x"}, BLOB));
  EXPECT_TRUE(matches({"digest==sha256:abc,labels.a==x", "labels.a"}, BLOB));
}

TEST(Filters, RegularExpressions) {
  EXPECT_TRUE(matches({"digest~=^sha256:a"}, BLOB));
  EXPECT_FALSE(matches({"digest~=^sha512"}, BLOB));
}

TEST(Filters, RegularExpressionsAreGoSyntax) {
  // containerd's filters are Go's regexp (RE2): inline flags and (?P<name>...) groups.
  EXPECT_TRUE(matches({"digest~=(?i)^SHA256:A"}, BLOB));
  EXPECT_TRUE(matches({"digest~=^(?P<algo>sha256):"}, BLOB));
}

TEST(Filters, CatastrophicPatternsMatchInLinearTime) {
  // A backtracking engine takes 2^n steps here (the review froze the daemon with it); RE2 is
  // linear in the value. Without the fix this test does not finish.
  std::map<std::string, std::string> fields = {{"labels.k", std::string(80, 'a') + "b"}};
  EXPECT_FALSE(matches({"labels.k~=^(a+)+$"}, fields));
  EXPECT_FALSE(matches({"labels.k~=^(a|a)*$"}, fields));
  EXPECT_TRUE(matches({"labels.k~=^(a+)+b$"}, fields));
}

TEST(Filters, MalformedFiltersAreInvalidArguments) {
  auto tooLong = kj::str("digest~=", kj::repeat('a', 1025));
  for (kj::StringPtr bad :
       std::initializer_list<kj::StringPtr>{"labels.\"open", "digest~=(", "=x", "digest==a,", "a b",
                                            "digest~=a{1001}", tooLong.asPtr()}) {
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { Filter::parse(kj::arrayPtr(&bad, 1)); })) {
      EXPECT_EQ(errorKind(*e), ErrorKind::INVALID_ARGUMENT) << bad.cStr();
    } else {
      ADD_FAILURE() << "parsed " << bad.cStr();
    }
  }
}

}  // namespace
}  // namespace ctrd
