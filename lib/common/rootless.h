// What a daemon run by an ordinary user (rootless) and its clients share: where it keeps its
// data and socket, and how a client joins its user and mount namespaces.
#pragma once

#include <kj/io.h>
#include <kj/string.h>
#include <sys/types.h>

namespace ctrd {

struct RootlessPaths {
  kj::String root;    // $XDG_DATA_HOME/containerd, or ~/.local/share/containerd
  kj::String state;   // $XDG_RUNTIME_DIR/containerd
  kj::String config;  // $XDG_CONFIG_HOME/containerd/config.toml, or ~/.config/...
};

RootlessPaths rootlessPaths();
// Where a daemon an ordinary user runs keeps its data, as rootless containerd's. Throws
// `failed precondition` when XDG_RUNTIME_DIR is not set (it holds the socket).

kj::String defaultClientAddress();
// Root's socket for root; the rootless daemon's ($XDG_RUNTIME_DIR/containerd/containerd.sock)
// for anyone else with XDG_RUNTIME_DIR set.

kj::AutoCloseFd openNamespace(pid_t pid, kj::StringPtr which);
// /proc/<pid>/ns/<which>, read-only.

void joinNamespaces(int userFd, int mountFd);
// setns into the user namespace, then its mount namespace; the caller must be single-threaded
// and be the namespace's owner (the same user). Afterwards it is uid 0 there, with every
// capability in it and none outside.

void joinNamespacesOf(pid_t pid);
// The same, by the namespaces of a running process (the holder).

bool inUserNamespace();
// Whether this process runs in a user namespace other than the initial one.

}  // namespace ctrd
