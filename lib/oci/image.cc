#include "image.h"

#include <common/digest.h>

namespace ctrd::oci {

kj::String chainId(kj::ArrayPtr<const kj::String> diffIds) {
  if (diffIds.size() == 0) return kj::str();
  auto chain = kj::str(diffIds[0]);
  for (auto& d : diffIds.slice(1, diffIds.size())) {
    chain = kj::str(SHA256_PREFIX, sha256Hex(kj::str(chain, " ", d).asBytes()));
  }
  return chain;
}

kj::String registryHost(kj::StringPtr domain) {
  return domain == "docker.io" ? kj::str("registry-1.docker.io") : kj::str(domain);
}

}  // namespace ctrd::oci
