#include "process-io.h"

#include <common/errors.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <mutex>

namespace ctrd {
namespace {

constexpr size_t CHUNK = 4096;
// At most this much per write to a caller's fd once poll says it takes some: PIPE_BUF, so a
// blocking pipe never blocks the copier.
constexpr size_t COPIER_STACK = 128 * 1024;

void setNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

struct Buffer {
  char data[CHUNK];
  size_t length = 0, offset = 0;
  bool empty() const { return offset == length; }
  void clear() { length = offset = 0; }
};

}  // namespace

struct ProcessIo::Shared {
  bool terminal = false;
  // Ours: the pty master, or our ends of the pipes. The copier's alone once it runs.
  kj::AutoCloseFd master, inWrite, outRead, errRead;
  // The process's ends, until the runtime has them.
  kj::AutoCloseFd inRead, outWrite, errWrite;
  kj::AutoCloseFd wake;  // an eventfd: something below changed
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> drained;

  std::mutex mutex;  // guards what follows
  bool attached = false;
  uint64_t attachments = 0;  // the latest attachment's number
  kj::Maybe<CallerFds> incoming;
  uint64_t dropped = 0;  // an attachment to end
  bool stdinClosed = false;
  bool stopped = false;

  void poke() {
    uint64_t one = 1;
    ssize_t n = write(wake, &one, sizeof(one));
    (void)n;
  }
};

namespace {

class Copier {
  // The thread's side: polls the process's output, the caller's stdin, and the wake eventfd.
public:
  explicit Copier(std::shared_ptr<ProcessIo::Shared> s) : s(kj::mv(s)) {}

  void run() {
    auto& sh = *s;
    if (sh.terminal) {
      sources[0].fd = sh.master.get();
      sources[0].sink = 1;
      sourceCount = 1;
      stdinTarget = sh.master.get();
    } else {
      sources[0].fd = sh.outRead.get();
      sources[0].sink = 1;
      sources[1].fd = sh.errRead.get();
      sources[1].sink = 2;
      sourceCount = 2;
      stdinTarget = sh.inWrite.get();
    }
    for (;;) {
      if (!takeChanges()) break;
      if (finished()) break;
      pollOnce();
    }
    client = CallerFds();
    sh.drained->fulfill();
  }

private:
  struct Source {
    int fd = -1;
    int sink = 1;  // the caller's stdout or stderr
    bool ended = false;
    Buffer buffer;
  };

  std::shared_ptr<ProcessIo::Shared> s;
  Source sources[2];
  int sourceCount = 0;
  int stdinTarget = -1;  // the master, or our end of the stdin pipe
  Buffer input;
  CallerFds client;
  uint64_t clientNumber = 0;

  bool takeChanges() {
    std::lock_guard<std::mutex> lock(s->mutex);
    if (s->stopped) return false;
    KJ_IF_MAYBE(fds, s->incoming) {
      client = kj::mv(*fds);
      clientNumber = s->attachments;
      s->incoming = nullptr;
      input.clear();
    }
    if (s->dropped == clientNumber) dropClientLocked();
    if (s->stdinClosed) closeStdin();
    return true;
  }

  void dropClientLocked() {
    client = CallerFds();
    if (s->attachments == clientNumber) s->attached = false;
    clientNumber = 0;
  }

  void dropClient() {
    std::lock_guard<std::mutex> lock(s->mutex);
    dropClientLocked();
  }

  void closeStdin() {
    // A pipe's end closes, which the process reads as the end of its input. A terminal's has no
    // end to close: the caller's stdin is no longer read.
    if (!s->terminal && stdinTarget >= 0) {
      s->inWrite = nullptr;
      stdinTarget = -1;
    }
    client.in = nullptr;
    input.clear();
  }

  bool finished() {
    for (int i = 0; i < sourceCount; i++) {
      if (!sources[i].ended || !sources[i].buffer.empty()) return false;
    }
    return true;
  }

  int sinkFd(int which) {
    auto& fd = which == 2 ? client.err : client.out;
    KJ_IF_MAYBE(f, fd) {
      return f->get();
    }
    // A terminal's caller may give only stdout; pipes' stderr falls back to nothing.
    return -1;
  }

  int clientIn() {
    KJ_IF_MAYBE(f, client.in) {
      return f->get();
    }
    return -1;
  }

  void pollOnce() {
    struct pollfd fds[6];
    enum Role { WAKE, READ_SOURCE, WRITE_SINK, READ_STDIN, WRITE_STDIN };
    Role roles[6];
    int which[6];
    int n = 0;
    fds[n] = {s->wake.get(), POLLIN, 0};
    roles[n++] = WAKE;
    for (int i = 0; i < sourceCount; i++) {
      auto& src = sources[i];
      if (!src.buffer.empty()) {
        int sink = sinkFd(src.sink);
        if (sink < 0) {
          src.buffer.clear();  // nobody is attached: dropped
        } else {
          fds[n] = {sink, POLLOUT, 0};
          roles[n] = WRITE_SINK;
          which[n++] = i;
          continue;
        }
      }
      if (!src.ended) {
        fds[n] = {src.fd, POLLIN, 0};
        roles[n] = READ_SOURCE;
        which[n++] = i;
      }
    }
    if (stdinTarget >= 0 && clientIn() >= 0) {
      if (input.empty()) {
        fds[n] = {clientIn(), POLLIN, 0};
        roles[n++] = READ_STDIN;
      } else {
        fds[n] = {stdinTarget, POLLOUT, 0};
        roles[n++] = WRITE_STDIN;
      }
    }
    if (finished()) return;
    int ready = poll(fds, n, -1);
    if (ready < 0) return;  // EINTR
    for (int k = 0; k < n; k++) {
      if (fds[k].revents == 0) continue;
      switch (roles[k]) {
        case WAKE: {
          uint64_t count;
          ssize_t r = read(s->wake, &count, sizeof(count));
          (void)r;
          break;
        }
        case READ_SOURCE:
          readSource(sources[which[k]]);
          break;
        case WRITE_SINK:
          writeSink(sources[which[k]]);
          break;
        case READ_STDIN:
          readStdin();
          break;
        case WRITE_STDIN:
          writeStdin();
          break;
      }
    }
  }

  void readSource(Source& src) {
    ssize_t r = read(src.fd, src.buffer.data, CHUNK);
    if (r > 0) {
      src.buffer.length = r;
      src.buffer.offset = 0;
    } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
      src.ended = true;  // a pty master reads EIO once the last of the process's ends closes
    }
  }

  void writeSink(Source& src) {
    int sink = sinkFd(src.sink);
    if (sink < 0) {
      src.buffer.clear();
      return;
    }
    auto& b = src.buffer;
    ssize_t w = write(sink, b.data + b.offset, b.length - b.offset);
    if (w > 0) {
      b.offset += w;
    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
      // The caller's end is gone (EPIPE, EIO): it is no longer attached.
      dropClient();
      b.clear();
    }
  }

  void readStdin() {
    ssize_t r = read(clientIn(), input.data, CHUNK);
    if (r > 0) {
      input.length = r;
      input.offset = 0;
    } else if (r == 0) {
      closeStdin();  // the caller's input ended: so does the process's
    } else if (errno != EAGAIN && errno != EINTR) {
      client.in = nullptr;
    }
  }

  void writeStdin() {
    ssize_t w = write(stdinTarget, input.data + input.offset, input.length - input.offset);
    if (w > 0) {
      input.offset += w;
    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
      input.clear();
      client.in = nullptr;  // the process's stdin is gone
    }
  }
};

void* copierMain(void* arg) {
  std::unique_ptr<Copier> copier(static_cast<Copier*>(arg));
  copier->run();
  return nullptr;
}

}  // namespace

ProcessIo::ProcessIo(std::shared_ptr<Shared> sharedParam)
    : shared(kj::mv(sharedParam)), done(nullptr) {
  int wake;
  KJ_SYSCALL(wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  shared->wake = kj::AutoCloseFd(wake);
  auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
  shared->drained = kj::mv(paf.fulfiller);
  done = paf.promise.fork();
}

kj::Own<ProcessIo> ProcessIo::pipes() {
  auto s = std::make_shared<Shared>();
  int p[2];
  KJ_SYSCALL(pipe2(p, O_CLOEXEC));
  s->inRead = kj::AutoCloseFd(p[0]);
  s->inWrite = kj::AutoCloseFd(p[1]);
  KJ_SYSCALL(pipe2(p, O_CLOEXEC));
  s->outRead = kj::AutoCloseFd(p[0]);
  s->outWrite = kj::AutoCloseFd(p[1]);
  KJ_SYSCALL(pipe2(p, O_CLOEXEC));
  s->errRead = kj::AutoCloseFd(p[0]);
  s->errWrite = kj::AutoCloseFd(p[1]);
  for (int fd : {s->inWrite.get(), s->outRead.get(), s->errRead.get()}) setNonBlocking(fd);
  return kj::heap<ProcessIo>(kj::mv(s));
}

kj::Own<ProcessIo> ProcessIo::terminal() {
  auto s = std::make_shared<Shared>();
  s->terminal = true;
  return kj::heap<ProcessIo>(kj::mv(s));
}

ProcessIo::~ProcessIo() noexcept(false) {
  // The copier may be blocked on nothing but poll: it sees this at once and ends. It is not
  // joined: the fds it uses live in what it shares with us until it lets go.
  std::lock_guard<std::mutex> lock(shared->mutex);
  shared->stopped = true;
  shared->poke();
}

bool ProcessIo::isTerminal() const {
  return shared->terminal;
}

RuntimeStdio ProcessIo::containerEnds() const {
  if (shared->terminal) return {};
  return {shared->inRead.get(), shared->outWrite.get(), shared->errWrite.get()};
}

void ProcessIo::setConsole(kj::AutoCloseFd master) {
  setNonBlocking(master);
  shared->master = kj::mv(master);
}

void ProcessIo::start() {
  shared->inRead = nullptr;
  shared->outWrite = nullptr;
  shared->errWrite = nullptr;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, COPIER_STACK);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  auto copier = std::make_unique<Copier>(shared);
  pthread_t thread;
  int error = pthread_create(&thread, &attr, copierMain, copier.get());
  pthread_attr_destroy(&attr);
  if (error != 0) KJ_FAIL_SYSCALL("pthread_create", error);
  copier.release();  // the thread's now
}

kj::Promise<void> ProcessIo::drained() {
  return done.addBranch();
}

uint64_t ProcessIo::attach(CallerFds fds) {
  std::lock_guard<std::mutex> lock(shared->mutex);
  if (shared->attached) {
    throwError(ErrorKind::FAILED_PRECONDITION, "another client is attached to the process");
  }
  shared->attached = true;
  shared->incoming = kj::mv(fds);
  shared->poke();
  return ++shared->attachments;
}

void ProcessIo::detach(uint64_t attachment) {
  std::lock_guard<std::mutex> lock(shared->mutex);
  shared->dropped = attachment;
  shared->poke();
}

void ProcessIo::closeStdin() {
  std::lock_guard<std::mutex> lock(shared->mutex);
  shared->stdinClosed = true;
  shared->poke();
}

void ProcessIo::resize(uint16_t width, uint16_t height) {
  if (!shared->terminal || shared->master == nullptr) {
    throwError(ErrorKind::FAILED_PRECONDITION, "the process has no terminal to resize");
  }
  struct winsize size = {};
  size.ws_col = width;
  size.ws_row = height;
  KJ_SYSCALL(ioctl(shared->master, TIOCSWINSZ, &size));
}

kj::AutoCloseFd receiveConsole(int listener) {
  int flags = fcntl(listener, F_GETFL);
  fcntl(listener, F_SETFL, flags | O_NONBLOCK);
  int conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (conn < 0) {
    throwError(ErrorKind::UNKNOWN,
               kj::str("the runtime sent no terminal on its console socket: ", strerror(errno)));
  }
  kj::AutoCloseFd connection(conn);
  char name[4096];
  struct iovec iov = {name, sizeof(name)};
  union {
    char space[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.space;
  msg.msg_controllen = sizeof(control.space);
  ssize_t n;
  do {
    n = recvmsg(connection, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  struct cmsghdr* c = n >= 0 ? CMSG_FIRSTHDR(&msg) : nullptr;
  if (c == nullptr || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
      c->cmsg_len != CMSG_LEN(sizeof(int))) {
    throwError(ErrorKind::UNKNOWN, "the runtime's console socket carried no terminal");
  }
  int master;
  memcpy(&master, CMSG_DATA(c), sizeof(int));
  return kj::AutoCloseFd(master);
}

}  // namespace ctrd
