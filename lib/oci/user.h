// A container's user, as an image or `--user` names it ("name", "uid", "name:group", "uid:gid",
// ...), resolved as runc's libcontainer/user does it, through the rootfs's own /etc/passwd and
// /etc/group. They are read beneath the rootfs (openat2 RESOLVE_IN_ROOT: their symlinks resolve
// as they would inside the container, never out of it), capped in size.
#pragma once

#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

namespace ctrd::oci {

struct ResolvedUser {
  uint32_t uid = 0;
  uint32_t gid = 0;
  kj::Vector<uint32_t> additionalGids;  // the groups /etc/group lists the user in
};

ResolvedUser resolveUser(int rootfsFd, kj::StringPtr user);
// A name missing from the files is `not found`, naming it and the file ("no user \"web\" in the
// image's /etc/passwd"); a numeric uid not in /etc/passwd has gid 0, as runc gives it. A user
// given without a group also gets the groups /etc/group lists it in.

ResolvedUser resolveUserFrom(kj::StringPtr user, kj::StringPtr passwd, kj::StringPtr group);
// The same from the files' contents (either may be empty: an image without it).

}  // namespace ctrd::oci
