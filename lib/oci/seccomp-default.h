// The default seccomp profile of a container that is not privileged, as the runtime spec's
// linux.seccomp object (containerd's and Docker's default allow-list).
#pragma once

#include <kj/string.h>

#include <nlohmann/json.hpp>

namespace ctrd::oci {

nlohmann::json defaultSeccompProfile(kj::ArrayPtr<const kj::String> capabilities);
// Calls gated on a capability (mount and unshare on CAP_SYS_ADMIN, ptrace on CAP_SYS_PTRACE,
// ...) are allowed only when `capabilities`, the container's bounding set, holds it.

}  // namespace ctrd::oci
