#include <common/errors.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <kj/function.h>
#include <oci/archive.h>
#include <oci/reference.h>

#include <string>

namespace ctrd::oci {
namespace {

kj::ArrayPtr<const kj::byte> bytes(const std::string& s) {
  return kj::arrayPtr(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

const std::string D1 = "sha256:" + std::string(64, 'a');

std::string failure(kj::Function<void()> f) {
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { f(); })) {
    EXPECT_EQ(errorKind(*e), ErrorKind::INVALID_ARGUMENT);
    return e->getDescription().cStr();
  }
  return "no failure";
}

TEST(ArchiveDocumentsTest, LayoutIndexNamesItsEntries) {
  auto entries = parseLayoutIndex(bytes(
      R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
      R"("digest":")" +
      D1 +
      R"(","size":7,"platform":{"os":"linux","architecture":"arm64"},)"
      R"("annotations":{"io.containerd.image.name":"docker.io/library/a:1",)"
      R"("org.opencontainers.image.ref.name":"1"}},)"
      R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
      D1 + R"(","size":7}]})"));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].imageName, "docker.io/library/a:1");
  EXPECT_EQ(entries[0].refName, "1");
  EXPECT_EQ(KJ_ASSERT_NONNULL(entries[0].descriptor.platform).architecture, "arm64");
  EXPECT_EQ(entries[1].imageName, "");
  // Written back, it reads the same.
  auto again = parseLayoutIndex(layoutIndexJson(entries).asBytes());
  EXPECT_EQ(again[0].imageName, "docker.io/library/a:1");
  EXPECT_EQ(again[0].descriptor.digest, D1);
}

TEST(ArchiveDocumentsTest, MalformedArchiveDocumentsAreRefused) {
  EXPECT_NE(failure([]() { parseLayoutIndex(bytes("[]")); }).find("not a JSON object"),
            std::string::npos);
  EXPECT_NE(failure([]() {
              parseLayoutIndex(bytes(R"({"manifests":[{"digest":"x"}]})"));
            }).find("index.json"),
            std::string::npos);
  EXPECT_NE(
      failure([]() { parseArchiveManifest(bytes(R"({"Config":"c"})")); }).find("not a JSON list"),
      std::string::npos);
  EXPECT_NE(failure([]() {
              parseArchiveManifest(bytes(R"([{"RepoTags":["a"]}])"));
            }).find("missing \"Config\""),
            std::string::npos);
  std::string deep(100, '[');
  EXPECT_NE(failure([&]() { parseArchiveManifest(bytes(deep)); }).find("nested deeper"),
            std::string::npos);
  std::string big = "[" + std::string(5 << 20, ' ') + "]";
  EXPECT_NE(failure([&]() { parseArchiveManifest(bytes(big)); }).find("larger than"),
            std::string::npos);
  EXPECT_EQ(parseLayoutVersion(bytes(R"({"imageLayoutVersion":"1.0.0"})")), "1.0.0");
}

TEST(ArchiveDocumentsTest, DockerManifestJsonRoundTrips) {
  kj::Vector<ArchiveManifest> in;
  in.add(ArchiveManifest{kj::str("blobs/sha256/c"), {}, {}});
  in[0].repoTags.add(kj::str("busybox:latest"));
  in[0].layers.add(kj::str("blobs/sha256/l"));
  auto out = parseArchiveManifest(archiveManifestJson(in).asBytes());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].config, "blobs/sha256/c");
  EXPECT_EQ(out[0].repoTags[0], "busybox:latest");
  EXPECT_EQ(out[0].layers[0], "blobs/sha256/l");
}

TEST(ReferenceNamesTest, FamiliarAndOciReferenceNames) {
  EXPECT_EQ(familiarName("docker.io/library/busybox:latest"), "busybox:latest");
  EXPECT_EQ(familiarName("docker.io/me/app:1"), "me/app:1");
  EXPECT_EQ(familiarName("127.0.0.1:5000/src:1"), "127.0.0.1:5000/src:1");
  EXPECT_EQ(familiarName("busybox"), "busybox:latest");
  EXPECT_EQ(ociReferenceName("docker.io/library/busybox:1.36"), "1.36");
  EXPECT_EQ(ociReferenceName("127.0.0.1:5000/src@" + D1), "@" + D1);
  EXPECT_EQ(ociReferenceName("Not A Reference"), "Not A Reference");
}

}  // namespace
}  // namespace ctrd::oci
