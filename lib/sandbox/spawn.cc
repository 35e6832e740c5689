#include "spawn.h"

#include <common/errors.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <kj/vector.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>

namespace ctrd {

pid_t spawnProcess(const SpawnOptions& options) {
  // Each source is first copied above every target, so that placing one never overwrites
  // another's source; the copies are close-on-exec and closed here afterwards.
  int top = 2;
  for (auto& m : options.fds) top = kj::max(top, m.to);
  kj::Vector<kj::AutoCloseFd> staged;
  for (auto& m : options.fds) {
    int fd;
    KJ_SYSCALL(fd = fcntl(m.from, F_DUPFD_CLOEXEC, top + 1));
    staged.add(fd);
  }

  posix_spawn_file_actions_t actions;
  KJ_SYSCALL(posix_spawn_file_actions_init(&actions));
  KJ_DEFER(posix_spawn_file_actions_destroy(&actions));
  for (size_t i = 0; i < options.fds.size(); i++) {
    // dup2 clears close-on-exec on the copy.
    KJ_ASSERT(posix_spawn_file_actions_adddup2(&actions, staged[i], options.fds[i].to) == 0);
  }
  // Then nothing else: the fds between stdio and the highest target that are not targets (an
  // fd of ours without close-on-exec), and everything above.
  for (int fd = 3; fd <= top; fd++) {
    bool target = false;
    for (auto& m : options.fds) target = target || m.to == fd;
    if (!target) KJ_ASSERT(posix_spawn_file_actions_addclose(&actions, fd) == 0);
  }
  KJ_ASSERT(posix_spawn_file_actions_addclosefrom_np(&actions, top + 1) == 0);

  posix_spawnattr_t attr;
  KJ_ASSERT(posix_spawnattr_init(&attr) == 0);
  KJ_DEFER(posix_spawnattr_destroy(&attr));
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (options.group == ProcessGroup::OWN_SESSION) {
    flags |= POSIX_SPAWN_SETSID;
  } else {
    posix_spawnattr_setpgroup(&attr, 0);
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  posix_spawnattr_setflags(&attr, flags);

  kj::Vector<char*> argv;
  for (auto& a : options.argv) argv.add(const_cast<char*>(a.cStr()));
  argv.add(nullptr);
  kj::Vector<char*> envp;
  for (auto& e : options.env) envp.add(const_cast<char*>(e.cStr()));
  envp.add(nullptr);

  pid_t pid;
  int rc =
      posix_spawn(&pid, options.executable.cStr(), &actions, &attr, argv.begin(), envp.begin());
  if (rc != 0) {
    throwError(ErrorKind::UNKNOWN, kj::str(options.executable, ": ", strerror(rc)));
  }
  return pid;
}

kj::String executableDirectory() {
  char buf[PATH_MAX];
  ssize_t n;
  KJ_SYSCALL(n = readlink("/proc/self/exe", buf, sizeof(buf) - 1));
  buf[n] = '\0';
  char* slash = strrchr(buf, '/');
  if (slash != nullptr) *slash = '\0';
  return kj::str(buf);
}

kj::String findExecutable(kj::StringPtr name) {
  if (name.findFirst('/') != nullptr) return kj::str(name);
  for (auto* dir :
       {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    auto path = kj::str(dir, "/", name);
    if (access(path.cStr(), X_OK) == 0) return path;
  }
  throwError(ErrorKind::NOT_FOUND, kj::str("executable \"", name, "\" in PATH"));
}

}  // namespace ctrd
