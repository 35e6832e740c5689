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

kj::Own<schema::Stream::Server> callerStream(int fd) {
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) throwError(ErrorKind::UNKNOWN, kj::str("dup of fd ", fd, ": ", strerror(errno)));
  return kj::heap<FdServer<schema::Stream>>(kj::AutoCloseFd(copy));
}

}  // namespace ctrd
