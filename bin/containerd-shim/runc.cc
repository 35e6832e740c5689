#include "runc.h"

#include <common/errors.h>
#include <common/path.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <sandbox/spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>

namespace ctrd {
namespace {

constexpr kj::StringPtr PATH_ENV =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"_kj;
constexpr size_t MAX_LOG = 1 << 20;

kj::String readAll(int fd) {
  kj::Vector<char> out;
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.size() + n <= MAX_LOG) out.addAll(kj::arrayPtr(buf, n));
  }
  return kj::heapString(out.begin(), out.size());
}

kj::String lastLine(kj::StringPtr text) {
  size_t end = text.size();
  while (end > 0 && text[end - 1] == '\n') end--;
  size_t start = end;
  while (start > 0 && text[start - 1] != '\n') start--;
  return kj::heapString(text.slice(start, end));
}

kj::String describeStatus(int status) {
  if (WIFEXITED(status)) return kj::str("exit status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return kj::str("killed by signal ", WTERMSIG(status));
  return kj::str("wait status ", status);
}

}  // namespace

Runtime::Runtime(kj::String binary, kj::String root, kj::String bundle)
    : binary_(findExecutable(binary)), root(kj::mv(root)), bundle(kj::mv(bundle)) {}

pid_t Runtime::start(kj::ArrayPtr<const kj::StringPtr> args, RuntimeStdio stdio) {
  kj::Vector<kj::String> argv;
  argv.add(kj::str(binary_));
  argv.add(kj::str("--root"));
  argv.add(kj::str(root));
  argv.add(kj::str("--log"));
  argv.add(kj::str(bundle, "/log.json"));
  argv.add(kj::str("--log-format"));
  argv.add(kj::str("json"));
  for (auto a : args) argv.add(kj::str(a));
  // A fresh log per command: its last error is this command's.
  int log = open(kj::str(bundle, "/log.json").cStr(),
                 O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (log >= 0) close(log);
  int null;
  KJ_SYSCALL(null = open("/dev/null", O_RDWR | O_CLOEXEC));
  kj::AutoCloseFd nullFd(null);
  FdMapping fds[] = {{stdio.in >= 0 ? stdio.in : null, 0},
                     {stdio.out >= 0 ? stdio.out : null, 1},
                     {stdio.err >= 0 ? stdio.err : null, 2}};
  kj::StringPtr env[] = {PATH_ENV};
  return spawnProcess({binary_, argv, env, fds, ProcessGroup::OWN_GROUP});
}

void Runtime::finish(pid_t pid, kj::ArrayPtr<const kj::StringPtr> args, kj::StringPtr said) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) KJ_FAIL_SYSCALL("waitpid", errno, pid);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  auto message = lastLoggedError();
  // What a runtime logs nothing of (crun's unknown command), it said on stderr.
  if (message.size() == 0) message = kj::str(said);
  auto command = kj::str(binary_.slice(KJ_ASSERT_NONNULL(binary_.findLast('/')) + 1), " ",
                         args.size() > 0 ? args[0] : ""_kj);
  // runc's own messages begin with its command ("runc run failed: ..."): not said twice.
  if (message.startsWith(command)) throwError(ErrorKind::UNKNOWN, kj::mv(message));
  throwError(ErrorKind::UNKNOWN, message.size() > 0
                                     ? kj::str(command, ": ", message)
                                     : kj::str(command, " failed: ", describeStatus(status)));
}

void Runtime::run(kj::ArrayPtr<const kj::StringPtr> args, RuntimeStdio stdio) {
  finish(start(args, stdio), args);
}

kj::String Runtime::output(kj::ArrayPtr<const kj::StringPtr> args) {
  int out[2], err[2];
  KJ_SYSCALL(pipe2(out, O_CLOEXEC));
  kj::AutoCloseFd readEnd(out[0]), writeEnd(out[1]);
  KJ_SYSCALL(pipe2(err, O_CLOEXEC));
  kj::AutoCloseFd errRead(err[0]), errWrite(err[1]);
  pid_t pid = start(args, {-1, writeEnd.get(), errWrite.get()});
  writeEnd = nullptr;
  errWrite = nullptr;
  // What it printed, then what it complained of: a few lines at most, never enough to fill
  // that pipe while we read the other.
  auto text = readAll(readEnd);
  auto complaint = readAll(errRead);
  finish(pid, args, lastLine(complaint));
  return text;
}

kj::String Runtime::lastLoggedError() {
  // runc logs one JSON object per line: {"level":"error","msg":"...","time":"..."}. The last
  // error is what it failed with.
  int dir = open(bundle.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return kj::str();
  kj::AutoCloseFd dirFd(dir);
  auto text = tryReadSmallFile(dirFd, "log.json", MAX_LOG).orDefault(kj::str());
  std::string last;
  size_t start = 0;
  std::string all = text.cStr();
  while (start < all.size()) {
    size_t end = all.find('\n', start);
    if (end == std::string::npos) end = all.size();
    auto entry = nlohmann::json::parse(all.substr(start, end - start), nullptr, false);
    if (entry.is_object() && entry.value("level", "") == "error" && entry.contains("msg") &&
        entry["msg"].is_string()) {
      last = entry["msg"].get<std::string>();
    }
    start = end + 1;
  }
  return kj::str(last.c_str());
}

}  // namespace ctrd
