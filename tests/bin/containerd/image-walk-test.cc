// The image walker against an in-process Distribution that serves documents from a map: which
// nodes it reaches, what it reads, the platform choice, and its bounds.
#include <capnp/message.h>
#include <common/errors.h>
#include <gtest/gtest.h>
#include <image-walk.h>
#include <kj/async.h>
#include <oci/image.h>
#include <oci/media-types.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace ctrd {
namespace {

using namespace oci::mediatypes;

std::string digestOf(int n) {
  char buf[72];
  snprintf(buf, sizeof(buf), "sha256:%064x", n);
  return buf;
}

struct Doc {
  // One document as Distribution.parse answers it.
  kj::Own<capnp::MallocMessageBuilder> message = kj::heap<capnp::MallocMessageBuilder>();
  schema::ImageDocument::Builder root() { return message->getRoot<schema::ImageDocument>(); }
};

class Documents final : public schema::Distribution::Server {
public:
  std::map<std::string, Doc> docs;
  size_t parses = 0;

  kj::Promise<void> parse(ParseContext context) override {
    parses++;
    auto it = docs.find(context.getParams().getDigest().cStr());
    if (it == docs.end()) throwError(ErrorKind::NOT_FOUND, "no such document");
    context.getResults().setDocument(it->second.root().asReader());
    return kj::READY_NOW;
  }
};

void setDescriptor(schema::Descriptor::Builder d, kj::StringPtr mediaType, int n,
                   const char* platform = nullptr) {
  d.setMediaType(mediaType);
  d.setDigest(digestOf(n));
  d.setSize(100 + n);
  if (platform != nullptr) {
    auto p = oci::parsePlatform(platform);
    auto out = d.initPlatform();
    out.setOs(p.os);
    out.setArchitecture(p.architecture);
    out.setVariant(p.variant);
  }
}

class Recorder final : public ImageVisitor {
public:
  std::vector<std::string> reached;
  std::vector<std::string> images;  // "<manifest n> <platform> <chain ID>"
  std::set<std::string> absent;

  kj::Promise<bool> reach(const Descriptor& d, NodeRole role) override {
    reached.push_back(std::string(roleName(role).cStr()) + " " + d.digest.cStr());
    return absent.count(d.digest.cStr()) == 0;
  }
  void image(ImageNode& node, kj::Array<kj::Promise<void>> layers) override {
    EXPECT_EQ(layers.size(), node.layers.size());
    images.push_back(std::string(node.manifest.digest.cStr()) + " " +
                     node.platform.toString().cStr() + " " + node.chainId.cStr() +
                     (node.root ? " root" : ""));
  }
};

struct World {
  // An event loop and the documents, behind one pointer: their destructors may throw, a test
  // fixture's may not.
  kj::EventLoop loop;
  kj::WaitScope waitScope{loop};
  Documents* docs;
  schema::Distribution::Client client = nullptr;
  World() {
    auto owned = kj::heap<Documents>();
    docs = owned.get();
    client = kj::mv(owned);
  }
};

class ImageWalkTest : public ::testing::Test {
protected:
  std::unique_ptr<World> world = std::make_unique<World>();
  Documents& docs = *world->docs;
  Recorder recorder;

  void manifest(int n, int config, std::vector<int> layers) {
    auto m = docs.docs[digestOf(n)].root().initManifest();
    m.setMediaType(OCI_MANIFEST);
    setDescriptor(m.initConfig(), OCI_CONFIG, config);
    auto l = m.initLayers(layers.size());
    for (size_t i = 0; i < layers.size(); i++) {
      setDescriptor(l[i], "application/vnd.oci.image.layer.v1.tar+gzip", layers[i]);
    }
    auto c = docs.docs[digestOf(config)].root().initConfig();
    auto p = c.initPlatform();
    p.setOs("linux");
    p.setArchitecture("amd64");
    auto ids = c.initDiffIds(layers.size());
    for (size_t i = 0; i < layers.size(); i++) ids.set(i, digestOf(1000 + layers[i]));
  }

  void index(int n, std::vector<std::pair<int, const char*>> manifests,
             kj::StringPtr childType = OCI_MANIFEST) {
    auto list = docs.docs[digestOf(n)].root().initIndex().initManifests(manifests.size());
    for (size_t i = 0; i < manifests.size(); i++) {
      setDescriptor(list[i], childType, manifests[i].first, manifests[i].second);
    }
  }

  void walk(int root, kj::StringPtr mediaType, std::vector<const char*> platforms = {"linux/amd64"},
            bool all = false) {
    kj::Vector<oci::Platform> wanted;
    for (auto p : platforms) wanted.add(oci::normalize(oci::parsePlatform(p)));
    PlatformChoice choice(kj::mv(wanted), all);
    auto w = kj::refcounted<ImageWalk>(world->client, choice, recorder);
    w->walk(Descriptor{kj::str(mediaType), kj::str(digestOf(root)), 1, nullptr})
        .wait(world->waitScope);
  }
};

TEST_F(ImageWalkTest, AManifestReachesItsConfigAndLayersAndNamesTheChain) {
  manifest(1, 2, {3, 4});
  walk(1, OCI_MANIFEST);
  std::vector<std::string> want = {"manifest " + digestOf(1), "layer " + digestOf(3),
                                   "layer " + digestOf(4), "config " + digestOf(2)};
  EXPECT_EQ(recorder.reached, want);
  kj::String ids[] = {kj::str(digestOf(1003)), kj::str(digestOf(1004))};
  ASSERT_EQ(recorder.images.size(), 1u);
  EXPECT_EQ(recorder.images[0], digestOf(1) + " linux/amd64 " + oci::chainId(ids).cStr() + " root");
}

TEST_F(ImageWalkTest, AnIndexGoesDownTheBestManifestForEachWantedPlatform) {
  index(10, {{1, "linux/arm64"}, {5, "linux/amd64"}, {7, "linux/arm/v7"}});
  manifest(1, 2, {3});
  manifest(5, 6, {3});
  manifest(7, 8, {3});
  walk(10, OCI_INDEX, {"linux/arm/v7", "linux/amd64"});
  ASSERT_EQ(recorder.images.size(), 2u);
  // The index's platform is the image's, whatever its config says.
  EXPECT_NE(recorder.images[0].find("linux/arm/v7"), std::string::npos) << recorder.images[0];
  EXPECT_NE(recorder.images[1].find(digestOf(5) + " linux/amd64"), std::string::npos);
  EXPECT_EQ(recorder.images[1].find("root"), std::string::npos);

  recorder = Recorder();
  walk(10, OCI_INDEX, {}, true);  // every platform
  EXPECT_EQ(recorder.images.size(), 3u);
}

TEST_F(ImageWalkTest, NothingBelowAnAbsentNodeIsReadButItsLayersAreReached) {
  manifest(1, 2, {3});
  recorder.absent.insert(digestOf(2));  // the config
  walk(1, OCI_MANIFEST);
  EXPECT_EQ(recorder.reached.size(), 3u);
  EXPECT_TRUE(recorder.images.empty());
  EXPECT_EQ(docs.parses, 1u);  // the manifest only

  recorder = Recorder();
  recorder.absent.insert(digestOf(1));  // the manifest
  walk(1, OCI_MANIFEST);
  EXPECT_EQ(recorder.reached.size(), 1u);
}

TEST_F(ImageWalkTest, DiffIdsThatDoNotMatchTheLayersAreRefused) {
  manifest(1, 2, {3, 4});
  docs.docs[digestOf(2)].root().getConfig().initDiffIds(1).set(0, digestOf(1003));
  auto e = kj::runCatchingExceptions([&]() { walk(1, OCI_MANIFEST); });
  ASSERT_TRUE(e != nullptr);
  EXPECT_EQ(errorKind(KJ_ASSERT_NONNULL(e)), ErrorKind::INVALID_ARGUMENT);
  EXPECT_NE(KJ_ASSERT_NONNULL(e).getDescription().findFirst('2'), nullptr);
}

TEST_F(ImageWalkTest, ADocumentNotOfItsMediaTypeIsRefused) {
  manifest(1, 2, {3});
  auto e = kj::runCatchingExceptions([&]() { walk(1, OCI_INDEX); });
  ASSERT_TRUE(e != nullptr);
  EXPECT_NE(std::string(KJ_ASSERT_NONNULL(e).getDescription().cStr()).find("not an index"),
            std::string::npos);
}

TEST_F(ImageWalkTest, IndexesNestedTooDeepAreRefused) {
  for (int n = 20; n < 20 + int(ImageWalk::MAX_DEPTH) + 2; n++) {
    index(n, {{n + 1, nullptr}}, OCI_INDEX);
  }
  auto e = kj::runCatchingExceptions([&]() { walk(20, OCI_INDEX); });
  ASSERT_TRUE(e != nullptr);
  EXPECT_NE(std::string(KJ_ASSERT_NONNULL(e).getDescription().cStr()).find("nested more than"),
            std::string::npos);
}

TEST_F(ImageWalkTest, IndexesThatFanOutPastTheBoundAreRefused) {
  // Each of 40 children is the same index of 40: 1 + 40 + 1600 documents with --all-platforms.
  std::vector<std::pair<int, const char*>> children;
  for (int i = 0; i < 40; i++) children.push_back({31, nullptr});
  index(30, children, OCI_INDEX);
  index(31, std::vector<std::pair<int, const char*>>(40, {1, nullptr}));
  manifest(1, 2, {});
  auto e = kj::runCatchingExceptions([&]() { walk(30, OCI_INDEX, {}, true); });
  ASSERT_TRUE(e != nullptr);
  EXPECT_NE(std::string(KJ_ASSERT_NONNULL(e).getDescription().cStr()).find("more than 1024"),
            std::string::npos);
}

}  // namespace
}  // namespace ctrd
