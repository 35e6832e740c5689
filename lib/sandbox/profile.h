// Privilege profiles: what each service process may hold, as one table, and the code that cuts a
// process down to its profile.
#pragma once

#include <kj/array.h>
#include <kj/common.h>
#include <kj/string.h>
#include <stdint.h>
#include <sys/types.h>

namespace ctrd {

enum class ServiceKind { CONTENT, SNAPSHOT, DIFF, TASKS };

enum class SeccompPolicy {
  ALLOW_LIST,  // everything not listed fails with EPERM
  DENY_LIST,   // only what is listed fails with EPERM (see the tasks row for why)
};

struct Profile {
  ServiceKind kind;
  kj::StringPtr executable;      // "containerd-content"
  kj::StringPtr configKey;       // "content", as in [services.content]
  kj::StringPtr pluginType;      // containerd's plugin type, for `ctr plugins ls`
  kj::StringPtr storeDirectory;  // its directory under <root>, owned by its uid; "" for none
  bool runsAsRoot;               // false: refuses uid 0 and needs a uid/gid to switch to
  bool emptyRoot;                // its root becomes an empty, deleted directory: no host paths
  uint64_t capabilities;         // bit n = capability n; bounding = permitted = effective
  bool noNewPrivs;
  SeccompPolicy seccompPolicy;
  kj::ArrayPtr<const kj::StringPtr> syscalls;  // allowed or denied, per policy
  kj::ArrayPtr<const int> socketFamilies;      // families socket() may create (allow-lists only)
  bool storeInState = false;  // storeDirectory is under <state> (lost at reboot), not <root>
};

kj::ArrayPtr<const Profile> allProfiles();
const Profile& profileFor(ServiceKind kind);
kj::Maybe<const Profile&> tryProfileByConfigKey(kj::StringPtr key);

struct Identity {
  uid_t uid;
  gid_t gid;
};

void enterSandbox(const Profile& profile, kj::Maybe<Identity> identity,
                  kj::ArrayPtr<const int> keepFds, bool inUserNamespace = false);
// Cuts the calling process down to `profile`, in this fixed order:
//   1. close every fd but stdio and `keepFds`, so nothing inherited leaks in;
//   1b. for an emptyRoot profile, chroot into an empty directory that is then deleted (needs
//      CAP_SYS_CHROOT, so while still root; started unprivileged, the unit must do it);
//   2. drop the bounding set to the profile (needs CAP_SETPCAP, so while still root);
//   3. switch to `identity` with SECBIT_KEEP_CAPS, so the profile's capabilities survive setuid;
//   4. set permitted = effective = the profile, inheritable and ambient empty (nothing survives
//      an exec, and the services that drop root never exec);
//   5. PR_SET_NO_NEW_PRIVS where the profile says so;
//   6. load the seccomp filter last, so the steps above need no syscalls of their own in it.
// In a rootless daemon's user namespace (`inUserNamespace`) the process is uid 0 there (the
// user outside) and cuts itself to the profile in that namespace the same way, without a uid
// switch and without CAP_MKNOD (no device node can be made in a user namespace).
// Throws if any step fails: a service must never serve with more than its profile.

uint64_t capabilityBit(int cap);

void raiseFileLimit();
// RLIMIT_NOFILE's soft limit up to its hard limit. Every service does it at start.

}  // namespace ctrd
