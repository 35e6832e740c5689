#include "platform.h"

#include <common/errors.h>
#include <ctype.h>
#include <kj/vector.h>
#include <sys/utsname.h>

namespace ctrd::oci {
namespace {

struct Alias {
  kj::StringPtr from;
  kj::StringPtr architecture;
  kj::StringPtr variant;  // forced variant, or "" to keep the given one
};

constexpr Alias ALIASES[] = {
    {"x86_64"_kj, "amd64"_kj, ""_kj},  {"x86-64"_kj, "amd64"_kj, ""_kj},
    {"aarch64"_kj, "arm64"_kj, ""_kj}, {"armhf"_kj, "arm"_kj, "v7"_kj},
    {"armel"_kj, "arm"_kj, "v6"_kj},   {"i386"_kj, "386"_kj, ""_kj},
    {"i686"_kj, "386"_kj, ""_kj},      {"x86"_kj, "386"_kj, ""_kj},
};

constexpr kj::StringPtr KNOWN_OS[] = {"linux"_kj,  "windows"_kj, "darwin"_kj,  "freebsd"_kj,
                                      "netbsd"_kj, "openbsd"_kj, "solaris"_kj, "illumos"_kj};
constexpr kj::StringPtr KNOWN_ARCH[] = {"amd64"_kj,   "arm64"_kj,    "arm"_kj,
                                        "386"_kj,     "ppc64le"_kj,  "s390x"_kj,
                                        "riscv64"_kj, "mips64le"_kj, "loong64"_kj};

kj::String lower(kj::StringPtr s) {
  auto out = kj::str(s);
  for (char& c : out) c = tolower(static_cast<unsigned char>(c));
  return out;
}

template <typename List>
bool contains(const List& list, kj::StringPtr s) {
  for (auto& e : list) {
    if (e == s) return true;
  }
  return false;
}

int armVersion(kj::StringPtr variant) {
  if (variant.size() == 2 && variant[0] == 'v' && isdigit(static_cast<unsigned char>(variant[1]))) {
    return variant[1] - '0';
  }
  return -1;
}

}  // namespace

kj::String Platform::toString() const {
  if (variant.size() == 0) return kj::str(os, "/", architecture);
  return kj::str(os, "/", architecture, "/", variant);
}

Platform normalize(Platform p) {
  p.os = lower(p.os);
  p.architecture = lower(p.architecture);
  p.variant = lower(p.variant);
  for (auto& a : ALIASES) {
    if (p.architecture == a.from) {
      p.architecture = kj::str(a.architecture);
      if (a.variant.size() > 0) p.variant = kj::str(a.variant);
    }
  }
  if (p.architecture == "arm64" && (p.variant.size() == 0 || p.variant == "8")) {
    p.variant = kj::str("v8");
  }
  if (p.architecture == "arm" && p.variant.size() == 0) p.variant = kj::str("v7");
  if (p.architecture == "arm" && p.variant.size() == 1) p.variant = kj::str("v", p.variant);
  if (p.architecture == "amd64" && p.variant == "v1") p.variant = kj::str();
  return p;
}

Platform hostPlatform() {
  struct utsname u;
  uname(&u);
  return normalize(Platform{kj::str("linux"), kj::str(u.machine), kj::str()});
}

Platform parsePlatform(kj::StringPtr spec) {
  kj::Vector<kj::String> parts;
  size_t start = 0;
  for (size_t i = 0; i <= spec.size(); i++) {
    if (i == spec.size() || spec[i] == '/') {
      parts.add(lower(kj::heapString(spec.slice(start, i))));
      start = i + 1;
    }
  }
  auto bad = [&](kj::StringPtr why) -> Platform {
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str("platform \"", spec, "\": ", why));
  };
  for (auto& p : parts) {
    if (p.size() == 0) return bad("empty part");
  }
  auto host = hostPlatform();
  if (parts.size() == 1) {
    if (contains(KNOWN_OS, parts[0])) {
      return normalize(
          Platform{kj::mv(parts[0]), kj::str(host.architecture), kj::str(host.variant)});
    }
    auto arch = normalize(Platform{kj::str("linux"), kj::mv(parts[0]), kj::str()});
    if (!contains(KNOWN_ARCH, arch.architecture))
      return bad("unknown operating system or architecture");
    arch.os = kj::str(host.os);
    return arch;
  }
  if (parts.size() > 3) return bad("more than os/architecture/variant");
  if (!contains(KNOWN_OS, parts[0]))
    return bad(kj::str("unknown operating system \"", parts[0], "\""));
  auto p = normalize(Platform{kj::mv(parts[0]), kj::mv(parts[1]),
                              parts.size() == 3 ? kj::mv(parts[2]) : kj::str()});
  if (!contains(KNOWN_ARCH, p.architecture)) {
    return bad(kj::str("unknown architecture \"", p.architecture, "\""));
  }
  return p;
}

int preference(const Platform& wantedRaw, const Platform& offeredRaw) {
  auto wanted = normalize(
      Platform{kj::str(wantedRaw.os), kj::str(wantedRaw.architecture), kj::str(wantedRaw.variant)});
  auto offered = normalize(Platform{kj::str(offeredRaw.os), kj::str(offeredRaw.architecture),
                                    kj::str(offeredRaw.variant)});
  if (wanted.os != offered.os || wanted.architecture != offered.architecture) return -1;
  if (wanted.variant == offered.variant) return 100;
  if (wanted.architecture == "arm") {
    // An armv7 machine runs v6 and v5 images; prefer the newest it can run.
    int want = armVersion(wanted.variant), have = armVersion(offered.variant);
    if (want > 0 && have > 0 && have < want) return have;
    return -1;
  }
  return -1;
}

bool matches(const Platform& wanted, const Platform& offered) {
  return preference(wanted, offered) >= 0;
}

}  // namespace ctrd::oci
