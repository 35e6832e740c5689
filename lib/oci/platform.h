// Platforms (os/architecture/variant) as containerd normalizes and matches them.
#pragma once

#include <kj/string.h>

namespace ctrd::oci {

struct Platform {
  kj::String os;
  kj::String architecture;
  kj::String variant;  // empty when none

  kj::String toString() const;
  // "linux/amd64", "linux/arm64/v8"
};

Platform normalize(Platform p);
// Aliases to their OCI names (x86_64 -> amd64, aarch64 -> arm64, armhf -> arm/v7, i686 -> 386),
// and default variants (arm -> v7, arm64 -> v8).

Platform hostPlatform();
// This machine's, from uname.

Platform parsePlatform(kj::StringPtr spec);
// "os", "os/arch", "os/arch/variant", or just a known architecture (the host os then). Throws
// `invalid argument` for anything else.

bool matches(const Platform& wanted, const Platform& offered);
// Whether an image for `offered` runs on `wanted`: same os and architecture, and a variant the
// wanted one can run (arm v7 runs v6 and v5 images; arm64 v8 runs v8).

int preference(const Platform& wanted, const Platform& offered);
// Among matches, higher is better: the exact variant first, then older ones. -1 if no match.

}  // namespace ctrd::oci
