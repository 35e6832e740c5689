// The content store through the real daemon and ctr: containerd-content under its profile,
// meta.db in containerd, fds passed through.
#include <client/client.h>
#include <common/digest.h>
#include <common/errors.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "integration/harness.h"

namespace ctrd::test {
namespace {

// Deterministic pseudo-random bytes, fast enough for hundreds of MiB.
std::string makeFile(const std::string& path, size_t size, uint64_t seed) {
  std::string data(size, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i + 8 <= size; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    memcpy(&data[i], &x, 8);
  }
  for (size_t i = size & ~size_t(7); i < size; i++) data[i] = char(i);
  std::ofstream(path, std::ios::binary).write(data.data(), data.size());
  Sha256 h;
  h.update(kj::arrayPtr(reinterpret_cast<const kj::byte*>(data.data()), data.size()));
  return h.digest().cStr();
}

std::string fileDigest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Sha256 h;
  std::string buf(1 << 20, '\0');
  while (in.read(&buf[0], buf.size()) || in.gcount() > 0) {
    h.update(kj::arrayPtr(reinterpret_cast<const kj::byte*>(buf.data()), in.gcount()));
  }
  return h.digest().cStr();
}

class ContentTest : public testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the daemon runs as root";
  }

  // ctr with a shell redirect, for large inputs and outputs.
  Result sh(Daemon& d, const std::string& command) {
    return run({"/bin/sh", "-c", binPath("ctr") + " --address " + d.socket() + " " + command});
  }
};

TEST_F(ContentTest, RoundTripOfZeroOneAndMany256MiB) {
  Daemon d;
  ASSERT_TRUE(d.start()) << d.log();
  TempDir dir;
  for (size_t size : {size_t(0), size_t(1), size_t(256) << 20}) {
    SCOPED_TRACE(size);
    auto in = dir.path() + "/in-" + std::to_string(size);
    auto out = dir.path() + "/out-" + std::to_string(size);
    auto digest = makeFile(in, size, size + 1);
    auto r = sh(d, "content ingest ref-" + std::to_string(size) + " < " + in);
    ASSERT_EQ(r.status, 0) << r.err;
    r = d.ctr({"content", "ls", "-q"});
    EXPECT_NE(r.out.find(digest), std::string::npos) << r.out;
    r = sh(d, "content get " + digest + " > " + out);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(fileDigest(out), digest);
    struct stat st;
    ASSERT_EQ(stat(out.c_str(), &st), 0);
    EXPECT_EQ(size_t(st.st_size), size);
  }
  auto r = d.ctr({"content", "ls"});
  EXPECT_NE(r.out.find("268.4MB"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" 1B "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" 0B "), std::string::npos) << r.out;
}

TEST_F(ContentTest, KilledContentProcessMidIngestResumesToTheRightDigest) {
  Daemon d;
  ASSERT_TRUE(d.start()) << d.log();
  TempDir dir;
  auto path = dir.path() + "/blob";
  const size_t SIZE = 96 << 20, FIRST = 40 << 20;
  auto digest = makeFile(path, SIZE, 7);

  // Feed the first part through a pipe that stays open, so the ingest is in flight.
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  pid_t ctr = fork();
  if (ctr == 0) {
    dup2(p[0], 0);
    execl(binPath("ctr").c_str(), "ctr", "--address", d.socket().c_str(), "content", "ingest",
          "resumable", nullptr);
    _exit(127);
  }
  close(p[0]);
  {
    std::ifstream in(path, std::ios::binary);
    std::string part(FIRST, '\0');
    in.read(&part[0], FIRST);
    ASSERT_EQ(write(p[1], part.data(), part.size()), ssize_t(part.size()));
  }
  ASSERT_TRUE(waitFor([&]() {
    return d.ctr({"content", "active"}).out.find("resumable    41.94MB") != std::string::npos;
  })) << d.ctr({"content", "active"}).out;

  pid_t content = d.servicePid("containerd-content");
  ASSERT_GT(content, 0);
  ASSERT_EQ(kill(content, SIGKILL), 0);
  int status = 0;
  waitpid(ctr, &status, 0);
  close(p[1]);
  EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the cut ingest succeeded";
  ASSERT_TRUE(waitFor([&]() {
    pid_t now = d.servicePid("containerd-content");
    return now != 0 && now != content;
  })) << d.log();

  // What reached the disk before the kill is still there, and a new writer resumes from it.
  auto active = d.ctr({"content", "active"});
  EXPECT_NE(active.out.find("resumable    41.94MB"), std::string::npos) << active.out;
  auto r = sh(d, "content ingest --expected-digest " + digest + " resumable < " + path);
  ASSERT_EQ(r.status, 0) << r.err << d.log();
  EXPECT_NE(d.log().find("resuming ingest default/resumable at offset 41943040"), std::string::npos)
      << d.log();
  EXPECT_NE(d.ctr({"content", "ls", "-q"}).out.find(digest), std::string::npos);
  EXPECT_EQ(d.ctr({"content", "active"}).out, "REF    SIZE    AGE\n");
}

TEST_F(ContentTest, SecondWriterOnARefIsLocked) {
  Daemon d;
  ASSERT_TRUE(d.start()) << d.log();
  DaemonClient client(d.socket().c_str());
  auto store = client.ns("default").contentRequest().send().getStore();
  auto open = [&]() {
    auto req = store.writerRequest();
    req.setRef("shared-ref");
    return req.send().getWriter();
  };
  auto first = open();
  first.statusRequest().send().wait(client.waitScope());
  auto second = open();
  KJ_IF_MAYBE(e, kj::runCatchingExceptions(
                     [&]() { second.statusRequest().send().wait(client.waitScope()); })) {
    EXPECT_EQ(errorKind(*e), ErrorKind::UNAVAILABLE) << errorMessage(*e).cStr();
    EXPECT_TRUE(errorMessage(*e).endsWith("locked: unavailable")) << errorMessage(*e).cStr();
  } else {
    ADD_FAILURE() << "two writers on one ref";
  }
  // Once the first lets go, the ref is free again.
  first = nullptr;
  client.waitScope().poll();
  EXPECT_TRUE(waitFor([&]() {
    auto w = open();
    return kj::runCatchingExceptions(
               [&]() { w.statusRequest().send().wait(client.waitScope()); }) == nullptr;
  }));
}

TEST_F(ContentTest, WrongDigestOrSizeStoresNothingAndKeepsTheIngest) {
  Daemon d;
  ASSERT_TRUE(d.start()) << d.log();
  std::string wrong = "sha256:" + std::string(64, '0');
  auto r = d.ctr({"content", "ingest", "--expected-digest", wrong, "bad"}, "payload");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(
      r.err.find(
          "unexpected commit digest "
          "sha256:239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5, expected " +
          wrong + ": failed precondition"),
      std::string::npos)
      << r.err;
  r = d.ctr({"content", "ingest", "--expected-size", "3", "bad2"}, "payload");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("unexpected commit size 7, expected 3: failed precondition"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(d.ctr({"content", "ls", "-q"}).out, "");
  auto active = d.ctr({"content", "active"}).out;
  EXPECT_NE(active.find("bad "), std::string::npos) << active;
  EXPECT_NE(active.find("bad2 "), std::string::npos) << active;
  // The kept ingest finishes with the right expectations.
  r = d.ctr({"content", "ingest", "--expected-size", "7", "bad2"}, "payload");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(d.ctr({"content", "ls", "-q"}).out.find("sha256:239f59"), std::string::npos);
}

TEST_F(ContentTest, IngestingStoredContentAgainIsAlreadyExists) {
  Daemon d;
  ASSERT_TRUE(d.start()) << d.log();
  ASSERT_EQ(d.ctr({"content", "ingest", "one"}, "same bytes").status, 0);
  auto r = d.ctr({"content", "ingest", "two"}, "same bytes");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find(": already exists"), std::string::npos) << r.err;
  auto ls = d.ctr({"content", "ls", "-q"});
  EXPECT_EQ(std::count(ls.out.begin(), ls.out.end(), '\n'), 1) << ls.out;
}

TEST_F(ContentTest, NamespacesSeeOnlyTheirOwnBlobsAndShareTheBytes) {
  Daemon d;
  ASSERT_TRUE(d.start()) << d.log();
  ASSERT_EQ(d.ctr({"-n", "tenant-a", "content", "ingest", "r"}, "secret").status, 0);
  std::string digest = d.ctr({"-n", "tenant-a", "content", "ls", "-q"}).out;
  digest.pop_back();
  auto blobFile = d.root() + "/content/blobs/sha256/" + digest.substr(7);

  EXPECT_EQ(d.ctr({"-n", "tenant-b", "content", "ls", "-q"}).out, "");
  auto r = d.ctr({"-n", "tenant-b", "content", "get", digest});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("content digest " + digest + ": not found"), std::string::npos) << r.err;
  EXPECT_EQ(d.ctr({"-n", "tenant-b", "content", "rm", digest}).status, 1);
  EXPECT_EQ(access(blobFile.c_str(), F_OK), 0);

  // Knowing the digest is not enough: tenant-b has to supply the bytes itself.
  ASSERT_EQ(d.ctr({"-n", "tenant-b", "content", "ingest", "r"}, "secret").status, 0);
  EXPECT_EQ(d.ctr({"-n", "tenant-b", "content", "get", digest}).out, "secret");
  // Held by nothing else: the collection tenant-a's removal sets off would take it.
  ASSERT_EQ(
      d.ctr({"-n", "tenant-b", "content", "label", digest, "containerd.io/gc.root=test"}).status,
      0);
  ASSERT_EQ(d.ctr({"-n", "tenant-a", "content", "rm", digest}).status, 0);
  EXPECT_EQ(d.ctr({"-n", "tenant-a", "content", "ls", "-q"}).out, "");
  EXPECT_EQ(d.ctr({"-n", "tenant-b", "content", "get", digest}).out, "secret");
  ASSERT_EQ(d.ctr({"-n", "tenant-b", "content", "rm", digest}).status, 0);
  EXPECT_NE(access(blobFile.c_str(), F_OK), 0) << "the last holder let go; the bytes stay";
}

TEST_F(ContentTest, LabelsAndFilters) {
  Daemon d;
  ASSERT_TRUE(d.start()) << d.log();
  ASSERT_EQ(d.ctr({"content", "ingest", "a"}, "aaa").status, 0);
  ASSERT_EQ(d.ctr({"content", "ingest", "b"}, "bbb").status, 0);
  auto all = d.ctr({"content", "ls", "-q"}).out;
  std::string first = all.substr(0, all.find('\n'));
  ASSERT_EQ(d.ctr({"content", "label", first, "containerd.io/gc.root=now", "x=1"}).status, 0);
  auto r = d.ctr({"content", "ls", "-q", "labels.\"containerd.io/gc.root\""});
  EXPECT_EQ(r.out, first + "\n");
  r = d.ctr({"content", "ls"});
  EXPECT_NE(r.out.find("containerd.io/gc.root=now,x=1"), std::string::npos) << r.out;
  ASSERT_EQ(d.ctr({"content", "label", first, "x="}).status, 0);
  r = d.ctr({"content", "ls", "-q", "labels.x"});
  EXPECT_EQ(r.out, "");
  r = d.ctr({"content", "ls", "labels.x~=("});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("invalid argument"), std::string::npos) << r.err;
}

TEST_F(ContentTest, BlobsReachLocalClientsAsFdsAndOthersAsReads) {
  Daemon d;
  ASSERT_TRUE(d.start()) << d.log();
  ASSERT_EQ(d.ctr({"content", "ingest", "r"}, "0123456789").status, 0);
  std::string digest = d.ctr({"content", "ls", "-q"}).out;
  digest.pop_back();
  DaemonClient client(d.socket().c_str());
  auto req = client.ns("default").contentRequest().send().getStore().readRequest();
  req.setDigest(digest);
  auto blob = req.send().getBlob();
  int fd = KJ_ASSERT_NONNULL(blob.getFd().wait(client.waitScope()));
  EXPECT_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
  char buf[16] = {};
  EXPECT_EQ(pread(fd, buf, sizeof(buf), 0), 10);
  EXPECT_STREQ(buf, "0123456789");
  EXPECT_EQ(write(fd, "x", 1), -1) << "a blob fd must not be writable";
  auto read = blob.readRequest();
  read.setOffset(3);
  read.setSize(4);
  auto data = read.send().wait(client.waitScope()).getData();
  EXPECT_EQ(std::string(data.asChars().begin(), data.size()), "3456");
}

TEST_F(ContentTest, FullDiskIsAClearErrorAndTheIngestResumesAfterwards) {
  Daemon d;
  ASSERT_EQ(mkdir(d.root().c_str(), 0711), 0);
  ASSERT_EQ(mount("tmpfs", d.root().c_str(), "tmpfs", 0, "size=4m"), 0);
  struct Unmount {
    Daemon& d;
    ~Unmount() {
      d.stop(SIGTERM);
      umount2(d.root().c_str(), MNT_DETACH);
    }
  } unmount{d};
  ASSERT_TRUE(d.start()) << d.log();
  TempDir dir;
  auto path = dir.path() + "/blob";
  auto digest = makeFile(path, 8 << 20, 3);
  auto r = sh(d, "content ingest big < " + path);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("No space left on device: unavailable"), std::string::npos) << r.err;
  EXPECT_EQ(d.ctr({"content", "ls", "-q"}).out, "");
  EXPECT_NE(d.ctr({"content", "active"}).out.find("big "), std::string::npos);

  ASSERT_EQ(mount("tmpfs", d.root().c_str(), "tmpfs", MS_REMOUNT, "size=32m"), 0);
  r = sh(d, "content ingest --expected-digest " + digest + " big < " + path);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(d.ctr({"content", "ls", "-q"}).out.find(digest), std::string::npos);
}

TEST_F(ContentTest, MalformedDigestsAndRefsAreRefused) {
  Daemon d;
  ASSERT_TRUE(d.start()) << d.log();
  auto r = d.ctr({"content", "get", "sha256:../../../etc/shadow"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("invalid digest \"sha256:../../../etc/shadow\": invalid argument"),
            std::string::npos)
      << r.err;
  r = d.ctr({"content", "ingest", "a/../../b"}, "x");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("invalid ref \"a/../../b\": invalid argument"), std::string::npos) << r.err;
  r = d.ctr({"-n", "../x", "content", "ls"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("namespace \"../x\" must match"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ctrd::test
