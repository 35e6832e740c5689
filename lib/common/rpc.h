// Serving and reaching Cap'n Proto bootstraps over unix sockets, with fd passing enabled.
#pragma once

#include <capnp/capability.h>
#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/function.h>
#include <kj/io.h>

namespace ctrd {

constexpr unsigned MAX_FDS_PER_MESSAGE = 250;
// Fd passing silently yields no fd when either side sets 0, and drops the fds past the limit:
// every connection here uses this one, just under the kernel's SCM_MAX_FD (253). A snapshot's
// parents travel as one fd each, so it bounds how deep a chain can be handed over.

constexpr uint64_t CLIENT_FLOW_LIMIT_WORDS = 1u << 20;
// Outstanding call data one peer may queue on us (8 MiB), so a client cannot exhaust memory.

class RpcConnection {
  // One served connection: its stream, network and RPC system live and die together.
public:
  RpcConnection(kj::Own<kj::AsyncIoStream> stream, capnp::Capability::Client bootstrap);
  // `stream` must be a unix socket stream (an AsyncCapabilityStream), as accepted or wrapped
  // from a unix socket fd.
  kj::Promise<void> onDisconnect() { return network.onDisconnect(); }

private:
  kj::Own<kj::AsyncIoStream> stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpcSystem;
};

kj::Promise<void> serveListener(kj::Own<kj::ConnectionReceiver> listener,
                                kj::Function<capnp::Capability::Client()> bootstrap);
// Accepts forever, serving a fresh bootstrap from `bootstrap()` on every connection.

class RpcClient {
  // A connection to a served bootstrap.
public:
  RpcClient(kj::Own<kj::AsyncCapabilityStream> stream);
  template <typename T>
  typename T::Client bootstrap() {
    return client.bootstrap().castAs<T>();
  }
  kj::Promise<void> onDisconnect() { return client.onDisconnect(); }

private:
  kj::Own<kj::AsyncCapabilityStream> stream;
  capnp::TwoPartyClient client;
};

kj::Own<RpcClient> connectRpc(kj::LowLevelAsyncIoProvider& io, kj::StringPtr path);
// Dials `path` (blocking; unix connects complete at once) and wraps it.

template <typename Interface>
class FdServer final : public Interface::Server {
  // A capability whose whole meaning is the fd it carries (a directory, a caller's source): the
  // one type for every such interface. Owns the fd.
public:
  explicit FdServer(kj::AutoCloseFd fd) : fd(kj::mv(fd)) {}
  kj::Maybe<int> getFd() override { return fd.get(); }

private:
  kj::AutoCloseFd fd;
};

kj::Promise<kj::AutoCloseFd> receiveFd(capnp::Capability::Client cap, kj::StringPtr what);
// The fd a capability carries (a directory, a blob, a caller's source), as a descriptor of our
// own: duplicated close-on-exec, since the one the RPC layer holds goes with the message.
// `invalid argument: <what> carries no file descriptor` when it has none (not local, or none).

}  // namespace ctrd
