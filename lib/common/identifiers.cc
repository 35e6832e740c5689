#include "identifiers.h"

#include <ctype.h>
#include <string.h>

#include "errors.h"

namespace ctrd {
namespace {

constexpr size_t MAX_IDENTIFIER_LENGTH = 76;

bool isAlnum(char c) {
  return isascii(c) && isalnum(c);
}

}  // namespace

void validateIdentifier(kj::StringPtr kind, kj::StringPtr name) {
  if (name.size() == 0)
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str(kind, " must not be empty"));
  if (name.size() > MAX_IDENTIFIER_LENGTH) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str(kind, " \"", name, "\" is longer than ", MAX_IDENTIFIER_LENGTH));
  }
  bool ok = isAlnum(name[0]) && isAlnum(name[name.size() - 1]);
  for (size_t i = 1; ok && i < name.size(); i++) {
    bool sep = name[i] == '.' || name[i] == '_' || name[i] == '-';
    bool prevSep = name[i - 1] == '.' || name[i - 1] == '_' || name[i - 1] == '-';
    ok = isAlnum(name[i]) || (sep && !prevSep);
  }
  if (!ok) {
    throwError(
        ErrorKind::INVALID_ARGUMENT,
        kj::str(kind, " \"", name, "\" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$"));
  }
}

void validateRef(kj::StringPtr ref) {
  constexpr size_t MAX_REF_LENGTH = 1024;
  bool bad = ref.size() == 0 || ref.size() > MAX_REF_LENGTH || strlen(ref.cStr()) != ref.size() ||
             strstr(ref.cStr(), "/..") != nullptr || ref.startsWith("../") || ref == "..";
  if (bad) throwError(ErrorKind::INVALID_ARGUMENT, kj::str("invalid ref \"", ref, "\""));
}

}  // namespace ctrd
