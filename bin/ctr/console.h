// What ctr does for a task it waits on: puts the caller's terminal in raw mode for a task with
// a terminal (its pty does the line editing), passes the terminal's size on, and sends the
// signals the user gives ctr to the task instead.
#pragma once

#include <kj/async-io.h>
#include <schema/tasks.capnp.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <termios.h>

#include <string>

#include "commands.h"

namespace ctrd::ctr {

class RawTerminal {
  // Raw mode on stdin while this lives, if stdin is a terminal.
public:
  RawTerminal();
  ~RawTerminal();
  KJ_DISALLOW_COPY(RawTerminal);

private:
  bool changed = false;
  struct termios saved;
};

bool terminalSize(uint16_t& width, uint16_t& height);
// The size of ctr's terminal (stdin's, or stdout's); false when neither is one.

void resizeToTerminal(DaemonClient& client, schema::Tasks::Client tasks, const std::string& id,
                      const std::string& execId);
// The process's pty takes the size of ctr's terminal (stdin's, or stdout's); nothing when
// neither is one.

class SignalForwarder {
  // While ctr waits, the signals a user sends it go to the process instead (as containerd's ctr
  // does), and with a terminal a change of its size (SIGWINCH) resizes the process's: read from
  // a signalfd, so nothing else in ctr changes how it handles them.
public:
  SignalForwarder(DaemonClient& client, schema::Tasks::Client tasks, std::string id,
                  std::string execId, bool terminal);
  ~SignalForwarder() noexcept(false);
  KJ_DISALLOW_COPY(SignalForwarder);

private:
  schema::Tasks::Client tasks;
  std::string id, execId;
  bool terminal;
  sigset_t set, previous;
  kj::Own<kj::AsyncInputStream> input;
  struct signalfd_siginfo* info;
  kj::Array<kj::byte> buffer;
  kj::Promise<void> forwarding = nullptr;

  kj::Promise<void> forward();
};

}  // namespace ctrd::ctr
