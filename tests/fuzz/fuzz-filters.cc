// containerd's filter syntax, from any client, matched against a fixed object.
#include <common/filters.h>
#include <kj/exception.h>
#include <stddef.h>
#include <stdint.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = kj::heapString(reinterpret_cast<const char*>(data), size);
  kj::runCatchingExceptions([&]() {
    kj::StringPtr one = text;
    auto filter = ctrd::Filter::parse(kj::arrayPtr(&one, 1));
    ctrd::FieldLookup lookup = [](kj::ArrayPtr<const kj::String> path) -> kj::Maybe<kj::String> {
      if (path.size() == 1 && path[0] == "name") return kj::str("docker.io/library/busybox:1");
      if (path.size() >= 2 && path[0] == "labels") return kj::str(kj::repeat('a', 64), "b");
      return nullptr;
    };
    filter.matches(lookup);
  });
  return 0;
}
