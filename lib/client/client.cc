#include "client.h"

#include <common/errors.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

namespace ctrd {

DaemonClient::DaemonClient(kj::StringPtr address)
    : io(kj::setupAsyncIo()), rpc(connectRpc(*io.lowLevelProvider, address)) {}

schema::Namespace::Client DaemonClient::ns(kj::StringPtr name) {
  auto req = containerd().namespaceRequest();
  req.setName(name);
  return req.send().getNs();
}

namespace {

class CallerStream final : public schema::Stream::Server {
public:
  explicit CallerStream(kj::AutoCloseFd fd) : fd(kj::mv(fd)) {}
  kj::Maybe<int> getFd() override { return fd.get(); }
  kj::Promise<void> closed(ClosedContext) override { return kj::NEVER_DONE; }
  // Fails for the shim only when this process (or its connection) is gone.

private:
  kj::AutoCloseFd fd;
};

}  // namespace

kj::Own<schema::Stream::Server> callerStream(int fd) {
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) throwError(ErrorKind::UNKNOWN, kj::str("dup of fd ", fd, ": ", strerror(errno)));
  return kj::heap<CallerStream>(kj::AutoCloseFd(copy));
}

}  // namespace ctrd
