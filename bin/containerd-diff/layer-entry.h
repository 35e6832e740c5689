// What the applier's files share about one entry: how a refusal or a failure names it, and how
// its path splits.
#pragma once

#include <kj/string.h>

namespace ctrd {

[[noreturn]] void refuseEntry(kj::StringPtr entry, kj::StringPtr why);
// `invalid argument`: the layer asks for something it may not have.
[[noreturn]] void entryFailed(kj::StringPtr entry, kj::StringPtr what, int err);
// `unknown`: the system call `what` failed with `err`.

void splitEntryPath(kj::StringPtr path, kj::String& dir, kj::String& base);
// "a/b/c" -> "a/b", "c"; "c" -> "", "c".

}  // namespace ctrd
