#include "media-types.h"

#include <common/errors.h>

namespace ctrd::oci {

DocumentKind kindOf(kj::StringPtr mediaType) {
  using namespace mediatypes;
  if (mediaType == OCI_INDEX || mediaType == DOCKER_LIST) return DocumentKind::INDEX;
  if (mediaType == OCI_MANIFEST || mediaType == DOCKER_MANIFEST) return DocumentKind::MANIFEST;
  if (mediaType == DOCKER_SCHEMA1 || mediaType == DOCKER_SCHEMA1_SIGNED) {
    throwError(ErrorKind::NOT_IMPLEMENTED, "Docker schema 1 manifests are not supported");
  }
  throwError(ErrorKind::INVALID_ARGUMENT,
             kj::str("unknown manifest media type \"", mediaType, "\""));
}

bool isManifestType(kj::StringPtr mediaType) {
  using namespace mediatypes;
  for (auto t : {OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST, DOCKER_SCHEMA1,
                 DOCKER_SCHEMA1_SIGNED}) {
    if (mediaType == t) return true;
  }
  return false;
}

bool isDocumentType(kj::StringPtr mediaType) {
  using namespace mediatypes;
  return isManifestType(mediaType) || mediaType == OCI_CONFIG || mediaType == DOCKER_CONFIG;
}

}  // namespace ctrd::oci
