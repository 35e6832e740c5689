// The C++ client library ctr is built on: one connection to the public socket.
#pragma once

#include <common/rpc.h>
#include <kj/async-io.h>
#include <schema/containerd.capnp.h>
#include <schema/tasks.capnp.h>

namespace ctrd {

class DaemonClient {
public:
  explicit DaemonClient(kj::StringPtr address);
  // Dials the daemon; throws `failed to dial "<address>": ...: unavailable` when nobody answers.

  kj::WaitScope& waitScope() { return io.waitScope; }
  kj::LowLevelAsyncIoProvider& lowLevel() { return *io.lowLevelProvider; }
  schema::Containerd::Client containerd() { return rpc->bootstrap<schema::Containerd>(); }
  schema::Namespace::Client ns(kj::StringPtr name);
  // Pipelined: a bad name fails the first call made through it.
  kj::Promise<void> disconnected() { return rpc->onDisconnect(); }
  // Resolves when the daemon hangs up.

private:
  kj::AsyncIoContext io;
  kj::Own<RpcClient> rpc;
};

kj::Own<schema::Stream::Server> callerStream(int fd);
// One of the caller's fds (stdin, stdout, stderr), duplicated, as the capability that carries it
// to a container: the container reads and writes it directly.

}  // namespace ctrd
