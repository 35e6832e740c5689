// Index, manifest and config parsing (lib/oci/manifest) and image archives' documents
// (lib/oci/archive): registry and archive bytes, parsed only in containerd-content. Any input
// either parses or throws a kj::Exception; nothing else.
#include <kj/exception.h>
#include <oci/archive.h>
#include <oci/manifest.h>
#include <stddef.h>
#include <stdint.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = kj::arrayPtr(reinterpret_cast<const kj::byte*>(data), size);
  kj::runCatchingExceptions([&]() { ctrd::oci::parseIndex(bytes); });
  kj::runCatchingExceptions([&]() { ctrd::oci::parseManifest(bytes); });
  kj::runCatchingExceptions([&]() { ctrd::oci::parseConfig(bytes); });
  // An image archive's own documents (index.json, manifest.json, oci-layout).
  kj::runCatchingExceptions([&]() { ctrd::oci::parseLayoutIndex(bytes); });
  kj::runCatchingExceptions([&]() { ctrd::oci::parseArchiveManifest(bytes); });
  kj::runCatchingExceptions([&]() { ctrd::oci::parseLayoutVersion(bytes); });
  return 0;
}
