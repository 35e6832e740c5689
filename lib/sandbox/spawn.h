// Starting a child process cleanly from a KJ event loop: its signal mask empty and every
// disposition default (KJ blocks the signals it waits on and ignores SIGPIPE), in a process
// group or session of its own, with exactly the fds it is given at the numbers it expects and
// nothing else above stdio. The supervisor starts its services this way; the tasks service
// will start shims, and each shim runc, the same way.
#pragma once

#include <kj/array.h>
#include <kj/string.h>
#include <sys/types.h>

namespace ctrd {

struct FdMapping {
  int from;  // an fd of the caller's
  int to;    // its number in the child (above 2, or 0..2 to replace stdio)
};

enum class ProcessGroup {
  OWN_GROUP,    // setpgid: a terminal's ^C does not reach it; it stays in our session
  OWN_SESSION,  // setsid: detached from our terminal and session altogether (a shim)
};

struct SpawnOptions {
  kj::StringPtr executable;             // an absolute path
  kj::ArrayPtr<const kj::String> argv;  // argv[0] included
  kj::ArrayPtr<const kj::StringPtr> env;
  kj::ArrayPtr<const FdMapping> fds;
  ProcessGroup group = ProcessGroup::OWN_GROUP;
};

pid_t spawnProcess(const SpawnOptions& options);
// Throws `unknown` ("<executable>: <reason>") when it cannot be started (missing, not
// executable).
// The caller reaps the child.

kj::String executableDirectory();
// The directory of this process's own executable: where its sibling executables are.

kj::String findExecutable(kj::StringPtr name);
// `name` itself when it holds a '/', else the first executable of that name in the standard
// PATH (/usr/local/sbin ... /bin). `not found` naming it otherwise.

}  // namespace ctrd
