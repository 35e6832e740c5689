// What must reach the disk before what vouches for it, observed with strace on the running
// services: an ingest's data before the saved hash state that claims it, a snapshot's files
// before its commit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"

namespace ctrd::test {
namespace {

class DurabilityTest : public testing::Test {
protected:
  void SetUp() override {
    if (access("/usr/bin/strace", X_OK) != 0) GTEST_SKIP() << "strace is not installed";
    ASSERT_TRUE(daemon.start()) << daemon.log();
  }

  std::unique_ptr<Child> trace(const std::string& service, const std::string& syscalls) {
    pid_t pid = daemon.servicePid(service);
    EXPECT_GT(pid, 0);
    auto child = std::make_unique<Child>(
        std::vector<std::string>{"/usr/bin/strace", "-f", "-qq", "-e", "trace=" + syscalls, "-o",
                                 traceLog, "-p", std::to_string(pid)},
        dir.path() + "/strace.err");
    // strace has attached once the process shows a tracer.
    EXPECT_TRUE(waitFor([&]() { return procStatusField(pid, "TracerPid:") != "0"; }));
    return child;
  }

  std::vector<std::string> lines() {
    std::vector<std::string> out;
    std::ifstream in(traceLog);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  Daemon daemon;
  TempDir dir;
  std::string traceLog = dir.path() + "/trace.log";
};

TEST_F(DurabilityTest, AnIngestsDataIsSyncedBeforeTheHashStateThatClaimsIt) {
  auto strace = trace("containerd-content", "fdatasync,rename,renameat,renameat2");
  // 150 MiB: the hash state is saved at 64 and 128 MiB.
  auto file = dir.path() + "/data";
  ASSERT_EQ(run({"/bin/sh", "-c", "head -c 157286400 /dev/urandom > " + file}).status, 0);
  auto r =
      run({"/bin/sh", "-c",
           binPath("ctr") + " --address " + daemon.socket() + " content ingest big < " + file});
  ASSERT_EQ(r.status, 0) << r.err;
  strace->stop(15);
  int saved = 0;
  bool syncedSinceLastSave = false;
  for (auto& line : lines()) {
    if (line.find("fdatasync(") != std::string::npos) syncedSinceLastSave = true;
    if (line.find("\"hash.tmp\"") != std::string::npos &&
        line.find("\"hash\"") != std::string::npos) {
      EXPECT_TRUE(syncedSinceLastSave) << line;
      syncedSinceLastSave = false;
      saved++;
    }
  }
  EXPECT_GE(saved, 2) << "the hash state was not saved (atomically) at 64 and 128 MiB";
}

TEST_F(DurabilityTest, ASnapshotsFilesAreSyncedBeforeItCommits) {
  auto strace = trace("containerd-snapshot", "syncfs");
  ASSERT_EQ(daemon.ctr({"snapshots", "prepare", "k"}).status, 0);
  auto r = daemon.ctr({"snapshots", "commit", "c", "k"});
  ASSERT_EQ(r.status, 0) << r.err;
  strace->stop(15);
  int syncs = 0;
  for (auto& line : lines()) syncs += line.find("syncfs(") != std::string::npos;
  EXPECT_GE(syncs, 1);
}

}  // namespace
}  // namespace ctrd::test
