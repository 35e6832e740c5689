// Image-spec facts every process agrees on: chain IDs, the labels containerd puts on content and
// snapshots for garbage collection, and which host serves a registry domain.
#pragma once

#include <kj/array.h>
#include <kj/string.h>
#include <kj/vector.h>

namespace ctrd::oci {

kj::String chainId(kj::ArrayPtr<const kj::String> diffIds);
// The identity of a stack of layers: the first diff ID, then sha256("<parent chain> <diff ID>").
// Empty for no layers.

kj::String registryHost(kj::StringPtr domain);
// The host that serves a reference's domain: docker.io is registry-1.docker.io.

struct ImageRunConfig {
  // What an image's config says about running it.
  kj::Vector<kj::String> env;
  kj::Vector<kj::String> entrypoint;
  kj::Vector<kj::String> cmd;
  kj::String workingDir;
  kj::String user;
  kj::String stopSignal;  // kept as the container's label, as containerd does, not in the spec
};

namespace labels {
constexpr kj::StringPtr UNCOMPRESSED = "containerd.io/uncompressed"_kj;
// On a layer blob: its diff ID.
constexpr kj::StringPtr GC_ROOT = "containerd.io/gc.root"_kj;
constexpr kj::StringPtr GC_EXPIRE = "containerd.io/gc.expire"_kj;
// On a lease: when it stops protecting anything (RFC 3339).
constexpr kj::StringPtr GC_CONTENT = "containerd.io/gc.ref.content."_kj;
// + "config", "l.<i>" (layers), "m.<i>" (an index's manifests): what a blob keeps alive.
constexpr kj::StringPtr GC_SNAPSHOT = "containerd.io/gc.ref.snapshot."_kj;
// + snapshotter name: the snapshot a config keeps alive (its unpacked chain ID).
constexpr kj::StringPtr DISTRIBUTION_SOURCE = "containerd.io/distribution.source."_kj;
// + registry domain: the repository a blob came from.
constexpr kj::StringPtr IMAGE_STOP_SIGNAL = "io.containerd.image.config.stop-signal"_kj;
// On a container: the signal its image says stops it.
}  // namespace labels

}  // namespace ctrd::oci
