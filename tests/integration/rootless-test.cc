// Rootless: an ordinary user (made here, with and without subordinate ids) runs the daemon with
// no privilege at all, pulls from the real registry, mounts, removes, and nothing of it ever
// runs as root on the host.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "harness.h"
#include "registry.h"

namespace ctrd::test {
namespace {

class RootlessUser {
  // A user of its own for the test's life: a home (HOME, XDG_RUNTIME_DIR beneath it) and, if
  // asked, 65,536 subordinate uids and gids of its own.
public:
  RootlessUser(const std::string& name, bool subordinate) : name_(name) {
    run({"/usr/sbin/userdel", name_});  // a previous run's, killed before its teardown
    auto made = run({"/usr/sbin/useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "-K",
                     "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", name_});
    EXPECT_EQ(made.status, 0) << made.err;
    struct passwd* pw = getpwnam(name_.c_str());
    if (pw == nullptr) return;
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
    if (subordinate) {
      first_ = 300000 + (getpid() % 1000) * 65536;
      range_ = std::to_string(first_) + "-" + std::to_string(first_ + 65535);
      auto r = run({"/usr/sbin/usermod", "--add-subuids", range_, "--add-subgids", range_, name_});
      EXPECT_EQ(r.status, 0) << r.err;
    }
    home_ = "/tmp/ctrd-rootless-" + name_;
    run({"/bin/rm", "-rf", home_});
    mkdir(home_.c_str(), 0700);
    mkdir((home_ + "/run").c_str(), 0700);
    chown(home_.c_str(), uid_, gid_);
    chown((home_ + "/run").c_str(), uid_, gid_);
    // The executables, copied where the user can reach them: the build tree may be under a
    // directory only root may enter (a CI checkout in /root). The daemon finds its services
    // beside itself.
    mkdir((home_ + "/bin").c_str(), 0755);
    for (auto name :
         {"containerd", "containerd-content", "containerd-snapshot", "containerd-diff", "ctr"}) {
      auto copied = run({"/bin/cp", binPath(name), home_ + "/bin/" + name});
      EXPECT_EQ(copied.status, 0) << copied.err;
    }
  }
  ~RootlessUser() {
    if (!range_.empty()) {
      run({"/usr/sbin/usermod", "--del-subuids", range_, "--del-subgids", range_, name_});
    }
    // Whatever its processes were, they go with it.
    run({"/usr/bin/pkill", "-KILL", "-u", name_});
    waitFor([&]() { return run({"/usr/bin/pgrep", "-u", name_}).status != 0; });
    run({"/usr/sbin/userdel", name_});
    run({"/bin/rm", "-rf", home_});
  }

  bool made() const { return uid_ != 0; }
  uid_t uid() const { return uid_; }
  uid_t firstSubordinate() const { return first_; }
  const std::string& name() const { return name_; }
  const std::string& home() const { return home_; }
  std::string root() const { return home_ + "/.local/share/containerd"; }
  std::string bin(const std::string& name) const { return home_ + "/bin/" + name; }

  std::vector<std::string> as(std::vector<std::string> argv) const {
    // No capability, no supplementary group, an environment of its own: as a login would.
    std::vector<std::string> out = {"/usr/bin/setpriv",
                                    "--reuid=" + std::to_string(uid_),
                                    "--regid=" + std::to_string(gid_),
                                    "--clear-groups",
                                    "--",
                                    "/usr/bin/env",
                                    "-i",
                                    "HOME=" + home_,
                                    "XDG_RUNTIME_DIR=" + home_ + "/run",
                                    "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
  }
  Result ctr(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {bin("ctr")};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(as(argv));
  }

private:
  std::string name_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  uid_t first_ = 0;
  std::string range_;
  std::string home_;
};

std::map<pid_t, pid_t> parents() {
  std::map<pid_t, pid_t> out;
  DIR* d = opendir("/proc");
  while (struct dirent* e = readdir(d)) {
    pid_t pid = atoi(e->d_name);
    if (pid <= 0) continue;
    std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    out[pid] = ppid;
  }
  closedir(d);
  return out;
}

std::vector<pid_t> processTree(pid_t top) {
  auto ppid = parents();
  std::vector<pid_t> out = {top};
  for (size_t i = 0; i < out.size(); i++) {
    for (auto& [pid, parent] : ppid) {
      if (parent == out[i]) out.push_back(pid);
    }
  }
  return out;
}

std::string listInNamespaces(pid_t holder, const std::string& path) {
  // listTree() as a process in the daemon's user and mount namespaces sees it: the mount is
  // there, and owners as the namespace maps them.
  int fds[2];
  if (pipe(fds) < 0) return "pipe failed";
  pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    int user = open(("/proc/" + std::to_string(holder) + "/ns/user").c_str(), O_RDONLY);
    int mnt = open(("/proc/" + std::to_string(holder) + "/ns/mnt").c_str(), O_RDONLY);
    if (setns(user, CLONE_NEWUSER) < 0 || setns(mnt, CLONE_NEWNS) < 0) _exit(2);
    auto listing = listTree(path);
    if (write(fds[1], listing.data(), listing.size()) != ssize_t(listing.size())) _exit(3);
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, n);
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_EQ(status, 0) << "listing in the daemon's namespaces failed";
  return out;
}

std::string withoutDevices(const std::string& listing) {
  std::istringstream in(listing);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (line.find("\tc\t") != std::string::npos || line.find("\tb\t") != std::string::npos) {
      continue;
    }
    out += line + "\n";
  }
  return out;
}

class RootlessTest : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_EQ(getuid(), 0u) << "the test makes users: run it as root";
    ASSERT_EQ(access("/usr/bin/newuidmap", X_OK), 0) << "Debian's uidmap package is needed";
    ASSERT_TRUE(registry.up());
    auto made = run({"/usr/bin/python3",
                     CTRD_SOURCE_DIR "/tests/bin/containerd-diff/make-layers.py", corpus.path()});
    ASSERT_EQ(made.status, 0) << made.err;
    // The applier's tricky corpus over a base and a layer of whiteouts and an opaque directory:
    // owners 1000 and 65534, setuid, setgid and sticky modes, a FIFO, a char and a block device,
    // user xattrs and a file capability, hardlinks, symlinks, long names.
    registry.push({"image", "tricky:1", "--layer", corpus.path() + "/base.tar", "--layer",
                   corpus.path() + "/whiteouts.tar", "--layer", corpus.path() + "/tricky.tar"});
    registry.push({"busybox", "busybox:1"});
    tricky = registry.address() + "/tricky:1";
    busybox = registry.address() + "/busybox:1";
  }

  pid_t startAs(const RootlessUser& user, std::unique_ptr<Child>& daemon, const std::string& log) {
    daemon =
        std::make_unique<Child>(user.as({user.bin("containerd"), "--log-level", "debug"}), log);
    bool up = waitFor([&]() { return !daemon->running() || user.ctr({"version"}).status == 0; });
    EXPECT_TRUE(up && daemon->running()) << readFile(log);
    return daemon->pid();
  }

  Registry registry;
  TempDir corpus;
  std::string tricky, busybox;
};

TEST_F(RootlessTest, AUserPullsMountsAndRemovesImagesWithNoRootAtAll) {
  RootlessUser user("ctrdrl" + std::to_string(getpid()), true);
  ASSERT_TRUE(user.made());
  std::unique_ptr<Child> daemon;
  auto log = user.home() + "/containerd.log";
  pid_t pid = startAs(user, daemon, log);
  ASSERT_GT(pid, 0);

  // Root and socket under the user's XDG directories; the namespace maps the user's range.
  EXPECT_EQ(access((user.home() + "/run/containerd/containerd.sock").c_str(), F_OK), 0);
  EXPECT_NE(readFile(log).find("rootless: uid 0 is " + std::to_string(user.uid()) +
                               ", uids 1-65536 are " + std::to_string(user.firstSubordinate())),
            std::string::npos)
      << readFile(log);

  // Every pull works as that user.
  for (auto& ref : {busybox, tricky}) {
    auto r = user.ctr({"images", "pull", ref});
    ASSERT_EQ(r.status, 0) << r.err << readFile(log);
  }

  // No process of this daemon runs as root on the host: every uid of each is the user's. The
  // services hold their profile's capabilities, in the namespace only where they have any.
  auto tree = processTree(pid);
  std::set<std::string> names;
  pid_t holder = 0;
  for (pid_t p : tree) {
    auto comm = readFile("/proc/" + std::to_string(p) + "/comm");
    if (comm.empty()) continue;
    comm.pop_back();
    names.insert(comm);
    std::string u = std::to_string(user.uid());
    EXPECT_EQ(procStatusField(p, "Uid:"), u + "\t" + u + "\t" + u + "\t" + u) << comm;
    if (comm == "containerd" && p != pid) holder = p;
    if (comm != "containerd") {
      EXPECT_EQ(procStatusField(p, "NoNewPrivs:"), "1") << comm;
    }
    if (comm == "containerd-cont" || p == holder) {
      EXPECT_EQ(procStatusField(p, "CapEff:"), "0000000000000000") << comm;
      EXPECT_EQ(procStatusField(p, "CapPrm:"), "0000000000000000") << comm;
    }
    if (comm == "containerd-diff" || comm == "containerd-snap") {
      // CHOWN, DAC_OVERRIDE, FOWNER, FSETID, SETFCAP: no MKNOD.
      EXPECT_EQ(procStatusField(p, "CapEff:"), "000000008000001b") << comm;
      EXPECT_EQ(procStatusField(p, "CapBnd:"), "000000008000001b") << comm;
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"containerd", "containerd-cont", "containerd-snap",
                                          "containerd-diff"}));
  ASSERT_GT(holder, 0);
  auto nsOf = [](pid_t p, const char* which) {
    char buf[64] = {};
    readlink(("/proc/" + std::to_string(p) + "/ns/" + which).c_str(), buf, sizeof(buf) - 1);
    return std::string(buf);
  };
  EXPECT_EQ(nsOf(daemon->pid(), "user"), nsOf(getpid(), "user"));
  for (pid_t p : tree) {
    auto comm = readFile("/proc/" + std::to_string(p) + "/comm");
    bool inside = comm == "containerd-diff\n" || comm == "containerd-snap\n" || p == holder;
    EXPECT_EQ(nsOf(p, "user") == nsOf(holder, "user"), inside) << comm;
  }

  // On disk, owners are shifted into the user's range: 1000 is first + 999, root the user.
  std::string stored;
  auto found = run({"/usr/bin/find", user.root() + "/snapshots", "-path", "*/fs/dir/file"});
  std::istringstream paths(found.out);
  std::getline(paths, stored);
  ASSERT_FALSE(stored.empty()) << found.out << found.err;
  struct stat st;
  ASSERT_EQ(stat(stored.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, user.firstSubordinate() + 999);
  EXPECT_EQ(st.st_gid, user.firstSubordinate() + 1000);

  // Mounted in the daemon's namespaces, the tree is the one a root daemon unpacks, without the
  // two device nodes (none can be made in a user namespace: skipped, and said so).
  auto target = user.home() + "/mnt";
  mkdir(target.c_str(), 0755);
  chown(target.c_str(), user.uid(), -1);
  auto mounted = user.ctr({"images", "mount", tricky, target});
  ASSERT_EQ(mounted.status, 0) << mounted.err << readFile(log);
  auto ours = listInNamespaces(holder, target);
  EXPECT_NE(readFile(log).find("layer entry \\\"dir/char\\\": device node 1:3 skipped"),
            std::string::npos);
  EXPECT_NE(readFile(log).find("layer entry \\\"dir/block\\\": device node 7:0 skipped"),
            std::string::npos);
  EXPECT_TRUE(mountsBeneath(user.home()).empty()) << "the host sees no mount of it";
  auto unmounted = user.ctr({"images", "unmount", "--rm", target});
  EXPECT_EQ(unmounted.status, 0) << unmounted.err;
  EXPECT_EQ(listInNamespaces(holder, target), "") << "unmounted in the namespace too";

  Daemon rootful;
  ASSERT_TRUE(rootful.start()) << rootful.log();
  ASSERT_EQ(rootful.ctr({"images", "pull", tricky}).status, 0) << rootful.log();
  auto rootfulTarget = corpus.path() + "/rootful";
  mkdir(rootfulTarget.c_str(), 0755);
  ASSERT_EQ(rootful.ctr({"images", "mount", tricky, rootfulTarget}).status, 0);
  auto theirs = listTree(rootfulTarget);
  rootful.ctr({"images", "unmount", "--rm", rootfulTarget});
  EXPECT_NE(theirs.find("dir/char\tc"), std::string::npos) << theirs;
  EXPECT_EQ(ours.find("dir/char\t"), std::string::npos) << ours;
  EXPECT_EQ(ours, withoutDevices(theirs));

  // The peer's tricky image too, where ../shared/peer is at hand: the same, both ways.
  auto peerLayers = corpus.path() + "/peer";
  if (run({"/bin/bash", sourcePath("tests/integration/make-peer-layers.sh"), "tricky", peerLayers})
          .status == 0) {
    registry.push({"image", "peer-tricky:1", "--layer", peerLayers + "/tricky-l1.tar", "--layer",
                   peerLayers + "/tricky-l2.tar", "--layer", peerLayers + "/tricky-l3.tar"});
    auto ref = registry.address() + "/peer-tricky:1";
    auto pulled = user.ctr({"images", "pull", ref});
    ASSERT_EQ(pulled.status, 0) << pulled.err << readFile(log);
    ASSERT_EQ(user.ctr({"images", "mount", ref, target}).status, 0);
    auto rootlessTree = listInNamespaces(holder, target);
    user.ctr({"images", "unmount", "--rm", target});
    ASSERT_EQ(rootful.ctr({"images", "pull", ref}).status, 0) << rootful.log();
    ASSERT_EQ(rootful.ctr({"images", "mount", ref, rootfulTarget}).status, 0);
    auto rootfulTree = listTree(rootfulTarget);
    rootful.ctr({"images", "unmount", "--rm", rootfulTarget});
    EXPECT_EQ(rootlessTree, withoutDevices(rootfulTree));
    EXPECT_EQ(user.ctr({"images", "rm", "--sync", ref}).status, 0);
  }

  // Running containers is not here rootless, and says so.
  auto ran = user.ctr({"run", "--rm", busybox, "r1", "true"});
  EXPECT_NE(ran.status, 0);
  EXPECT_NE(ran.err.find("running containers rootless is not implemented"), std::string::npos)
      << ran.err;

  // Everything removed through the daemon, then the daemon stopped: the user deletes the store
  // with no help, as nothing in it belongs to anyone else.
  for (auto& ref : {busybox, tricky}) {
    auto r = user.ctr({"images", "rm", "--sync", ref});
    EXPECT_EQ(r.status, 0) << r.err;
  }
  EXPECT_EQ(user.ctr({"snapshots", "ls", "-q"}).out, "");
  EXPECT_EQ(daemon->stop(SIGTERM), 0) << readFile(log);
  auto foreign = run({"/usr/bin/find", user.root(), "!", "-user", user.name()});
  EXPECT_EQ(foreign.out, "") << "owned by someone else";
  auto removed = run(user.as({"/bin/rm", "-rf", user.root()}));
  EXPECT_EQ(removed.status, 0) << removed.err;
  EXPECT_NE(access(user.root().c_str(), F_OK), 0);
}

TEST_F(RootlessTest, AUserWithoutSubordinateIdsIsToldAndLayersOfOtherOwnersFailClearly) {
  RootlessUser user("ctrdrn" + std::to_string(getpid()), false);
  ASSERT_TRUE(user.made());
  std::unique_ptr<Child> daemon;
  auto log = user.home() + "/containerd.log";
  ASSERT_GT(startAs(user, daemon, log), 0);
  // The log's quotes are escaped (logfmt).
  std::regex told("no subordinate uids for user \\\\\"" + user.name() +
                  "\\\\\" in /etc/subuid: only uid [0-9]+ and gid [0-9]+ are mapped");
  EXPECT_TRUE(std::regex_search(readFile(log), told)) << readFile(log);

  // Everything busybox holds is root's: it unpacks.
  auto ok = user.ctr({"images", "pull", busybox});
  EXPECT_EQ(ok.status, 0) << ok.err << readFile(log);
  // The tricky image has files of uid 1000: the pull fails naming the file and the fix, and
  // leaves no half-applied snapshot.
  auto failed = user.ctr({"images", "pull", tricky});
  EXPECT_NE(failed.status, 0);
  EXPECT_NE(failed.err.find("layer entry \"dir/\": chown to uid 1000, gid 1000: not mapped in the "
                            "rootless daemon's user namespace (give the user a range in "
                            "/etc/subuid and /etc/subgid)"),
            std::string::npos)
      << failed.err;
  EXPECT_TRUE(waitFor([&]() {
    return user.ctr({"snapshots", "ls"}).out.find("extract-") == std::string::npos;
  })) << user.ctr({"snapshots", "ls"}).out;
  EXPECT_EQ(daemon->stop(SIGTERM), 0) << readFile(log);
}

}  // namespace
}  // namespace ctrd::test
