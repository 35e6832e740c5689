// kill -9 of each service at moments of a pull (downloading, applying, committing): the next
// pull succeeds the first time, and the store is as an undisturbed pull leaves it: the image
// complete, every blob's bytes matching its digest, the unpacked tree identical, no stray
// snapshot or ingest.
#include <common/digest.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

#include "harness.h"
#include "registry.h"

namespace ctrd::test {
namespace {

std::string randomBytes(size_t n) {
  std::ifstream in("/dev/urandom", std::ios::binary);
  std::string out(n, '\0');
  in.read(out.data(), n);
  return out;
}

class PullFaultTest : public testing::Test {
protected:
  void SetUp() override {
    if (!Registry::available()) GTEST_SKIP() << "docker-registry is not installed";
    ASSERT_TRUE(registry.up());
    std::vector<std::string> args = {"image", "faults:1"};
    for (int i = 0; i < 4; i++) {
      auto dir = work.path() + "/layer" + std::to_string(i);
      run({"/bin/mkdir", "-p", dir + "/d" + std::to_string(i)});
      std::ofstream(dir + "/d" + std::to_string(i) + "/blob", std::ios::binary)
          << randomBytes(3 << 20);
      for (int f = 0; f < 200; f++) {
        std::ofstream(dir + "/d" + std::to_string(i) + "/f" + std::to_string(f)) << f << i;
      }
      args.push_back("--layer");
      args.push_back(dir);
    }
    registry.push(args);
    proxy = std::make_unique<RegistryProxy>(registry.address(),
                                            std::vector<std::string>{"--rate", "12000000"});
    ASSERT_TRUE(proxy->start());
    ref = proxy->address() + "/faults:1";
    ASSERT_TRUE(daemon.start()) << daemon.log();
    // The undisturbed pull every trial is compared with.
    ASSERT_EQ(ctr("reference", {"images", "pull", ref}).status, 0) << daemon.log();
    expected = unpackedTree("reference");
    ASSERT_NE(expected, "");
  }

  Result ctr(const std::string& ns, std::vector<std::string> args) {
    args.insert(args.begin(), {"-n", ns});
    return daemon.ctr(args);
  }

  std::string unpackedTree(const std::string& ns) {
    auto target = work.path() + "/mnt-" + ns;
    mkdir(target.c_str(), 0755);
    auto r = ctr(ns, {"images", "mount", ref, target});
    EXPECT_EQ(r.status, 0) << r.err;
    if (r.status != 0) return "";
    auto listing = listTree(target);
    EXPECT_EQ(ctr(ns, {"images", "unmount", "--rm", target}).status, 0);
    return listing;
  }

  void trial(const std::string& service, const std::string& ns,
             const std::function<bool()>& moment) {
    SCOPED_TRACE(service + " killed in " + ns);
    Child puller({binPath("ctr"), "--address", daemon.socket(), "-n", ns, "images", "pull", ref},
                 work.path() + "/" + ns + ".log");
    ASSERT_TRUE(waitFor(moment, 30000)) << "the moment never came";
    pid_t pid = daemon.servicePid(service);
    ASSERT_GT(pid, 0);
    kill(pid, SIGKILL);
    ASSERT_TRUE(waitFor([&]() { return !puller.running(); }, 30000));
    ASSERT_TRUE(waitFor([&]() {
      pid_t now = daemon.servicePid(service);
      return now > 0 && now != pid;
    }));
    // "pull again to resume" holds the first time.
    auto again = ctr(ns, {"images", "pull", ref});
    ASSERT_EQ(again.status, 0) << again.err << readFile(work.path() + "/" + ns + ".log")
                               << daemon.log();
    auto check = ctr(ns, {"images", "check"}).out;
    EXPECT_NE(check.find("complete"), std::string::npos) << check;
    EXPECT_EQ(check.find("incomplete"), std::string::npos) << check;
    std::istringstream digests(ctr(ns, {"content", "ls", "-q"}).out);
    int blobs = 0;
    for (std::string d; std::getline(digests, d);) {
      auto bytes = run({"/bin/sh", "-c",
                        binPath("ctr") + " --address " + daemon.socket() + " -n " + ns +
                            " content get " + d + " | sha256sum"});
      EXPECT_EQ("sha256:" + bytes.out.substr(0, 64), d);
      blobs++;
    }
    EXPECT_EQ(blobs, 6);  // manifest, config, 4 layers
    EXPECT_EQ(unpackedTree(ns), expected);
    // Leftovers of the killed pull are removed (once the service is back, within seconds).
    EXPECT_TRUE(waitFor([&]() {
      auto snapshots = ctr(ns, {"snapshots", "ls"}).out;
      return snapshots.find("extract-") == std::string::npos &&
             snapshots.find("Active") == std::string::npos;
    })) << ctr(ns, {"snapshots", "ls"}).out;
    EXPECT_EQ(ctr(ns, {"content", "active"}).out.find("layer-"), std::string::npos)
        << ctr(ns, {"content", "active"}).out;
  }

  std::function<bool()> downloading(const std::string& ns) {
    return [this, ns]() {
      std::smatch m;
      auto active = ctr(ns, {"content", "active"}).out;
      return std::regex_search(active, m, std::regex("layer-sha256:[0-9a-f]+ +([0-9.]+)MB")) &&
             std::stod(m[1].str()) > 0.5;
    };
  }
  std::function<bool()> applying(const std::string& ns) {
    return [this, ns]() {
      return ctr(ns, {"snapshots", "ls"}).out.find("extract-") != std::string::npos;
    };
  }
  std::function<bool()> committed(const std::string& ns) {
    return [this, ns]() {
      auto out = ctr(ns, {"snapshots", "ls"}).out;
      return out.find("Committed") != std::string::npos;
    };
  }

  Registry registry;
  TempDir work;
  std::unique_ptr<RegistryProxy> proxy;
  Daemon daemon;
  std::string ref;
  std::string expected;
};

TEST_F(PullFaultTest, SnapshotKilledWhileApplyingOrCommitting) {
  trial("containerd-snapshot", "s1", applying("s1"));
  trial("containerd-snapshot", "s2", committed("s2"));
}

TEST_F(PullFaultTest, DiffKilledWhileApplying) {
  trial("containerd-diff", "d1", applying("d1"));
  trial("containerd-diff", "d2", committed("d2"));
}

TEST_F(PullFaultTest, ContentKilledWhileDownloadingOrApplying) {
  trial("containerd-content", "c1", downloading("c1"));
  trial("containerd-content", "c2", applying("c2"));
}

}  // namespace
}  // namespace ctrd::test
