#include "errors.h"

#include <kj/debug.h>
#include <string.h>

namespace ctrd {
namespace {

struct KindName {
  ErrorKind kind;
  kj::StringPtr name;
};

constexpr KindName KIND_NAMES[] = {
    {ErrorKind::NOT_FOUND, "not found"_kj},
    {ErrorKind::ALREADY_EXISTS, "already exists"_kj},
    {ErrorKind::FAILED_PRECONDITION, "failed precondition"_kj},
    {ErrorKind::UNAVAILABLE, "unavailable"_kj},
    {ErrorKind::INVALID_ARGUMENT, "invalid argument"_kj},
    {ErrorKind::NOT_IMPLEMENTED, "not implemented"_kj},
};

}  // namespace

kj::StringPtr errorKindName(ErrorKind kind) {
  for (auto& k : KIND_NAMES) {
    if (k.kind == kind) return k.name;
  }
  return "unknown"_kj;
}

kj::Exception makeError(ErrorKind kind, kj::StringPtr subject) {
  auto type = kind == ErrorKind::NOT_IMPLEMENTED ? kj::Exception::Type::UNIMPLEMENTED
              : kind == ErrorKind::UNAVAILABLE   ? kj::Exception::Type::OVERLOADED
                                                 : kj::Exception::Type::FAILED;
  if (kind == ErrorKind::UNKNOWN) return kj::Exception(type, __FILE__, __LINE__, kj::str(subject));
  return kj::Exception(type, __FILE__, __LINE__, kj::str(subject, ": ", errorKindName(kind)));
}

kj::Exception withContext(kj::StringPtr context, const kj::Exception& e) {
  return kj::Exception(e.getType(), e.getFile(), e.getLine(),
                       kj::str(context, ": ", errorMessage(e)));
}

void throwError(ErrorKind kind, kj::StringPtr subject) {
  kj::throwFatalException(makeError(kind, subject));
}

kj::StringPtr errorMessage(const kj::Exception& e) {
  kj::StringPtr d = e.getDescription();
  // Each RPC hop prefixes the description once.
  while (d.startsWith("remote exception: ")) d = d.slice(strlen("remote exception: "));
  return d;
}

kj::String errorSubject(const kj::Exception& e) {
  auto message = errorMessage(e);
  auto kind = errorKind(e);
  auto suffix = kj::str(": ", errorKindName(kind));
  if (kind == ErrorKind::UNKNOWN || !message.endsWith(suffix)) return kj::str(message);
  return kj::str(message.slice(0, message.size() - suffix.size()));
}

ErrorKind errorKind(const kj::Exception& e) {
  kj::StringPtr d = errorMessage(e);
  // The kind is the last ": <kind>" in the text: context added later goes in front.
  ErrorKind best = ErrorKind::UNKNOWN;
  size_t bestAt = 0;
  for (auto& k : KIND_NAMES) {
    auto needle = kj::str(": ", k.name);
    for (size_t i = 0; i + needle.size() <= d.size(); i++) {
      if (memcmp(d.begin() + i, needle.begin(), needle.size()) == 0) {
        bool atEnd = i + needle.size() == d.size() || d[i + needle.size()] == ':' ||
                     d[i + needle.size()] == ';';
        if (atEnd && i + 1 >= bestAt) {
          best = k.kind;
          bestAt = i + 1;
        }
      }
    }
  }
  if (best == ErrorKind::UNKNOWN && e.getType() == kj::Exception::Type::UNIMPLEMENTED) {
    return ErrorKind::NOT_IMPLEMENTED;
  }
  if (best == ErrorKind::UNKNOWN && e.getType() == kj::Exception::Type::DISCONNECTED) {
    return ErrorKind::UNAVAILABLE;
  }
  return best;
}

}  // namespace ctrd
