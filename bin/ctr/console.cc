#include "console.h"

#include <common/errors.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace ctrd::ctr {

RawTerminal::RawTerminal() {
  if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved) != 0) return;
  struct termios raw = saved;
  cfmakeraw(&raw);
  // Output processing stays as it was, as Go's console.SetRaw leaves it for ctr.
  raw.c_oflag = saved.c_oflag;
  if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) changed = true;
}

RawTerminal::~RawTerminal() {
  if (changed) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
}

bool terminalSize(uint16_t& width, uint16_t& height) {
  struct winsize size = {};
  if (ioctl(STDIN_FILENO, TIOCGWINSZ, &size) != 0 && ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) != 0) {
    return false;
  }
  width = size.ws_col;
  height = size.ws_row;
  return width != 0 || height != 0;
}

void resizeToTerminal(DaemonClient& client, schema::Tasks::Client tasks, const std::string& id,
                      const std::string& execId) {
  uint16_t width, height;
  if (!terminalSize(width, height)) return;
  auto req = tasks.resizePtyRequest();
  req.setContainerId(id.c_str());
  req.setExecId(execId.c_str());
  req.setWidth(width);
  req.setHeight(height);
  req.send().wait(client.waitScope());
}

SignalForwarder::SignalForwarder(DaemonClient& client, schema::Tasks::Client tasks, std::string id,
                                 std::string execId, bool terminal)
    : tasks(kj::mv(tasks)),
      id(kj::mv(id)),
      execId(kj::mv(execId)),
      terminal(terminal),
      buffer(kj::heapArray<kj::byte>(sizeof(struct signalfd_siginfo))) {
  info = reinterpret_cast<struct signalfd_siginfo*>(buffer.begin());
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&set, s);
  if (terminal) sigaddset(&set, SIGWINCH);
  sigprocmask(SIG_BLOCK, &set, &previous);
  int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) throwError(ErrorKind::UNKNOWN, "signalfd failed");
  input = client.lowLevel().wrapInputFd(fd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
  forwarding = forward().eagerlyEvaluate([](kj::Exception&&) {});
}

SignalForwarder::~SignalForwarder() noexcept(false) {
  sigprocmask(SIG_SETMASK, &previous, nullptr);
}

kj::Promise<void> SignalForwarder::forward() {
  return input->read(buffer.begin(), buffer.size()).then([this]() {
    kj::Promise<void> sent = nullptr;
    if (info->ssi_signo == SIGWINCH) {
      struct winsize size = {};
      if (ioctl(STDIN_FILENO, TIOCGWINSZ, &size) != 0) return forward();
      auto req = tasks.resizePtyRequest();
      req.setContainerId(id.c_str());
      req.setExecId(execId.c_str());
      req.setWidth(size.ws_col);
      req.setHeight(size.ws_row);
      sent = req.send().ignoreResult();
    } else {
      auto req = tasks.killRequest();
      req.setContainerId(id.c_str());
      req.setExecId(execId.c_str());
      req.setSignal(info->ssi_signo);
      sent = req.send().ignoreResult();
    }
    return sent.catch_([](kj::Exception&&) {}).then([this]() { return forward(); });
  });
}

}  // namespace ctrd::ctr
