#include <common/errors.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <oci/manifest.h>

#include <string>

namespace ctrd::oci {
namespace {

kj::ArrayPtr<const kj::byte> bytes(const std::string& s) {
  return kj::arrayPtr(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

const std::string D1 = "sha256:" + std::string(64, 'a');
const std::string D2 = "sha256:" + std::string(64, 'b');

template <typename Func>
std::string failure(Func&& f, ErrorKind kind = ErrorKind::INVALID_ARGUMENT) {
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { f(); })) {
    EXPECT_EQ(errorKind(*e), kind) << errorMessage(*e).cStr();
    return errorMessage(*e).cStr();
  }
  return "(parsed)";
}

TEST(Manifest, ParsesAnOciManifest) {
  auto m = parseManifest(
      bytes(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
    "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
            D1 + R"(","size":7},
    "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" +
            D2 + R"(","size":1088448}]})"));
  EXPECT_EQ(m.config.size, 7);
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_EQ(std::string(m.layers[0].digest.cStr()), D2);
  EXPECT_EQ(m.layers[0].size, 1088448);
}

TEST(Manifest, ParsesAnIndexWithPlatforms) {
  auto i = parseIndex(bytes(
      R"({"schemaVersion":2,"manifests":[
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
      D1 + R"(","size":5,"platform":{"os":"linux","architecture":"amd64"}},
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
      D2 + R"(","size":6,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]})"));
  ASSERT_EQ(i.manifests.size(), 2u);
  auto& p = KJ_ASSERT_NONNULL(i.manifests[1].platform);
  EXPECT_TRUE(matches(Platform{kj::str("linux"), kj::str("arm64"), kj::str()}, p));
}

TEST(Manifest, ParsesAConfig) {
  auto c = parseConfig(bytes(R"({"os":"linux","architecture":"amd64","config":{"Env":["PATH=/bin"],
    "Cmd":["sh"],"WorkingDir":"/w"},"rootfs":{"type":"layers","diff_ids":[")" +
                             D1 + R"("]}})"));
  EXPECT_EQ(std::string(c.platform.architecture.cStr()), "amd64");
  ASSERT_EQ(c.diffIds.size(), 1u);
  ASSERT_EQ(c.cmd.size(), 1u);
  EXPECT_EQ(std::string(c.cmd[0].cStr()), "sh");
  EXPECT_EQ(std::string(c.workingDir.cStr()), "/w");
}

TEST(Manifest, MediaTypesAndSchema1) {
  EXPECT_EQ(kindOf(mediatypes::DOCKER_LIST), DocumentKind::INDEX);
  EXPECT_EQ(kindOf(mediatypes::DOCKER_MANIFEST), DocumentKind::MANIFEST);
  EXPECT_EQ(
      failure([]() { kindOf(mediatypes::DOCKER_SCHEMA1_SIGNED); }, ErrorKind::NOT_IMPLEMENTED),
      "Docker schema 1 manifests are not supported: not implemented");
  EXPECT_EQ(failure([]() { parseManifest(bytes(R"({"schemaVersion":1,"fsLayers":[]})")); },
                    ErrorKind::NOT_IMPLEMENTED),
            "Docker schema 1 manifests are not supported: not implemented");
  EXPECT_NE(failure([]() { kindOf("text/html"); }).find("unknown manifest media type"),
            std::string::npos);
}

TEST(Manifest, HostileDocumentsAreRefusedBeforeTheyHurt) {
  std::string deep(1 << 20, '[');
  EXPECT_NE(failure([&]() { parseIndex(bytes(deep)); }).find("nested deeper than 64"),
            std::string::npos);
  std::string huge = "{\"a\":\"" + std::string(MAX_DOCUMENT_SIZE, 'x') + "\"}";
  EXPECT_NE(failure([&]() { parseManifest(bytes(huge)); }).find("larger than"), std::string::npos);
  // Brackets inside strings do not count as nesting.
  std::string quoted = R"({"schemaVersion":2,"manifests":[],"annotations":{"x":")" +
                       std::string(200, '[') + R"("}})";
  EXPECT_EQ(parseIndex(bytes(quoted)).manifests.size(), 0u);
  EXPECT_NE(failure([]() { parseManifest(bytes("not json")); }).find("not valid JSON"),
            std::string::npos);
  EXPECT_NE(failure([]() { parseManifest(bytes("[]")); }).find("not a JSON object"),
            std::string::npos);
  EXPECT_NE(
      failure([]() {
        parseManifest(bytes(
            R"({"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:../../etc","size":1},"layers":[]})"));
      }).find("invalid digest"),
      std::string::npos);
  EXPECT_NE(failure([]() {
              parseManifest(bytes(R"({"schemaVersion":2,"config":{"mediaType":"x","digest":")" +
                                  D1 + R"(","size":-1},"layers":[]})"));
            }).find("size missing or negative"),
            std::string::npos);
  EXPECT_NE(failure([]() {
              parseConfig(bytes(R"({"os":"linux","architecture":"amd64"})"));
            }).find("missing \"rootfs\""),
            std::string::npos);
  EXPECT_NE(failure([]() {
              parseConfig(
                  bytes(R"({"os":"linux","architecture":"amd64","rootfs":{"diff_ids":["nope"]}})"));
            }).find("invalid diff id"),
            std::string::npos);
}

}  // namespace
}  // namespace ctrd::oci
