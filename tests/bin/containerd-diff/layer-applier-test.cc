// The layer applier in-process, on real directories, with layers made by Python's tarfile.
#include <common/digest.h>
#include <common/errors.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <layer-applier.h>
#include <layer-stream.h>
#include <poll.h>
#include <sandbox/landlock.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zstd.h>

#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "integration/harness.h"

namespace ctrd {
namespace {

struct Applied {
  kj::Maybe<kj::Exception> error;
  kj::String digest;
};

class LayerApplierTest : public testing::Test {
protected:
  test::TempDir scratch;
  std::string target = scratch.path() + "/target";
  std::string outside = scratch.path() + "/outside";

  std::string corpus = scratch.path() + "/corpus";

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "layers carry owners and devices";
    auto r = test::run(
        {"/usr/bin/python3", CTRD_SOURCE_DIR "/tests/bin/containerd-diff/make-layers.py", corpus});
    ASSERT_EQ(r.status, 0) << r.err;
    mkdir(target.c_str(), 0755);
    mkdir(outside.c_str(), 0755);
    std::ofstream(outside + "/canary") << "canary";
  }

  Applied apply(const std::string& file, kj::StringPtr mediaType = nullptr,
                WhiteoutStyle style = WhiteoutStyle::OVERLAY,
                std::vector<std::string> parents = {}) {
    auto path = corpus + "/" + file;
    if (mediaType == nullptr) {
      mediaType = file.size() > 3 && file.substr(file.size() - 3) == ".gz"
                      ? "application/vnd.oci.image.layer.v1.tar+gzip"_kj
                      : "application/vnd.oci.image.layer.v1.tar"_kj;
    }
    return applyPath(path, mediaType, style, parents);
  }

  Applied applyPath(const std::string& path, kj::StringPtr mediaType, WhiteoutStyle style,
                    std::vector<std::string> parents = {}) {
    Applied result{nullptr, kj::str()};
    int layer = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    int dir = open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    std::vector<int> parentFds;
    for (auto& p : parents) parentFds.push_back(open(p.c_str(), O_RDONLY | O_DIRECTORY));
    result.error = kj::runCatchingExceptions([&]() {
      LayerStream stream(layer, compressionForMediaType(mediaType), mediaType);
      LayerApplier applier(dir, kj::arrayPtr(parentFds.data(), parentFds.size()), style);
      result.digest = applier.apply(stream).digest;
    });
    close(layer);
    close(dir);
    for (int fd : parentFds) close(fd);
    return result;
  }

  std::string read(const std::string& rel) {
    std::ifstream in(target + "/" + rel);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  struct stat lstatOf(const std::string& rel) {
    struct stat st;
    memset(&st, 0, sizeof(st));
    lstat((target + "/" + rel).c_str(), &st);
    return st;
  }
};

TEST_F(LayerApplierTest, HostileLayersAreRefusedOrContained) {
  // Refused (as invalid, naming the entry, or by a kernel limit), or applied with everything kept
  // inside: in no case does anything outside the target change.
  enum Outcome { INVALID, REFUSED, CONTAINED, EITHER };
  struct Case {
    const char* name;
    Outcome outcome;
  };
  const Case cases[] = {
      {"hostile-dotdot.tar", INVALID},
      {"hostile-dotdot-deep.tar", INVALID},
      {"hostile-absolute.tar", INVALID},
      {"hostile-hardlink-out.tar", INVALID},
      {"hostile-hardlink-abs.tar", INVALID},
      {"hostile-whiteout-dot.tar", INVALID},
      {"hostile-whiteout-dotdot.tar", INVALID},
      {"hostile-dir-replaced-by-file.tar", INVALID},
      {"hostile-truncated.tar.gz", INVALID},
      {"hostile-corrupt.tar.gz", INVALID},
      {"hostile-pax-long-dotdot.tar", REFUSED},
      {"hostile-gnu-long-dotdot.tar", REFUSED},
      {"hostile-pax-absolute.tar", REFUSED},
      {"hostile-hardlink-dotdot-deep.tar", REFUSED},
      {"hostile-hardlink-through-symlink.tar", REFUSED},
      {"hostile-hardlink-through-abs-symlink.tar", REFUSED},
      {"hostile-hardlink-to-dir.tar", REFUSED},
      {"hostile-hardlink-self.tar", REFUSED},
      {"hostile-hardlink-missing.tar", REFUSED},
      {"hostile-whiteout-empty.tar", REFUSED},
      {"hostile-whiteout-absolute.tar", REFUSED},
      {"hostile-whiteout-after-write.tar", REFUSED},
      {"hostile-file-replaces-own-dir.tar", REFUSED},
      {"hostile-name-too-long.tar", REFUSED},
      {"hostile-too-deep.tar", REFUSED},
      {"hostile-huge-size.tar", REFUSED},
      {"hostile-not-a-tar.tar", REFUSED},
      {"hostile-gzip-bomb-truncated.tar.gz", REFUSED},
      {"hostile-sparse-beyond-size.tar", EITHER},
      {"hostile-sparse-offset-overflow.tar", EITHER},
      {"hostile-sparse-overlapping.tar", EITHER},
      {"hostile-opaque-through-symlink.tar", CONTAINED},
      {"hostile-device-through-symlink.tar", CONTAINED},
      {"hostile-fifo-through-symlink.tar", CONTAINED},
      {"hostile-dir-through-symlink.tar", CONTAINED},
      {"hostile-file-over-symlink.tar", CONTAINED},
      {"hostile-dir-over-symlink.tar", CONTAINED},
      {"hostile-symlink-loop.tar", CONTAINED},
      {"hostile-symlink-abs-parent-deep.tar", CONTAINED},
      {"hostile-hardlink-to-symlink-out.tar", CONTAINED},
      {"hostile-xattr-overlay.tar", CONTAINED},
      {"hostile-xattr-on-nodes.tar", CONTAINED},
      {"hostile-block-device.tar", CONTAINED},
      {"hostile-setuid-over-symlink.tar", CONTAINED},
      {"hostile-dot-names.tar", CONTAINED},
      {"hostile-whiteout-dotdot-deep.tar", CONTAINED},
  };
  struct stat canaryBefore;
  ASSERT_EQ(stat((outside + "/canary").c_str(), &canaryBefore), 0);
  for (auto& c : cases) {
    SCOPED_TRACE(c.name);
    test::run({"/bin/rm", "-rf", target});
    mkdir(target.c_str(), 0755);
    auto before = test::listTree(scratch.path(), target);
    auto result = apply(c.name);
    if (c.outcome == EITHER) {
      // libarchive may accept the map; what matters is that nothing lands outside.
    } else if (c.outcome != CONTAINED) {
      EXPECT_TRUE(result.error != nullptr) << "applied";
      KJ_IF_MAYBE(e, result.error) {
        if (c.outcome == INVALID) {
          EXPECT_EQ(errorKind(*e), ErrorKind::INVALID_ARGUMENT) << errorMessage(*e).cStr();
        }
      }
    } else {
      EXPECT_TRUE(result.error == nullptr) << errorMessage(KJ_ASSERT_NONNULL(result.error)).cStr();
    }
    EXPECT_EQ(test::listTree(scratch.path(), target), before);
    struct stat canary;
    ASSERT_EQ(stat((outside + "/canary").c_str(), &canary), 0);
    EXPECT_EQ(canary.st_mode, canaryBefore.st_mode);
    EXPECT_EQ(canary.st_uid, canaryBefore.st_uid);
    EXPECT_EQ(canary.st_size, canaryBefore.st_size);
    EXPECT_EQ(access("/outside", F_OK), -1);
    EXPECT_EQ(access("/tmp/fifo", F_OK), -1);
    EXPECT_EQ(access("/tmp/x", F_OK), -1);
  }
}

TEST_F(LayerApplierTest, ACorruptSparseMapIsRefusedNotACrash) {
  // Found by the layer-apply fuzzer: libarchive fails with no message, and formatting its null
  // message crashed the process.
  auto result =
      applyPath(CTRD_SOURCE_DIR "/tests/fuzz/corpus/fuzz-layer-apply/crash-null-archive-error",
                "application/vnd.oci.image.layer.v1.tar", WhiteoutStyle::OVERLAY);
  ASSERT_TRUE(result.error != nullptr);
  EXPECT_EQ(errorKind(KJ_ASSERT_NONNULL(result.error)), ErrorKind::INVALID_ARGUMENT);
}

TEST_F(LayerApplierTest, OverlayControlXattrsInALayerAreDropped) {
  // The snapshot is mounted with `userxattr`: a layer's own user.overlay.* would be honoured.
  auto result = apply("hostile-xattr-overlay.tar");
  ASSERT_TRUE(result.error == nullptr) << errorMessage(KJ_ASSERT_NONNULL(result.error)).cStr();
  char value[64];
  for (auto name : {"user.overlay.opaque", "user.overlay.redirect", "trusted.overlay.opaque"}) {
    EXPECT_EQ(lgetxattr((target + "/d").c_str(), name, value, sizeof(value)), -1) << name;
  }
  EXPECT_EQ(lgetxattr((target + "/f").c_str(), "user.overlay.metacopy", value, sizeof(value)), -1);
  EXPECT_EQ(lgetxattr((target + "/d").c_str(), "user.keep", value, sizeof(value)), 4);
  EXPECT_EQ(lgetxattr((target + "/f").c_str(), "user.keep", value, sizeof(value)), 4);
}

TEST_F(LayerApplierTest, DevicesAndFifosAreNeverOpened) {
  // Opening a device can act on hardware (a watchdog armed, a tape rewound); opening a FIFO can
  // block. inotify reports every open in the directory.
  int watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(watch, 0);
  ASSERT_GE(inotify_add_watch(watch, target.c_str(), IN_OPEN), 0);
  auto result = apply("hostile-xattr-on-nodes.tar");
  ASSERT_TRUE(result.error == nullptr) << errorMessage(KJ_ASSERT_NONNULL(result.error)).cStr();
  char buf[4096] __attribute__((aligned(8)));
  ssize_t n = ::read(watch, buf, sizeof(buf));
  for (ssize_t at = 0; at < n;) {
    auto* event = reinterpret_cast<struct inotify_event*>(buf + at);
    if (event->len > 0) ADD_FAILURE() << "opened " << event->name;
    at += sizeof(*event) + event->len;
  }
  close(watch);
  EXPECT_TRUE(S_ISFIFO(lstatOf("fifo").st_mode));
  EXPECT_TRUE(S_ISCHR(lstatOf("null").st_mode));
}

TEST_F(LayerApplierTest, ManyDirectoriesApplyWithFewFds) {
  // The applier caches parent directories as fds; the cache is bounded, so a layer of 5,000
  // directories applies under a limit of 1,024 open files.
  struct rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  struct rlimit low = {1024, saved.rlim_max};
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  auto result = apply("many-dirs.tar");
  setrlimit(RLIMIT_NOFILE, &saved);
  ASSERT_TRUE(result.error == nullptr) << errorMessage(KJ_ASSERT_NONNULL(result.error)).cStr();
  EXPECT_EQ(read("m/04999/f"), "f");
}

TEST_F(LayerApplierTest, NamesSwappedForSymlinksMidApplyChangeNothingOutside) {
  // An attacker (another apply into the same tree, once) swaps each name for a symlink to a
  // file outside, between the moment the applier makes an entry and the moment it sets its mode.
  // Modes and owners are set through O_NOFOLLOW fds, so the canary keeps its mode.
  auto canary = outside + "/canary";
  ASSERT_EQ(chmod(canary.c_str(), 0600), 0);
  for (int round = 0; round < 2; round++) {
    test::run({"/bin/rm", "-rf", target});
    mkdir(target.c_str(), 0755);
    std::atomic<bool> done{false};
    // The attacker learns of each new name from inotify and swaps it at once.
    int watch = inotify_init1(IN_CLOEXEC);
    ASSERT_GE(watch, 0);
    ASSERT_GE(inotify_add_watch(watch, target.c_str(), IN_CREATE), 0);
    std::thread attacker([&]() {
      int dir = open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      char buf[65536] __attribute__((aligned(8)));
      while (!done) {
        struct pollfd p = {watch, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        ssize_t n = ::read(watch, buf, sizeof(buf));
        for (ssize_t at = 0; at < n;) {
          auto* event = reinterpret_cast<struct inotify_event*>(buf + at);
          at += sizeof(*event) + event->len;
          if (event->len == 0 || event->name[0] == 0) continue;
          if (unlinkat(dir, event->name, 0) == 0 || unlinkat(dir, event->name, AT_REMOVEDIR) == 0) {
            symlinkat(canary.c_str(), dir, event->name);
          }
        }
      }
      close(dir);
    });
    apply("race.tar");  // it may fail (a name taken under it); it must not reach outside
    done = true;
    attacker.join();
    close(watch);
    struct stat st;
    ASSERT_EQ(stat(canary.c_str(), &st), 0);
    ASSERT_EQ(st.st_mode & 07777, 0600u) << "chmod went through a symlink, round " << round;
    ASSERT_EQ(st.st_uid, 0u);
  }
}

TEST_F(LayerApplierTest, UnderLandlockAnApplyReachesNothingButItsTrees) {
  if (landlockAbi() < 1) GTEST_SKIP() << "this kernel has no Landlock";
  auto lower = scratch.path() + "/lower";
  mkdir(lower.c_str(), 0755);
  std::ofstream(lower + "/file") << "lower";
  std::string failures;
  std::thread confined([&]() {
    int dir = open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int parent = open(lower.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int layer = open((corpus + "/tricky.tar").c_str(), O_RDONLY | O_CLOEXEC);
    LandlockTree trees[] = {{dir, true}, {parent, false}};
    if (!confineThread(trees)) failures += "not confined; ";
    // A ".." walk from a handed fd, as a memory bug in the parser might try.
    if (openat(dir, "../outside/canary", O_RDONLY) >= 0 || errno != EACCES) {
      failures += "read outside; ";
    }
    if (openat(dir, "../outside/new", O_WRONLY | O_CREAT, 0644) >= 0 || errno != EACCES) {
      failures += "created outside; ";
    }
    if (mkdirat(dir, "../outside/d", 0755) == 0 || errno != EACCES) failures += "mkdir outside; ";
    if (openat(parent, "new", O_WRONLY | O_CREAT, 0644) >= 0 || errno != EACCES) {
      failures += "wrote a parent; ";
    }
    if (openat(parent, "file", O_RDONLY) < 0) failures += "cannot read a parent; ";
    if (open("/etc/passwd", O_RDONLY) >= 0 || errno != EACCES) failures += "read /etc; ";
    // And the apply itself works within.
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                  LayerStream stream(layer, Compression::NONE,
                                     "application/vnd.oci.image.layer.v1.tar");
                  LayerApplier applier(dir, kj::arrayPtr(&parent, 1), WhiteoutStyle::OVERLAY);
                  applier.apply(stream);
                })) {
      failures += kj::str("apply failed: ", errorMessage(*e), "; ").cStr();
    }
    for (int fd : {dir, parent, layer}) close(fd);
  });
  confined.join();
  EXPECT_EQ(failures, "");
  EXPECT_EQ(read("dir/file"), "hello");
  EXPECT_EQ(access((outside + "/new").c_str(), F_OK), -1);
}

TEST_F(LayerApplierTest, SymlinksLeadingOutAreReplacedNeverWrittenThrough) {
  // containerd's unpack makes such a symlink a directory when a layer writes beneath it; so do
  // we. Either way nothing may appear outside the target.
  const char* cases[] = {"hostile-symlink-abs.tar", "hostile-symlink-rel.tar",
                         "hostile-symlink-chain.tar", "hostile-whiteout-through-symlink.tar"};
  for (auto name : cases) {
    SCOPED_TRACE(name);
    test::run({"/bin/rm", "-rf", target});
    mkdir(target.c_str(), 0755);
    auto before = test::listTree(scratch.path(), target);
    auto result = apply(name);
    EXPECT_TRUE(result.error == nullptr) << errorMessage(KJ_ASSERT_NONNULL(result.error)).cStr();
    EXPECT_EQ(test::listTree(scratch.path(), target), before);
    EXPECT_EQ(access("/outside", F_OK), -1);
  }
  test::run({"/bin/rm", "-rf", target});
  mkdir(target.c_str(), 0755);
  ASSERT_TRUE(apply("hostile-symlink-rel.tar").error == nullptr);
  EXPECT_TRUE(S_ISDIR(lstatOf("evil").st_mode));
  EXPECT_EQ(read("evil/x"), "escaped") << "written inside the target, in place of the symlink";
  EXPECT_EQ(lstatOf("evil").st_uid, 0u);
}

TEST_F(LayerApplierTest, ErrorsNameTheEntry) {
  auto result = apply("hostile-dotdot.tar");
  EXPECT_EQ(std::string(errorMessage(KJ_ASSERT_NONNULL(result.error)).cStr()),
            "layer entry \"../outside/x\": \"..\" in the name: invalid argument");
  result = apply("hostile-hardlink-out.tar");
  EXPECT_EQ(std::string(errorMessage(KJ_ASSERT_NONNULL(result.error)).cStr()),
            "layer entry \"hl\": hardlink target \"../outside/canary\" leaves the tree: "
            "invalid argument");
}

TEST_F(LayerApplierTest, TarSemanticsAreKept) {
  auto result = apply("tricky.tar");
  ASSERT_TRUE(result.error == nullptr) << errorMessage(KJ_ASSERT_NONNULL(result.error)).cStr();
  auto dir = lstatOf("dir");
  EXPECT_EQ(dir.st_mode & 07777, 0750u);
  EXPECT_EQ(dir.st_uid, 1000u);
  EXPECT_EQ(dir.st_mtime, 1600000000) << "directory times are set last";
  EXPECT_EQ(read("dir/file"), "hello");
  auto file = lstatOf("dir/file");
  EXPECT_EQ(file.st_mode & 07777, 0640u);
  EXPECT_EQ(file.st_gid, 1001u);
  EXPECT_EQ(file.st_mtime, 1700000000);
  EXPECT_EQ(lstatOf("dir/suid").st_mode & 07777, 04755u);
  EXPECT_EQ(lstatOf("dir/sgid-sticky").st_mode & 07777, 03777u);
  char link[256] = {};
  ASSERT_GT(readlink((target + "/dir/link").c_str(), link, sizeof(link)), 0);
  EXPECT_STREQ(link, "file");
  EXPECT_TRUE(S_ISLNK(lstatOf("dir/dangling").st_mode));
  EXPECT_EQ(lstatOf("dir/hard").st_ino, file.st_ino);
  EXPECT_TRUE(S_ISFIFO(lstatOf("dir/fifo").st_mode));
  auto chr = lstatOf("dir/char");
  EXPECT_TRUE(S_ISCHR(chr.st_mode) && chr.st_rdev == makedev(1, 3));
  auto blk = lstatOf("dir/block");
  EXPECT_TRUE(S_ISBLK(blk.st_mode) && blk.st_rdev == makedev(7, 0));
  std::string longPath =
      std::string(60, 'd') + "/" + std::string(60, 'e') + "/" + std::string(120, 'f');
  EXPECT_EQ(read(longPath), "long");
  char value[64] = {};
  EXPECT_EQ(getxattr((target + "/xattr").c_str(), "user.comment", value, sizeof(value)), 2);
  EXPECT_GT(getxattr((target + "/xattr").c_str(), "security.capability", value, sizeof(value)), 0);
  EXPECT_EQ(read("implicit/parent/file"), "p");
  EXPECT_EQ(lstatOf("nobody").st_uid, 65534u);
}

TEST_F(LayerApplierTest, GnuLongNamesAndLinks) {
  auto result = apply("tricky-gnu.tar");
  ASSERT_TRUE(result.error == nullptr) << errorMessage(KJ_ASSERT_NONNULL(result.error)).cStr();
  EXPECT_EQ(read(std::string(150, 'g')), "gnu long name");
  char link[256] = {};
  ASSERT_EQ(readlink((target + "/l").c_str(), link, sizeof(link)), 150);
}

TEST_F(LayerApplierTest, WhiteoutsBecomeOverlayWhiteoutsInAnUpperDirectory) {
  auto result = apply("whiteouts.tar");
  ASSERT_TRUE(result.error == nullptr) << errorMessage(KJ_ASSERT_NONNULL(result.error)).cStr();
  auto gone = lstatOf("gone");
  EXPECT_TRUE(S_ISCHR(gone.st_mode) && gone.st_rdev == makedev(0, 0));
  char value[8] = {};
  EXPECT_EQ(getxattr((target + "/opq").c_str(), "user.overlay.opaque", value, sizeof(value)), 1);
  EXPECT_EQ(value[0], 'y');
  EXPECT_EQ(read("opq/new"), "new");
  EXPECT_TRUE(S_ISCHR(lstatOf("keep/old").st_mode));
  EXPECT_FALSE(S_ISREG(lstatOf(".wh.gone").st_mode)) << "markers themselves are not written";
}

TEST_F(LayerApplierTest, WhiteoutsDeleteInAPlainTree) {
  std::ofstream(target + "/gone") << "x";
  mkdir((target + "/opq").c_str(), 0755);
  std::ofstream(target + "/opq/old") << "x";
  mkdir((target + "/keep").c_str(), 0755);
  std::ofstream(target + "/keep/old") << "x";
  std::ofstream(target + "/keep/stays") << "x";
  auto result = apply("whiteouts.tar", nullptr, WhiteoutStyle::DELETE);
  ASSERT_TRUE(result.error == nullptr) << errorMessage(KJ_ASSERT_NONNULL(result.error)).cStr();
  EXPECT_NE(access((target + "/gone").c_str(), F_OK), 0);
  EXPECT_NE(access((target + "/opq/old").c_str(), F_OK), 0);
  EXPECT_EQ(read("opq/new"), "new");
  EXPECT_NE(access((target + "/keep/old").c_str(), F_OK), 0);
  EXPECT_EQ(read("keep/stays"), "x");
}

TEST_F(LayerApplierTest, ImplicitDirectoriesTakeTheirMetadataFromTheParents) {
  auto lower = scratch.path() + "/lower";
  mkdir(lower.c_str(), 0755);
  mkdir((lower + "/implicit").c_str(), 0710);
  chown((lower + "/implicit").c_str(), 1234, 1235);
  mkdir((lower + "/implicit/parent").c_str(), 0700);
  auto result = apply("tricky.tar", nullptr, WhiteoutStyle::OVERLAY, {lower});
  ASSERT_TRUE(result.error == nullptr) << errorMessage(KJ_ASSERT_NONNULL(result.error)).cStr();
  auto implicit = lstatOf("implicit");
  EXPECT_EQ(implicit.st_mode & 07777, 0710u);
  EXPECT_EQ(implicit.st_uid, 1234u);
  EXPECT_EQ(implicit.st_gid, 1235u);
  EXPECT_EQ(lstatOf("implicit/parent").st_mode & 07777, 0700u);
}

TEST_F(LayerApplierTest, DiffIdIsTheDigestOfTheUncompressedStream) {
  std::ifstream in(corpus + "/plain.tar", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), {});
  Sha256 h;
  h.update(kj::arrayPtr(reinterpret_cast<const kj::byte*>(raw.data()), raw.size()));
  auto expected = h.digest();
  auto plain = apply("plain.tar");
  ASSERT_TRUE(plain.error == nullptr);
  EXPECT_EQ(plain.digest, expected);
  auto gz = apply("plain-gzip.tar.gz");
  ASSERT_TRUE(gz.error == nullptr);
  EXPECT_EQ(gz.digest, expected);
  // zstd, compressed here with libzstd.
  std::string zst(ZSTD_compressBound(raw.size()), '\0');
  zst.resize(ZSTD_compress(&zst[0], zst.size(), raw.data(), raw.size(), 3));
  auto zstPath = scratch.path() + "/plain.tar.zst";
  std::ofstream(zstPath, std::ios::binary).write(zst.data(), zst.size());
  auto z =
      applyPath(zstPath, "application/vnd.oci.image.layer.v1.tar+zstd", WhiteoutStyle::OVERLAY);
  ASSERT_TRUE(z.error == nullptr) << errorMessage(KJ_ASSERT_NONNULL(z.error)).cStr();
  EXPECT_EQ(z.digest, expected);
  EXPECT_EQ(read("a"), "a");
}

TEST_F(LayerApplierTest, MediaTypeMustMatchTheBytes) {
  auto wrong = apply("plain.tar", "application/vnd.oci.image.layer.v1.tar+gzip");
  EXPECT_EQ(std::string(errorMessage(KJ_ASSERT_NONNULL(wrong.error)).cStr()),
            "layer with media type \"application/vnd.oci.image.layer.v1.tar+gzip\" starts with "
            "neither gzip nor zstd magic bytes: invalid argument");
  EXPECT_EQ(errorKind(KJ_ASSERT_NONNULL(wrong.error)), ErrorKind::INVALID_ARGUMENT);
  auto unknown = apply("plain.tar", "application/x-tar");
  EXPECT_EQ(std::string(errorMessage(KJ_ASSERT_NONNULL(unknown.error)).cStr()),
            "unsupported layer media type \"application/x-tar\": invalid argument");
  auto docker = apply("plain-gzip.tar.gz", "application/vnd.docker.image.rootfs.diff.tar.gzip");
  EXPECT_TRUE(docker.error == nullptr);
}

TEST_F(LayerApplierTest, SparseFilesStaySparse) {
  auto result = apply("sparse.tar");
  ASSERT_TRUE(result.error == nullptr) << errorMessage(KJ_ASSERT_NONNULL(result.error)).cStr();
  auto st = lstatOf("sparse");
  EXPECT_EQ(st.st_size, 64 << 20);
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "the holes were written out";
  int fd = open((target + "/sparse").c_str(), O_RDONLY);
  char buf[4] = {};
  EXPECT_EQ(pread(fd, buf, 3, 32 << 20), 3);
  EXPECT_STREQ(buf, "mid");
  EXPECT_EQ(pread(fd, buf, 3, 0), 3);
  EXPECT_EQ(buf[0], 0);
  close(fd);
}

TEST_F(LayerApplierTest, EmptyLayer) {
  auto result = apply("empty.tar");
  ASSERT_TRUE(result.error == nullptr);
  EXPECT_EQ(test::listTree(target), "");
}

}  // namespace
}  // namespace ctrd
