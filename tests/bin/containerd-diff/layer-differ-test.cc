// Computing layers, checked by applying them again: apply, diff, apply gives the same tree.
#include <common/digest.h>
#include <common/errors.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <layer-applier.h>
#include <layer-differ.h>
#include <layer-stream.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "integration/harness.h"

namespace ctrd {
namespace {

constexpr kj::StringPtr TAR = "application/vnd.oci.image.layer.v1.tar"_kj;
constexpr kj::StringPtr TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"_kj;

class LayerDifferTest : public testing::Test {
protected:
  test::TempDir scratch;
  std::string corpus = scratch.path() + "/corpus";

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "layers carry owners and devices";
    auto r = test::run(
        {"/usr/bin/python3", CTRD_SOURCE_DIR "/tests/bin/containerd-diff/make-layers.py", corpus});
    ASSERT_EQ(r.status, 0) << r.err;
  }

  std::string dir(const std::string& name) {
    auto path = scratch.path() + "/" + name;
    mkdir(path.c_str(), 0755);
    return path;
  }

  kj::String applyFd(int layer, kj::StringPtr mediaType, const std::string& target,
                     WhiteoutStyle style, std::vector<std::string> parents = {}) {
    int dirFd = open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    KJ_DEFER(close(dirFd));
    std::vector<int> parentFds;
    for (auto& p : parents) parentFds.push_back(open(p.c_str(), O_RDONLY | O_DIRECTORY));
    KJ_DEFER(for (int fd : parentFds) close(fd));
    LayerStream stream(layer, compressionForMediaType(mediaType), mediaType);
    LayerApplier applier(dirFd, kj::arrayPtr(parentFds.data(), parentFds.size()), style);
    auto finished = applier.apply(stream);
    return kj::mv(finished.digest);
  }

  void applyFile(const std::string& file, const std::string& target, WhiteoutStyle style) {
    int fd = open((corpus + "/" + file).c_str(), O_RDONLY | O_CLOEXEC);
    KJ_DEFER(close(fd));
    applyFd(fd, TAR, target, style);
  }

  int openDir(const std::string& path) { return open(path.c_str(), O_RDONLY | O_DIRECTORY); }

  std::string listing(const std::string& root) {
    // Our own lister; the peer's fslist.py as a cross-check when it is beside us.
    std::string out = test::listTree(root);
    std::string fslist = CTRD_SOURCE_DIR "/../shared/peer/fslist.py";
    if (access(fslist.c_str(), R_OK) == 0) {
      out += "--- fslist.py\n" + test::run({"/usr/bin/python3", fslist, root}).out;
    }
    return out;
  }

  std::string fileDigest(int fd) {
    lseek(fd, 0, SEEK_SET);
    Sha256 h;
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
      h.update(kj::arrayPtr(reinterpret_cast<const kj::byte*>(buf), n));
    }
    lseek(fd, 0, SEEK_SET);
    return h.digest().cStr();
  }
};

TEST_F(LayerDifferTest, TreeRoundTripsThroughAComputedLayer) {
  auto original = dir("original");
  applyFile("tricky.tar", original, WhiteoutStyle::DELETE);
  auto empty = dir("empty");
  int lower = openDir(empty), upper = openDir(original);
  auto layer = diffTrees(lower, upper, Compression::GZIP);
  close(lower);
  close(upper);
  EXPECT_GT(layer.entries, 10u);
  auto copy = dir("copy");
  auto diffId = applyFd(layer.file, TAR_GZIP, copy, WhiteoutStyle::DELETE);
  EXPECT_EQ(diffId, layer.diffId) << "the diff id is the digest of the tar inside the gzip";
  EXPECT_EQ(listing(copy), listing(original));
}

TEST_F(LayerDifferTest, OverlayUpperRoundTripsWithItsWhiteouts) {
  auto upper = dir("upper");
  applyFile("whiteouts.tar", upper, WhiteoutStyle::OVERLAY);
  applyFile("tricky.tar", upper, WhiteoutStyle::OVERLAY);
  int fd = openDir(upper);
  auto layer = diffOverlayUpper(fd, Compression::GZIP);
  close(fd);
  auto again = dir("again");
  applyFd(layer.file, TAR_GZIP, again, WhiteoutStyle::OVERLAY);
  EXPECT_EQ(listing(again), listing(upper));
  struct stat st;
  ASSERT_EQ(lstat((again + "/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST_F(LayerDifferTest, NativeDiffHasTheChangesAndWhiteoutsForDeletions) {
  auto lower = dir("lower");
  applyFile("base.tar", lower, WhiteoutStyle::DELETE);
  auto upper = dir("upper");
  test::run({"/bin/cp", "-a", lower + "/.", upper});
  unlink((upper + "/gone").c_str());
  test::run({"/bin/rm", "-rf", upper + "/opq"});
  int f = open((upper + "/keep/stays").c_str(), O_WRONLY | O_TRUNC);
  ASSERT_EQ(write(f, "changed", 7), 7);
  close(f);
  int l = openDir(lower), u = openDir(upper);
  auto layer = diffTrees(l, u, Compression::NONE);
  close(l);
  close(u);
  auto listed = test::run({"/bin/sh", "-c", "tar -tvf /proc/self/fd/0"}, [&]() {
    std::string data;
    char buf[65536];
    ssize_t n;
    while ((n = read(layer.file, buf, sizeof(buf))) > 0) data.append(buf, n);
    lseek(layer.file, 0, SEEK_SET);
    return data;
  }());
  EXPECT_NE(listed.out.find(".wh.gone"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find(".wh.opq"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("keep/stays"), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find("keep/old"), std::string::npos) << "unchanged files stay out";
  // Applying it onto a copy of the lower gives the upper.
  auto rebuilt = dir("rebuilt");
  test::run({"/bin/cp", "-a", lower + "/.", rebuilt});
  applyFd(layer.file, TAR, rebuilt, WhiteoutStyle::DELETE);
  EXPECT_EQ(listing(rebuilt), listing(upper));
}

TEST_F(LayerDifferTest, SameTreeSameDigest) {
  auto tree = dir("tree");
  applyFile("tricky.tar", tree, WhiteoutStyle::DELETE);
  auto empty = dir("empty");
  int l = openDir(empty), u = openDir(tree);
  auto first = diffTrees(l, u, Compression::GZIP);
  auto second = diffTrees(l, u, Compression::GZIP);
  close(l);
  close(u);
  EXPECT_EQ(first.diffId, second.diffId);
  EXPECT_EQ(fileDigest(first.file), fileDigest(second.file));
}

TEST_F(LayerDifferTest, EmptyUpperIsAnEmptyLayer) {
  auto upper = dir("nothing");
  int fd = openDir(upper);
  auto layer = diffOverlayUpper(fd, Compression::GZIP);
  close(fd);
  EXPECT_EQ(layer.entries, 0u);
  auto target = dir("target");
  applyFd(layer.file, TAR_GZIP, target, WhiteoutStyle::OVERLAY);
  EXPECT_EQ(test::listTree(target), "");
}

}  // namespace
}  // namespace ctrd
