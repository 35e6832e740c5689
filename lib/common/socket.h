// Unix sockets as file descriptors: listen, connect, and systemd's socket activation.
#pragma once

#include <kj/io.h>
#include <kj/string.h>
#include <sys/types.h>

namespace ctrd {

kj::AutoCloseFd listenUnix(kj::StringPtr path, mode_t mode);
// Binds and listens on `path`. A stale socket file (nobody accepts on it) is replaced; a live one
// fails with `address "<path>": already exists` so that two daemons never share a socket.

kj::AutoCloseFd connectUnix(kj::StringPtr path);
// Blocking connect. Fails with `failed to dial "<path>": <reason>: unavailable`.

kj::Maybe<int> takeSystemdListenFd();
// The first socket systemd passed (LISTEN_FDS/LISTEN_PID, fd 3), if it passed any to this
// process. Clears the variables so that nothing started later takes them too.

}  // namespace ctrd
