#include "layer-entry.h"

#include <common/errors.h>
#include <string.h>

namespace ctrd {

[[noreturn]] void refuseEntry(kj::StringPtr entry, kj::StringPtr why) {
  throwError(ErrorKind::INVALID_ARGUMENT, kj::str("layer entry \"", entry, "\": ", why));
}

[[noreturn]] void entryFailed(kj::StringPtr entry, kj::StringPtr what, int err) {
  throwError(ErrorKind::UNKNOWN,
             kj::str("layer entry \"", entry, "\": ", what, ": ", strerror(err)));
}

void splitEntryPath(kj::StringPtr path, kj::String& dir, kj::String& base) {
  KJ_IF_MAYBE(slash, path.findLast('/')) {
    dir = kj::heapString(path.slice(0, *slash));
    base = kj::heapString(path.slice(*slash + 1));
  } else {
    dir = kj::str("");
    base = kj::str(path);
  }
}

}  // namespace ctrd
