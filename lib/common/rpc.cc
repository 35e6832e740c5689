#include "rpc.h"

#include <fcntl.h>
#include <kj/debug.h>

#include "errors.h"
#include "log.h"
#include "socket.h"

namespace ctrd {

RpcConnection::RpcConnection(kj::Own<kj::AsyncIoStream> streamParam,
                             capnp::Capability::Client bootstrap)
    : stream(kj::mv(streamParam)),
      network(kj::downcast<kj::AsyncCapabilityStream>(*stream), MAX_FDS_PER_MESSAGE,
              capnp::rpc::twoparty::Side::SERVER),
      rpcSystem(capnp::makeRpcServer(network, kj::mv(bootstrap))) {
  rpcSystem.setFlowLimit(CLIENT_FLOW_LIMIT_WORDS);
}

namespace {

struct ListenerState {
  kj::Own<kj::ConnectionReceiver> listener;
  kj::Function<capnp::Capability::Client()> bootstrap;
  kj::TaskSet connections;
  ListenerState(kj::Own<kj::ConnectionReceiver> l, kj::Function<capnp::Capability::Client()> b,
                kj::TaskSet::ErrorHandler& errors)
      : listener(kj::mv(l)), bootstrap(kj::mv(b)), connections(errors) {}
};

class LogConnectionErrors final : public kj::TaskSet::ErrorHandler {
public:
  void taskFailed(kj::Exception&& e) override {
    logDebug("connection ended: ", e.getDescription());
  }
};

kj::Promise<void> acceptLoop(ListenerState& state) {
  return state.listener->accept().then([&state](kj::Own<kj::AsyncIoStream> accepted) {
    auto conn = kj::heap<RpcConnection>(kj::mv(accepted), state.bootstrap());
    auto done = conn->onDisconnect();
    state.connections.add(done.attach(kj::mv(conn)));
    return acceptLoop(state);
  });
}

}  // namespace

kj::Promise<void> serveListener(kj::Own<kj::ConnectionReceiver> listener,
                                kj::Function<capnp::Capability::Client()> bootstrap) {
  static LogConnectionErrors errors;
  auto state = kj::heap<ListenerState>(kj::mv(listener), kj::mv(bootstrap), errors);
  auto loop = acceptLoop(*state);
  return loop.attach(kj::mv(state));
}

RpcClient::RpcClient(kj::Own<kj::AsyncCapabilityStream> streamParam)
    : stream(kj::mv(streamParam)), client(*stream, MAX_FDS_PER_MESSAGE) {}

kj::Own<RpcClient> connectRpc(kj::LowLevelAsyncIoProvider& io, kj::StringPtr path) {
  auto fd = connectUnix(path);
  return kj::heap<RpcClient>(
      io.wrapUnixSocketFd(fd.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP));
}

kj::Promise<kj::AutoCloseFd> receiveFd(capnp::Capability::Client cap, kj::StringPtr what) {
  return cap.getFd().then([what = kj::str(what)](kj::Maybe<int> fd) -> kj::AutoCloseFd {
    KJ_IF_MAYBE(f, fd) {
      int mine;
      KJ_SYSCALL(mine = fcntl(*f, F_DUPFD_CLOEXEC, 3));
      return kj::AutoCloseFd(mine);
    }
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str(what, " carries no file descriptor"));
  });
}

}  // namespace ctrd
