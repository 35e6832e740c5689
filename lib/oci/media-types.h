// The media types of image documents and what each one is: the one place that says whether a
// descriptor names an index, a manifest, a config or a layer. No JSON here: linked everywhere.
#pragma once

#include <kj/string.h>

namespace ctrd::oci {

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

enum class DocumentKind { INDEX, MANIFEST };

DocumentKind kindOf(kj::StringPtr mediaType);
// For the Content-Type a registry answered with (or a descriptor's media type). Schema 1 is
// `not implemented`; anything else unknown is `invalid argument`.

bool isManifestType(kj::StringPtr mediaType);
// An index or a manifest, schema 1 included: what a registry serves under /manifests/ rather
// than /blobs/.

bool isDocumentType(kj::StringPtr mediaType);
// An index, manifest or config: small JSON documents, capped at MAX_DOCUMENT_SIZE.

}  // namespace ctrd::oci
