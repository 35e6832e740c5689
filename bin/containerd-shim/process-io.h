// What stands between a process and whoever reads it, when something must: the pty master of a
// terminal, or the pipes of a detached process that a caller may attach to later. A thread of
// its own copies between them and the attached caller's fds with blocking I/O and poll (the
// caller's fds are its terminal's too: they are never made non-blocking under it), and drops
// the output while no caller is attached, so a caller that goes away never blocks the process.
#pragma once

#include <kj/async.h>
#include <kj/io.h>

#include <memory>

#include "runc.h"

namespace ctrd {

struct CallerFds {
  kj::Maybe<kj::AutoCloseFd> in, out, err;
};

class ProcessIo {
public:
  static kj::Own<ProcessIo> pipes();
  // Three pipes: the process's ends go to the runtime (containerEnds), ours stay here.
  static kj::Own<ProcessIo> terminal();
  // A pty: its master arrives from the runtime's console socket (setConsole).
  ~ProcessIo() noexcept(false);
  KJ_DISALLOW_COPY(ProcessIo);

  bool isTerminal() const;
  RuntimeStdio containerEnds() const;
  // The pipes' process ends (all -1 for a terminal), for the runtime to hand on.
  void setConsole(kj::AutoCloseFd master);

  void start();
  // Once the runtime has the process's ends: closes ours of them (so its output ends when the
  // process's does) and starts copying.
  kj::Promise<void> drained();
  // Resolves when the process's output has reached its end (and its last bytes the caller).

  uint64_t attach(CallerFds fds);
  // Copies to and from these fds from now on; returns the attachment's number. `failed
  // precondition` while another caller is attached.
  void detach(uint64_t attachment);
  // The caller is gone (its Stream's closed() failed): its fds are closed, output dropped.
  void closeStdin();
  void resize(uint16_t width, uint16_t height);

  struct Shared;  // with the copier thread
  explicit ProcessIo(std::shared_ptr<Shared> shared);

private:
  std::shared_ptr<Shared> shared;
  kj::ForkedPromise<void> done;
};

kj::AutoCloseFd receiveConsole(int listener);
// Accepts the runtime's connection on a console socket and receives the pty master it sends
// (runc's --console-socket): the connection is queued by the time `runc create` returns.

}  // namespace ctrd
