// The user namespace of a rootless daemon: uid and gid 0 inside are the user's own ids, and
// 1..count the user's subordinate range from /etc/subuid and /etc/subgid (mapped by Debian's
// setuid helpers newuidmap and newgidmap, which is why the supervisor that runs them never sets
// no-new-privs). A small holder process keeps the namespace, and a mount namespace it owns,
// alive for the daemon's life; the services that create files of other owners (snapshot, diff)
// join both at start, and `ctr images mount` joins them to mount there.
#pragma once

#include <kj/io.h>
#include <kj/string.h>
#include <stdint.h>
#include <sys/types.h>

namespace ctrd {

struct IdRange {
  uint32_t start;
  uint32_t count;
};

kj::Maybe<IdRange> subordinateRange(kj::StringPtr file, kj::StringPtr user, uint32_t id);
// The first range of `file` (/etc/subuid's format: "name-or-id:start:count" per line) granted
// to `user` or to the numeric `id`; none when the file is missing or names neither.

class UserNamespace {
public:
  static kj::Own<UserNamespace> create(uid_t uid, gid_t gid, kj::Maybe<IdRange> uids,
                                       kj::Maybe<IdRange> gids);
  // Forks the holder (call it before any thread exists), which unshares a user and a mount
  // namespace; maps 0 to uid/gid and 1.. to the ranges with newuidmap/newgidmap, or only 0 with
  // no range. Throws with the helper's own message when a mapping is refused.
  ~UserNamespace() noexcept(false);
  KJ_DISALLOW_COPY(UserNamespace);

  pid_t holder() const { return pid; }
  int userFd() const { return user.get(); }    // /proc/<holder>/ns/user
  int mountFd() const { return mount.get(); }  // /proc/<holder>/ns/mnt
  uint32_t mappedIds() const { return ids; }   // how many uids are mapped: 1 + the range

private:
  UserNamespace(pid_t pid, kj::AutoCloseFd keepAlive, kj::AutoCloseFd user, kj::AutoCloseFd mount,
                uint32_t ids);
  pid_t pid;
  kj::AutoCloseFd keepAlive;  // the holder exits when this closes
  kj::AutoCloseFd user;
  kj::AutoCloseFd mount;
  uint32_t ids;
};

}  // namespace ctrd
