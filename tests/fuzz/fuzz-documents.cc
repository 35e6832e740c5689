// Index, manifest and config parsing (lib/oci/manifest): registry bytes, parsed only in
// containerd-content. Any input either parses or throws a kj::Exception; nothing else.
#include <kj/exception.h>
#include <oci/manifest.h>
#include <stddef.h>
#include <stdint.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = kj::arrayPtr(reinterpret_cast<const kj::byte*>(data), size);
  kj::runCatchingExceptions([&]() { ctrd::oci::parseIndex(bytes); });
  kj::runCatchingExceptions([&]() { ctrd::oci::parseManifest(bytes); });
  kj::runCatchingExceptions([&]() { ctrd::oci::parseConfig(bytes); });
  return 0;
}
