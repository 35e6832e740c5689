#include "profile.h"

#include <common/errors.h>
#include <errno.h>
#include <grp.h>
#include <kj/debug.h>
#include <linux/securebits.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

namespace ctrd {

uint64_t capabilityBit(int cap) {
  return uint64_t(1) << cap;
}

namespace {

// What any KJ/Cap'n Proto service needs to run its event loop and serve RPC over a socket it was
// handed: memory, threads, time, signals, epoll, fd I/O, fd passing.
#define CTRD_RUNTIME_SYSCALLS                                                                     \
  "brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "futex", "rseq", "set_robust_list",   \
      "set_tid_address", "exit", "exit_group", "getpid", "gettid", "getuid", "geteuid", "getgid", \
      "getegid", "getresuid", "getresgid", "getgroups", "getrandom", "clock_gettime",             \
      "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "sched_yield",              \
      "sched_getaffinity", "prlimit64", "getrlimit", "uname", "restart_syscall", "tgkill",        \
      "rt_sigreturn", "rt_sigaction", "rt_sigprocmask", "sigaltstack", "epoll_create1",           \
      "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd2", "signalfd4", "poll",  \
      "ppoll", "read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "close",       \
      "close_range", "dup", "dup3", "fcntl", "ioctl", "recvmsg", "sendmsg", "recvfrom", "sendto", \
      "shutdown", "getsockopt", "setsockopt", "getsockname", "getpeername", "accept4", "fstat",   \
      "newfstatat", "statx", "pipe2"

// Reading and writing files beneath directories the service owns or was handed.
#define CTRD_FILE_SYSCALLS                                                                     \
  "openat", "openat2", "mkdirat", "unlinkat", "renameat", "renameat2", "linkat", "symlinkat",  \
      "readlinkat", "getdents64", "fstatfs", "statfs", "fsync", "fdatasync", "syncfs",         \
      "sync_file_range", "ftruncate", "fallocate", "fchmod", "fchmodat", "utimensat", "flock", \
      "faccessat", "faccessat2", "copy_file_range", "sendfile", "splice", "fgetxattr",         \
      "flistxattr", "fsetxattr", "fremovexattr", "getxattr", "lgetxattr", "listxattr",         \
      "llistxattr"

// SQLite is path-based and calls the old forms directly.
#define CTRD_SQLITE_SYSCALLS "unlink", "access", "readlink", "getcwd", "mkdir", "rmdir"

// Changing ownership and xattrs of entries (snapshot trees, layer contents).
#define CTRD_OWNER_SYSCALLS \
  "fchown", "fchownat", "lsetxattr", "setxattr", "lremovexattr", "removexattr"

const kj::StringPtr CONTENT_SYSCALLS[] = {CTRD_RUNTIME_SYSCALLS, CTRD_FILE_SYSCALLS,
                                          // The registry client: TCP and DNS.
                                          "socket", "connect", "bind", "sendmmsg", "recvmmsg",
                                          "clone"};
const kj::StringPtr SNAPSHOT_SYSCALLS[] = {
    CTRD_RUNTIME_SYSCALLS, CTRD_FILE_SYSCALLS, CTRD_OWNER_SYSCALLS,
    CTRD_SQLITE_SYSCALLS,  "mknodat",          "clone"};
// Each apply confines its own thread with Landlock (prctl only to read or set no_new_privs), and
// sets modes with fchmodat2, which can refuse to follow a symlink.
const kj::StringPtr DIFF_SYSCALLS[] = {CTRD_RUNTIME_SYSCALLS,
                                       CTRD_FILE_SYSCALLS,
                                       CTRD_OWNER_SYSCALLS,
                                       "mknodat",
                                       "fchmodat2",
                                       "memfd_create",
                                       "clone",
                                       "landlock_create_ruleset",
                                       "landlock_add_rule",
                                       "landlock_restrict_self",
                                       "prctl"};

// containerd-tasks forks shims that run runc, which runs containers: a seccomp filter is
// inherited across fork and exec, so an allow-list here would also be the containers' (runc
// applies their own profile on top). It therefore denies only what no part of running a
// container needs. For the same reason it keeps NO_NEW_PRIVS off: set here, it would stop
// setuid and file-capability binaries inside every container.
const kj::StringPtr TASKS_DENIED_SYSCALLS[] = {
    "kexec_load",    "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot",        "swapon",          "swapoff",     "acct",         "settimeofday",
    "clock_settime", "clock_adjtime",   "adjtimex",    "syslog",       "iopl",
    "ioperm",        "quotactl",        "uselib",      "vhangup",      "lookup_dcookie",
    "nfsservctl"};

constexpr int CONTENT_SOCKET_FAMILIES[] = {AF_INET, AF_INET6};

constexpr uint64_t bit(int cap) {
  return uint64_t(1) << cap;
}
constexpr uint64_t ALL_CAPS = ~uint64_t(0);

const Profile PROFILES[] = {
    {ServiceKind::CONTENT, "containerd-content"_kj, "content"_kj, "io.containerd.content.v1"_kj,
     "content"_kj, false, false, 0, true, SeccompPolicy::ALLOW_LIST, CONTENT_SYSCALLS,
     CONTENT_SOCKET_FAMILIES},
    {ServiceKind::SNAPSHOT, "containerd-snapshot"_kj, "snapshot"_kj,
     "io.containerd.snapshotter.v1"_kj, "snapshots"_kj, false, false,
     // MKNOD and SETFCAP only because the native snapshotter copies parent trees, which carry
     // device nodes and file capabilities; rootful only, like diff's.
     bit(CAP_DAC_OVERRIDE) | bit(CAP_FOWNER) | bit(CAP_CHOWN) | bit(CAP_MKNOD) | bit(CAP_SETFCAP) |
         bit(CAP_FSETID),
     true, SeccompPolicy::ALLOW_LIST, SNAPSHOT_SYSCALLS, nullptr},
    // CAP_MKNOD only for real device nodes in layers (rootful); whiteouts need none. CAP_FSETID
    // because chmod drops setgid from a file whose group the caller is not in.
    {ServiceKind::DIFF, "containerd-diff"_kj, "diff"_kj, "io.containerd.differ.v1"_kj, ""_kj, false,
     true,
     bit(CAP_CHOWN) | bit(CAP_FOWNER) | bit(CAP_DAC_OVERRIDE) | bit(CAP_SETFCAP) | bit(CAP_MKNOD) |
         bit(CAP_FSETID),
     true, SeccompPolicy::ALLOW_LIST, DIFF_SYSCALLS, nullptr},
    // Its store is <state>/tasks: one bundle per task (<namespace>/<id>/), gone at reboot with
    // the containers they ran.
    {ServiceKind::TASKS, "containerd-tasks"_kj, "tasks"_kj, "io.containerd.runtime.v2"_kj,
     "tasks"_kj, true, false, ALL_CAPS, false, SeccompPolicy::DENY_LIST, TASKS_DENIED_SYSCALLS,
     nullptr, true},
};

// ---------------------------------------------------------------------------------------------
// The steps of enterSandbox(), in order.

void closeInheritedFds(kj::ArrayPtr<const int> keep) {
  // Anything a parent forgot to mark CLOEXEC would otherwise stay reachable for the process's
  // whole life. Close every range between the fds we keep.
  unsigned int next = 3;
  int sorted[16];
  KJ_REQUIRE(keep.size() <= kj::size(sorted), "too many fds to keep");
  size_t n = 0;
  for (int fd : keep) {
    if (fd >= 3) sorted[n++] = fd;
  }
  std::sort(sorted, sorted + n);
  for (size_t i = 0; i < n; i++) {
    if (unsigned(sorted[i]) > next) {
      KJ_SYSCALL(close_range(next, sorted[i] - 1, 0));
    }
    next = sorted[i] + 1;
  }
  KJ_SYSCALL(close_range(next, ~0U, 0));
}

void enterEmptyRoot() {
  // Everything this process touches arrives as an fd; with an empty, deleted directory as its
  // root, an absolute path (or a ".." walk) names nothing at all.
  char dir[] = "/tmp/ctrd-empty-XXXXXX";
  KJ_SYSCALL(mkdtemp(dir) == nullptr ? -1 : 0);
  KJ_SYSCALL(chdir(dir));
  KJ_SYSCALL(rmdir(dir));
  KJ_SYSCALL(chroot("."));
  KJ_SYSCALL(chdir("/"));
}

void dropBoundingSet(uint64_t keep) {
  // The bounding set caps what any later exec could ever regain; it can only shrink, and only
  // while we still hold CAP_SETPCAP.
  for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
    if (keep & bit(cap)) continue;
    if (!CAP_IS_SUPPORTED(cap)) continue;
    KJ_SYSCALL(prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), cap);
  }
}

void switchIdentity(Identity id) {
  // KEEP_CAPS keeps the permitted set across setresuid, NO_SETUID_FIXUP keeps the kernel from
  // clearing it, NOROOT means uid 0 would grant nothing even if regained. Locked where possible.
  KJ_SYSCALL(prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS | SECBIT_NO_SETUID_FIXUP |
                                          SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_NOROOT |
                                          SECBIT_NOROOT_LOCKED));
  KJ_SYSCALL(setgroups(0, nullptr));
  KJ_SYSCALL(setresgid(id.gid, id.gid, id.gid), id.gid);
  KJ_SYSCALL(setresuid(id.uid, id.uid, id.uid), id.uid);
}

void setCapabilities(uint64_t keep) {
  cap_t caps = cap_init();
  KJ_DEFER(cap_free(caps));
  for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
    if (!(keep & bit(cap)) || !CAP_IS_SUPPORTED(cap)) continue;
    cap_value_t v = cap;
    KJ_SYSCALL(cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_SET));
    KJ_SYSCALL(cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_SET));
  }
  KJ_SYSCALL(cap_set_proc(caps), "cutting capabilities to the profile");
  KJ_SYSCALL(cap_reset_ambient());
}

void loadSeccomp(const Profile& profile) {
  bool allow = profile.seccompPolicy == SeccompPolicy::ALLOW_LIST;
  scmp_filter_ctx ctx = seccomp_init(allow ? SCMP_ACT_ERRNO(EPERM) : SCMP_ACT_ALLOW);
  KJ_ASSERT(ctx != nullptr, "seccomp_init failed");
  KJ_DEFER(seccomp_release(ctx));
  // libseccomp sets NO_NEW_PRIVS itself unless told not to; the profile decides.
  KJ_ASSERT(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, profile.noNewPrivs ? 1 : 0) == 0);

  auto rule = [&](uint32_t action, kj::StringPtr name, auto... args) {
    int nr = seccomp_syscall_resolve_name(name.cStr());
    KJ_ASSERT(nr != __NR_SCMP_ERROR, "unknown syscall in profile", name);
    int rc = seccomp_rule_add(ctx, action, nr, sizeof...(args), args...);
    KJ_ASSERT(rc == 0, "seccomp_rule_add", name, strerror(-rc));
  };

  for (auto name : profile.syscalls) {
    if (!allow) {
      rule(SCMP_ACT_ERRNO(EPERM), name);
    } else if (name == "clone") {
      // Threads only: a service never forks.
      rule(SCMP_ACT_ALLOW, name, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    } else if (name == "prctl") {
      for (int option : {PR_GET_NO_NEW_PRIVS, PR_SET_NO_NEW_PRIVS}) {
        rule(SCMP_ACT_ALLOW, name, SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(option)));
      }
    } else if (name == "socket") {
      for (int family : profile.socketFamilies) {
        rule(SCMP_ACT_ALLOW, name, SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(family)));
      }
    } else {
      rule(SCMP_ACT_ALLOW, name);
    }
  }
  if (allow) {
    // glibc falls back from clone3 to clone only on ENOSYS; EPERM would fail thread creation.
    rule(SCMP_ACT_ERRNO(ENOSYS), "clone3");
  }
  int rc = seccomp_load(ctx);
  KJ_REQUIRE(rc == 0, "loading the seccomp filter", strerror(-rc));
}

}  // namespace

kj::ArrayPtr<const Profile> allProfiles() {
  return PROFILES;
}

const Profile& profileFor(ServiceKind kind) {
  for (auto& p : PROFILES) {
    if (p.kind == kind) return p;
  }
  KJ_FAIL_ASSERT("no profile for service kind", static_cast<int>(kind));
}

kj::Maybe<const Profile&> tryProfileByConfigKey(kj::StringPtr key) {
  for (auto& p : PROFILES) {
    if (p.configKey == key) return p;
  }
  return nullptr;
}

void raiseFileLimit() {
  // A service holds an fd per blob read, per directory handed out, per connection: the soft
  // limit (often 1,024) is an accident of the shell that started it; the hard one is the policy.
  struct rlimit limit;
  KJ_SYSCALL(getrlimit(RLIMIT_NOFILE, &limit));
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    KJ_SYSCALL(setrlimit(RLIMIT_NOFILE, &limit));
  }
}

void enterSandbox(const Profile& profile, kj::Maybe<Identity> identity,
                  kj::ArrayPtr<const int> keepFds, bool inUserNamespace) {
  closeInheritedFds(keepFds);
  raiseFileLimit();
  if (inUserNamespace) {
    if (identity != nullptr) {
      throwError(ErrorKind::INVALID_ARGUMENT,
                 "a service in the daemon's user namespace runs as the user: no --uid or --user");
    }
    uint64_t caps = profile.capabilities & ~bit(CAP_MKNOD);
    if (profile.emptyRoot) enterEmptyRoot();
    dropBoundingSet(caps);
    KJ_SYSCALL(prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
                                            SECBIT_NOROOT | SECBIT_NOROOT_LOCKED));
    // Refused where the mapping denied setgroups (no subordinate range): the groups stay.
    if (setgroups(0, nullptr) < 0 && errno != EPERM) KJ_FAIL_SYSCALL("setgroups", errno);
    if (caps != ALL_CAPS) setCapabilities(caps);
    if (profile.noNewPrivs) KJ_SYSCALL(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    loadSeccomp(profile);
    return;
  }

  bool isRoot = geteuid() == 0;
  if (profile.emptyRoot && isRoot) enterEmptyRoot();
  KJ_IF_MAYBE(id, identity) {
    if (id->uid == 0 && !profile.runsAsRoot) {
      throwError(ErrorKind::INVALID_ARGUMENT, "must not run as uid 0: give it a uid of its own");
    }
    if (!isRoot) {
      throwError(ErrorKind::FAILED_PRECONDITION,
                 kj::str("cannot switch to uid ", id->uid, ": only root can"));
    }
    dropBoundingSet(profile.capabilities);
    switchIdentity(*id);
  } else {
    if (isRoot && !profile.runsAsRoot) {
      throwError(ErrorKind::INVALID_ARGUMENT,
                 "must not run as uid 0: give it --uid and --gid, or --user");
    }
    if (isRoot) dropBoundingSet(profile.capabilities);
  }
  if (profile.capabilities != ALL_CAPS) setCapabilities(profile.capabilities);
  if (profile.noNewPrivs) {
    KJ_SYSCALL(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
  }
  loadSeccomp(profile);
}

}  // namespace ctrd
