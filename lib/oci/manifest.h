// Image indexes, manifests and configs (OCI and Docker schema 2) parsed from untrusted bytes:
// size-capped and nesting-capped before the JSON parser sees them, every descriptor checked.
// Linked only into containerd-content, which fetches them.
#pragma once

#include <kj/array.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

#include "platform.h"

namespace ctrd::oci {

constexpr size_t MAX_DOCUMENT_SIZE = 4 << 20;  // manifests, indexes and configs
constexpr size_t MAX_NESTING = 64;

namespace mediatypes {
constexpr kj::StringPtr OCI_INDEX = "application/vnd.oci.image.index.v1+json"_kj;
constexpr kj::StringPtr OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"_kj;
constexpr kj::StringPtr OCI_CONFIG = "application/vnd.oci.image.config.v1+json"_kj;
constexpr kj::StringPtr DOCKER_LIST =
    "application/vnd.docker.distribution.manifest.list.v2+json"_kj;
constexpr kj::StringPtr DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"_kj;
constexpr kj::StringPtr DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"_kj;
constexpr kj::StringPtr DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"_kj;
constexpr kj::StringPtr DOCKER_SCHEMA1_SIGNED =
    "application/vnd.docker.distribution.manifest.v1+prettyjws"_kj;
}  // namespace mediatypes

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
};

enum class DocumentKind { INDEX, MANIFEST };

DocumentKind kindOf(kj::StringPtr mediaType);
// For the Content-Type a registry answered with (or a descriptor's media type). Schema 1 is
// `not implemented`; anything else unknown is `invalid argument`.

bool isDocumentType(kj::StringPtr mediaType);
// An index, manifest or config: small JSON documents, capped at MAX_DOCUMENT_SIZE.

Index parseIndex(kj::ArrayPtr<const kj::byte> bytes);
Manifest parseManifest(kj::ArrayPtr<const kj::byte> bytes);
ImageConfig parseConfig(kj::ArrayPtr<const kj::byte> bytes);
// Each throws `invalid argument` saying what is wrong: too large, too deeply nested, not JSON,
// a missing or mistyped field, a malformed digest or a negative size.

}  // namespace ctrd::oci
