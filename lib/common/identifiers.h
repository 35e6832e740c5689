// containerd's rule for names of namespaces, containers, leases: letters and digits, separated
// by single '.', '_' or '-', at most 76 characters.
#pragma once

#include <kj/string.h>

namespace ctrd {

void validateIdentifier(kj::StringPtr kind, kj::StringPtr name);
// Throws `invalid argument` naming the identifier when `name` breaks the rule.

void validateRef(kj::StringPtr ref);
// An ingest ref: refuses an empty ref, a NUL, "/..", "../" and refs longer than 1024 bytes.

}  // namespace ctrd
