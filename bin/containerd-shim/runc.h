// One OCI runtime command (runc, or crun in its place), run to completion: its own stdio given,
// its log in JSON beside the bundle, and the runtime's own error message returned whole when it
// fails.
#pragma once

#include <kj/string.h>
#include <kj/vector.h>
#include <sys/types.h>

namespace ctrd {

struct RuntimeStdio {
  int in = -1;  // -1: /dev/null
  int out = -1;
  int err = -1;
};

class Runtime {
public:
  Runtime(kj::String binary, kj::String root, kj::String bundle);
  // `binary`: "runc", "crun" or a path; `root`: the runtime's state directory (--root).

  void run(kj::ArrayPtr<const kj::StringPtr> args, RuntimeStdio stdio = {});
  // `<binary> --root R --log <bundle>/log.json --log-format json ARGS...`. Throws, with the
  // runtime's last logged error (as it wrote it) or its exit status, when it fails.

  kj::String output(kj::ArrayPtr<const kj::StringPtr> args);
  // The same, returning what it printed on stdout (`ps`, `state`, `events --stats`).

  kj::StringPtr binary() const { return binary_; }

private:
  kj::String binary_;
  kj::String root;
  kj::String bundle;

  pid_t start(kj::ArrayPtr<const kj::StringPtr> args, RuntimeStdio stdio);
  void finish(pid_t pid, kj::ArrayPtr<const kj::StringPtr> args, kj::StringPtr said = "");
  kj::String lastLoggedError();
};

}  // namespace ctrd
