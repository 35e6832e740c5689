// Image indexes, manifests and configs (OCI and Docker schema 2) parsed from untrusted bytes:
// size-capped and nesting-capped before the JSON parser sees them, every descriptor checked.
// Linked only into containerd-content, which fetches them.
#pragma once

#include <kj/array.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

#include "media-types.h"
#include "platform.h"

namespace ctrd::oci {

constexpr size_t MAX_DOCUMENT_SIZE = 4 << 20;  // manifests, indexes and configs
constexpr size_t MAX_NESTING = 64;

struct Descriptor {
  kj::String mediaType;
  kj::String digest;
  int64_t size;
  kj::Maybe<Platform> platform;  // in an index
};

struct Index {
  kj::String mediaType;
  kj::Vector<Descriptor> manifests;
};

struct Manifest {
  kj::String mediaType;
  Descriptor config;
  kj::Vector<Descriptor> layers;
};

struct ImageConfig {
  Platform platform;
  kj::Vector<kj::String> diffIds;  // rootfs.diff_ids, one per layer
  kj::Vector<kj::String> env;
  kj::Vector<kj::String> entrypoint;
  kj::Vector<kj::String> cmd;
  kj::String workingDir;
  kj::String user;
  kj::String stopSignal;
};

Index parseIndex(kj::ArrayPtr<const kj::byte> bytes);
Manifest parseManifest(kj::ArrayPtr<const kj::byte> bytes);
ImageConfig parseConfig(kj::ArrayPtr<const kj::byte> bytes);
// Each throws `invalid argument` saying what is wrong: too large, too deeply nested, not JSON,
// a missing or mistyped field, a malformed digest or a negative size.

}  // namespace ctrd::oci
