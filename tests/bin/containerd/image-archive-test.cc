// How an imported archive's images are named: containerd 1.6's `ctr images import` rules.
#include "image-archive.h"

#include <gtest/gtest.h>

namespace ctrd {
namespace {

TEST(ImportedNameTest, ContainerdNamesAreKeptAsTheyAre) {
  EXPECT_EQ(importedName("docker.io/library/busybox:1", "1", "import-2026-12-03", false),
            "docker.io/library/busybox:1");
  // Even with a base name: the filter is for OCI ref names only, as in containerd.
  EXPECT_EQ(importedName("docker.io/library/busybox:1", "", "example.com/x", true),
            "docker.io/library/busybox:1");
}

TEST(ImportedNameTest, BareTagsGoUnderTheBase) {
  EXPECT_EQ(importedName("", "latest", "import-2026-12-03", false), "import-2026-12-03:latest");
  EXPECT_EQ(importedName("", "v2", "example.com/bb", true), "example.com/bb:v2");
}

TEST(ImportedNameTest, FullRefNamesAreFilteredByTheBaseWhenOneIsGiven) {
  EXPECT_EQ(importedName("", "example.com/bb:v2", "import-x", false), "example.com/bb:v2");
  EXPECT_EQ(importedName("", "example.com/bb:v2", "example.com/bb", true), "example.com/bb:v2");
  EXPECT_EQ(importedName("", "example.com/bbx:v2", "example.com/bb", true), "");
  EXPECT_EQ(importedName("", "other.com/bb:v2", "example.com/bb", true), "");
  EXPECT_EQ(importedName("", "", "example.com/bb", true), "");
}

}  // namespace
}  // namespace ctrd
