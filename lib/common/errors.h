// Errors with containerd's kinds, carried across RPC in the exception text.
#pragma once

#include <kj/exception.h>
#include <kj/string.h>

namespace ctrd {

enum class ErrorKind {
  UNKNOWN,
  NOT_FOUND,
  ALREADY_EXISTS,
  FAILED_PRECONDITION,
  UNAVAILABLE,
  INVALID_ARGUMENT,
  NOT_IMPLEMENTED,
};

kj::StringPtr errorKindName(ErrorKind kind);
// The words containerd prints for the kind: "not found", "already exists", ...

kj::Exception makeError(ErrorKind kind, kj::StringPtr subject);
// An exception whose description reads like containerd's: `<subject>: <kind>`, e.g.
// `image "x": not found` (UNKNOWN adds nothing). KJ carries the description across RPC, so the kind
// survives the hop.

[[noreturn]] void throwError(ErrorKind kind, kj::StringPtr subject);

kj::Exception withContext(kj::StringPtr context, const kj::Exception& e);
// The same error, its kind kept, with `<context>: ` in front of its message.

ErrorKind errorKind(const kj::Exception& e);
// Reads the kind back, also from an exception that crossed RPC.

kj::StringPtr errorMessage(const kj::Exception& e);
// The description without KJ's "remote exception: " prefixes, as a user should see it.

kj::String errorSubject(const kj::Exception& e);
// The message without its trailing ": <kind>": what to add to before throwing the kind again.

}  // namespace ctrd
