#include "client.h"

namespace ctrd {

DaemonClient::DaemonClient(kj::StringPtr address)
    : io(kj::setupAsyncIo()), rpc(connectRpc(*io.lowLevelProvider, address)) {}

schema::Namespace::Client DaemonClient::ns(kj::StringPtr name) {
  auto req = containerd().namespaceRequest();
  req.setName(name);
  return req.send().getNs();
}

}  // namespace ctrd
