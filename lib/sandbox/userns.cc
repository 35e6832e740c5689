#include "userns.h"

#include <common/errors.h>
#include <common/rootless.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <kj/vector.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "spawn.h"

namespace ctrd {
namespace {

kj::String readAll(int fd) {
  kj::Vector<char> out;
  char buf[512];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.addAll(kj::arrayPtr(buf, n));
  }
  while (out.size() > 0 && (out.back() == '\n' || out.back() == ' ')) out.removeLast();
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

void runMapper(kj::StringPtr name, pid_t pid, uint32_t own, IdRange range) {
  // newuidmap PID 0 OWN 1 1 START COUNT: its stderr becomes our error.
  kj::String path;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { path = findExecutable(name); })) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str(name,
                       " is not installed (Debian's uidmap package): a rootless daemon "
                       "needs it to map the subordinate ids"));
  }
  kj::String argv[] = {kj::str(name), kj::str(pid), kj::str("0"),         kj::str(own),
                       kj::str("1"),  kj::str("1"), kj::str(range.start), kj::str(range.count)};
  int err[2];
  KJ_SYSCALL(pipe2(err, O_CLOEXEC));
  kj::AutoCloseFd readEnd(err[0]);
  pid_t child;
  {
    kj::AutoCloseFd writeEnd(err[1]);
    kj::StringPtr env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"_kj};
    FdMapping fds[] = {{writeEnd.get(), 2}};
    child = spawnProcess({path, argv, env, fds, ProcessGroup::OWN_GROUP});
  }
  auto message = readAll(readEnd.get());
  int status = 0;
  while (waitpid(child, &status, 0) < 0) KJ_SYSCALL(errno == EINTR ? 0 : -1, "waitpid");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str(name, " ", pid, " 0 ", own, " 1 1 ", range.start, " ", range.count,
                       " failed: ", message.size() > 0 ? message.asPtr() : "no message"_kj));
  }
}

void writeProcFile(pid_t pid, kj::StringPtr file, kj::StringPtr text) {
  auto path = kj::str("/proc/", pid, "/", file);
  int fd = open(path.cStr(), O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text.begin(), text.size()) != ssize_t(text.size())) {
    int err = errno;
    if (fd >= 0) close(fd);
    throwError(ErrorKind::FAILED_PRECONDITION, kj::str("writing ", path, ": ", strerror(err)));
  }
  close(fd);
}

[[noreturn]] void holderMain(pid_t parent, int fromParent, int toParent) {
  // Async-signal-safe calls only: the parent may have had threads.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
  setpgid(0, 0);  // a terminal's ^C is the daemon's to handle
  int keep = fromParent > toParent ? fromParent : toParent;
  for (int fd = 3; fd < keep; fd++) {
    if (fd != fromParent && fd != toParent) close(fd);
  }
  close_range(keep + 1, ~0U, 0);
  char result = 0;
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) result = static_cast<char>(errno);
  // It only holds the namespaces: none of the capabilities it was just given in them.
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct none[2] = {};
  if (result == 0 &&
      (syscall(SYS_capset, &header, none) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)) {
    result = static_cast<char>(errno);
  }
  if (write(toParent, &result, 1) != 1 || result != 0) _exit(1);
  close(toParent);
  // Nothing else to do: hold the namespaces until the daemon closes its end.
  for (;;) {
    char c;
    if (read(fromParent, &c, 1) < 0 && errno == EINTR) continue;
    _exit(0);
  }
}

}  // namespace

kj::Maybe<IdRange> subordinateRange(kj::StringPtr file, kj::StringPtr user, uint32_t id) {
  std::ifstream in(file.cStr());
  auto idText = kj::str(id);
  for (std::string line; std::getline(in, line);) {
    auto first = line.find(':');
    auto second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    auto who = line.substr(0, first);
    if (who != user.cStr() && who != idText.cStr()) continue;
    char* end = nullptr;
    errno = 0;
    unsigned long start = strtoul(line.c_str() + first + 1, &end, 10);
    if (errno != 0 || end != line.c_str() + second) continue;
    unsigned long count = strtoul(line.c_str() + second + 1, &end, 10);
    if (errno != 0 || *end != '\0' || count == 0 || start > UINT32_MAX ||
        count > UINT32_MAX - start) {
      continue;
    }
    return IdRange{static_cast<uint32_t>(start), static_cast<uint32_t>(count)};
  }
  return nullptr;
}

kj::Own<UserNamespace> UserNamespace::create(uid_t uid, gid_t gid, kj::Maybe<IdRange> uids,
                                             kj::Maybe<IdRange> gids) {
  int down[2], up[2];
  KJ_SYSCALL(pipe2(down, O_CLOEXEC));
  kj::AutoCloseFd downRead(down[0]), downWrite(down[1]);
  KJ_SYSCALL(pipe2(up, O_CLOEXEC));
  kj::AutoCloseFd upRead(up[0]), upWrite(up[1]);
  pid_t parent = getpid();
  pid_t pid;
  KJ_SYSCALL(pid = fork());
  if (pid == 0) holderMain(parent, downRead.get(), upWrite.get());
  downRead = nullptr;
  upWrite = nullptr;
  auto fail = [&](kj::Exception&& e) -> kj::Exception {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return kj::mv(e);
  };
  char result = 0;
  ssize_t n;
  do {
    n = read(upRead.get(), &result, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1 || result != 0) {
    kj::throwFatalException(
        fail(makeError(ErrorKind::FAILED_PRECONDITION,
                       kj::str("cannot create a user namespace: ",
                               n == 1 ? strerror(result) : "the holder process died"))));
  }
  uint32_t ids = 1;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                KJ_IF_MAYBE(u, uids) {
                  KJ_IF_MAYBE(g, gids) {
                    runMapper("newuidmap", pid, uid, *u);
                    runMapper("newgidmap", pid, gid, *g);
                    ids += u->count;
                    return;
                  }
                }
                // Only the user's own ids: no helper needed, but no setgroups either.
                writeProcFile(pid, "uid_map", kj::str("0 ", uid, " 1\n"));
                writeProcFile(pid, "setgroups", "deny");
                writeProcFile(pid, "gid_map", kj::str("0 ", gid, " 1\n"));
              })) {
    kj::throwFatalException(fail(kj::mv(*e)));
  }
  auto user = openNamespace(pid, "user");
  auto mount = openNamespace(pid, "mnt");
  return kj::Own<UserNamespace>(
      new UserNamespace(pid, kj::mv(downWrite), kj::mv(user), kj::mv(mount), ids),
      kj::_::HeapDisposer<UserNamespace>::instance);
}

UserNamespace::UserNamespace(pid_t pid, kj::AutoCloseFd keepAlive, kj::AutoCloseFd user,
                             kj::AutoCloseFd mount, uint32_t ids)
    : pid(pid), keepAlive(kj::mv(keepAlive)), user(kj::mv(user)), mount(kj::mv(mount)), ids(ids) {}

UserNamespace::~UserNamespace() noexcept(false) {
  keepAlive = nullptr;  // the holder's read returns 0 and it exits
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace ctrd
