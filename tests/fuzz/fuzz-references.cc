// Image references and platform strings, as a client or a registry's index gives them.
#include <kj/debug.h>
#include <oci/platform.h>
#include <oci/reference.h>
#include <stddef.h>
#include <stdint.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = kj::heapString(reinterpret_cast<const char*>(data), size);
  kj::runCatchingExceptions([&]() {
    auto ref = ctrd::oci::parseReference(text);
    // What we print must read back as the same reference.
    auto again = ctrd::oci::parseReference(ref.toString());
    KJ_ASSERT(again.toString() == ref.toString(), ref.toString());
  });
  kj::runCatchingExceptions([&]() {
    auto p = ctrd::oci::normalize(ctrd::oci::parsePlatform(text));
    ctrd::oci::matches(p, ctrd::oci::hostPlatform());
  });
  return 0;
}
