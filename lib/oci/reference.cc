#include "reference.h"

#include <common/digest.h>
#include <common/errors.h>
#include <ctype.h>
#include <kj/vector.h>
#include <string.h>

namespace ctrd::oci {
namespace {

constexpr size_t MAX_NAME_LENGTH = 255;
constexpr size_t MAX_TAG_LENGTH = 128;

[[noreturn]] void invalid(kj::StringPtr text, kj::StringPtr why) {
  throwError(ErrorKind::INVALID_ARGUMENT, kj::str("reference \"", text, "\": ", why));
}

bool lowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// A path component: [a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*
bool validComponent(kj::StringPtr c) {
  if (c.size() == 0 || !lowerAlnum(c[0]) || !lowerAlnum(c[c.size() - 1])) return false;
  for (size_t i = 0; i < c.size();) {
    if (lowerAlnum(c[i])) {
      i++;
      continue;
    }
    size_t start = i;
    while (i < c.size() && !lowerAlnum(c[i])) i++;
    auto sep = kj::heapString(c.slice(start, i));
    bool dashes = true;
    for (char s : sep) dashes = dashes && s == '-';
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
  }
  return true;
}

bool validDomain(kj::StringPtr d) {
  if (d.size() == 0) return false;
  kj::StringPtr host = d;
  KJ_IF_MAYBE(colon, d.findLast(':')) {
    auto port = d.slice(*colon + 1);
    if (port.size() == 0) return false;
    for (char c : port) {
      if (!isdigit(static_cast<unsigned char>(c))) return false;
    }
    host = kj::StringPtr(d.begin(), *colon);
    if (host.size() == 0) return false;
  }
  for (char c : host) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return false;
  }
  return host[0] != '-' && host[0] != '.';
}

bool validTag(kj::StringPtr t) {
  if (t.size() == 0 || t.size() > MAX_TAG_LENGTH) return false;
  auto word = [](char c) { return isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!word(t[0])) return false;
  for (char c : t) {
    if (!(word(c) || c == '.' || c == '-')) return false;
  }
  return true;
}

}  // namespace

kj::String Reference::name() const {
  return kj::str(domain, "/", path);
}

kj::String Reference::toString() const {
  auto out = name();
  KJ_IF_MAYBE(t, tag) {
    out = kj::str(out, ":", *t);
  }
  KJ_IF_MAYBE(d, digest) {
    out = kj::str(out, "@", *d);
  }
  return out;
}

Reference parseReference(kj::StringPtr text) {
  if (text.size() == 0) invalid(text, "empty reference");
  if (strlen(text.cStr()) != text.size()) invalid(text, "NUL in the reference");
  kj::StringPtr rest = text;
  kj::Maybe<kj::String> digest;
  KJ_IF_MAYBE(at, text.findFirst('@')) {
    auto d = text.slice(*at + 1);
    if (!isValidDigest(d)) invalid(text, "invalid digest");
    digest = kj::str(d);
    rest = kj::StringPtr(text.begin(), *at);
  }
  kj::Maybe<kj::String> tag;
  kj::String name;
  KJ_IF_MAYBE(colon, rest.findLast(':')) {
    size_t lastSlash = 0;
    KJ_IF_MAYBE(s, rest.findLast('/')) {
      lastSlash = *s + 1;
    }
    if (*colon >= lastSlash) {
      auto t = rest.slice(*colon + 1);
      if (!validTag(t)) invalid(text, "invalid tag");
      tag = kj::str(t);
      name = kj::heapString(rest.begin(), *colon);
    } else {
      name = kj::str(rest);
    }
  } else {
    name = kj::str(rest);
  }
  if (name.size() == 0) invalid(text, "empty repository name");
  if (name.size() > MAX_NAME_LENGTH) invalid(text, "repository name longer than 255 characters");

  // The first component is a domain when it looks like one: a dot, a port, or localhost.
  kj::String domain;
  kj::String path;
  KJ_IF_MAYBE(slash, name.findFirst('/')) {
    auto first = kj::heapString(name.begin(), *slash);
    if (first.findFirst('.') != nullptr || first.findFirst(':') != nullptr ||
        first == "localhost") {
      domain = kj::mv(first);
      path = kj::heapString(name.slice(*slash + 1));
    }
  }
  if (domain.size() == 0) {
    domain = kj::str("docker.io");
    path = kj::mv(name);
  }
  if (domain == "index.docker.io") domain = kj::str("docker.io");
  if (!validDomain(domain)) invalid(text, kj::str("invalid domain \"", domain, "\""));
  if (domain == "docker.io" && path.findFirst('/') == nullptr) path = kj::str("library/", path);
  size_t start = 0;
  for (size_t i = 0; i <= path.size(); i++) {
    if (i != path.size() && path[i] != '/') continue;
    auto component = kj::heapString(path.slice(start, i));
    if (!validComponent(component)) {
      for (char c : component) {
        if (isupper(static_cast<unsigned char>(c)))
          invalid(text, "repository name must be lowercase");
      }
      invalid(text, "invalid reference format");
    }
    start = i + 1;
  }
  if (tag == nullptr && digest == nullptr) tag = kj::str("latest");
  return Reference{kj::mv(domain), kj::mv(path), kj::mv(tag), kj::mv(digest)};
}

kj::String familiarName(kj::StringPtr name) {
  auto r = parseReference(name);
  auto full = r.toString();
  if (r.domain != "docker.io") return full;
  auto path = r.path.startsWith("library/") && r.path.slice(8).findFirst('/') == nullptr
                  ? r.path.slice(8)
                  : r.path.asPtr();
  return kj::str(path, full.slice(r.name().size()));
}

kj::String ociReferenceName(kj::StringPtr name) {
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { parseReference(name); })) {
    return kj::str(name);
  }
  auto r = parseReference(name);
  return kj::str(r.toString().slice(r.name().size() + (r.tag != nullptr ? 1 : 0)));
}

}  // namespace ctrd::oci
