#include "user.h"

#include <common/errors.h>
#include <common/path.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/io.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ctrd::oci {
namespace {

constexpr size_t MAX_FILE = 4 << 20;  // a bigger /etc/passwd is not an image's

kj::Maybe<uint32_t> parseId(kj::StringPtr s) {
  if (s.size() == 0 || s.size() > 10) return nullptr;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return nullptr;
    v = v * 10 + (c - '0');
  }
  if (v > UINT32_MAX) return nullptr;
  return static_cast<uint32_t>(v);
}

kj::Vector<kj::ArrayPtr<const char>> split(kj::ArrayPtr<const char> text, char sep) {
  kj::Vector<kj::ArrayPtr<const char>> out;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); i++) {
    if (i == text.size() || text[i] == sep) {
      out.add(text.slice(start, i));
      start = i + 1;
    }
  }
  return out;
}

bool equals(kj::ArrayPtr<const char> a, kj::StringPtr b) {
  return a.size() == b.size() && memcmp(a.begin(), b.begin(), a.size()) == 0;
}

struct Entry {
  kj::String name;
  uint32_t id;
  uint32_t gid;                    // passwd: the primary group
  kj::Vector<kj::String> members;  // group: its members
};

kj::Vector<Entry> parseFile(kj::StringPtr text, bool isGroup) {
  // name:password:id:... per line; comments and malformed lines skipped, as libc does.
  kj::Vector<Entry> out;
  for (auto line : split(text.asArray(), '\n')) {
    if (line.size() == 0 || line[0] == '#') continue;
    auto fields = split(line, ':');
    if (fields.size() < (isGroup ? 3u : 4u)) continue;
    KJ_IF_MAYBE(id, parseId(kj::heapString(fields[2]))) {
      Entry e{kj::heapString(fields[0]), *id, 0, {}};
      if (isGroup) {
        if (fields.size() >= 4 && fields[3].size() > 0) {
          for (auto m : split(fields[3], ',')) e.members.add(kj::heapString(m));
        }
      } else {
        KJ_IF_MAYBE(gid, parseId(kj::heapString(fields[3]))) {
          e.gid = *gid;
        } else {
          continue;
        }
      }
      out.add(kj::mv(e));
    }
  }
  return out;
}

kj::String readInRoot(int rootfsFd, kj::StringPtr path) {
  struct open_how how;
  memset(&how, 0, sizeof(how));
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(syscall(SYS_openat2, rootfsFd, path.cStr(), &how, sizeof(how)));
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return kj::str();
    throwError(ErrorKind::UNKNOWN, kj::str("the image's ", path, ": ", strerror(errno)));
  }
  kj::AutoCloseFd owned(fd);
  kj::Vector<char> bytes;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      throwError(ErrorKind::UNKNOWN, kj::str("the image's ", path, ": ", strerror(errno)));
    }
    if (n == 0) break;
    if (bytes.size() + n > MAX_FILE) {
      throwError(ErrorKind::INVALID_ARGUMENT,
                 kj::str("the image's ", path, " is larger than ", MAX_FILE, " bytes"));
    }
    bytes.addAll(kj::arrayPtr(buf, n));
  }
  return kj::heapString(bytes.begin(), bytes.size());
}

}  // namespace

ResolvedUser resolveUserFrom(kj::StringPtr user, kj::StringPtr passwdText,
                             kj::StringPtr groupText) {
  if (user.size() == 0) throwError(ErrorKind::INVALID_ARGUMENT, "empty user");
  kj::String userPart, groupPart;
  KJ_IF_MAYBE(colon, user.findFirst(':')) {
    userPart = kj::heapString(user.slice(0, *colon));
    groupPart = kj::heapString(user.slice(*colon + 1));
    if (groupPart.size() == 0) {
      throwError(ErrorKind::INVALID_ARGUMENT, kj::str("user \"", user, "\": empty group"));
    }
  } else {
    userPart = kj::str(user);
  }
  auto passwd = parseFile(passwdText, false);
  auto groups = parseFile(groupText, true);

  ResolvedUser out;
  kj::Maybe<const Entry&> found;
  KJ_IF_MAYBE(uid, parseId(userPart)) {
    out.uid = *uid;
    for (auto& e : passwd) {
      if (e.id == *uid) {
        found = e;
        break;
      }
    }
  } else {
    for (auto& e : passwd) {
      if (e.name == userPart) {
        found = e;
        break;
      }
    }
    if (found == nullptr) {
      throwError(ErrorKind::NOT_FOUND,
                 kj::str("no user \"", userPart, "\" in the image's /etc/passwd"));
    }
  }
  KJ_IF_MAYBE(e, found) {
    out.uid = e->id;
    out.gid = e->gid;
  }
  if (groupPart.size() > 0) {
    KJ_IF_MAYBE(gid, parseId(groupPart)) {
      out.gid = *gid;
    } else {
      bool have = false;
      for (auto& g : groups) {
        if (g.name == groupPart) {
          out.gid = g.id;
          have = true;
          break;
        }
      }
      if (!have) {
        throwError(ErrorKind::NOT_FOUND,
                   kj::str("no group \"", groupPart, "\" in the image's /etc/group"));
      }
    }
  } else KJ_IF_MAYBE(e, found) {
    // Only a user given without a group gets the groups it is a member of.
    for (auto& g : groups) {
      if (g.id == out.gid) continue;
      for (auto& m : g.members) {
        if (m == e->name) {
          out.additionalGids.add(g.id);
          break;
        }
      }
    }
  }
  return out;
}

ResolvedUser resolveUser(int rootfsFd, kj::StringPtr user) {
  // A numeric uid[:gid] still reads /etc/passwd for the primary group and /etc/group for the
  // memberships, as runc does.
  return resolveUserFrom(user, readInRoot(rootfsFd, "/etc/passwd"),
                         readInRoot(rootfsFd, "/etc/group"));
}

}  // namespace ctrd::oci
