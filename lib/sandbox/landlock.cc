#include "landlock.h"

#include <errno.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ctrd {
namespace {

// Debian 12's headers stop at ABI 2; this kernel speaks 7.
constexpr uint64_t ACCESS_TRUNCATE = 1ull << 14;   // ABI 3
constexpr uint64_t ACCESS_IOCTL_DEV = 1ull << 15;  // ABI 5

uint64_t handledFor(int abi) {
  uint64_t all =
      LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
      LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
      LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
      LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
      LANDLOCK_ACCESS_FS_MAKE_SYM;
  if (abi >= 2) all |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) all |= ACCESS_TRUNCATE;
  if (abi >= 5) all |= ACCESS_IOCTL_DEV;
  return all;
}

}  // namespace

int landlockAbi() {
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi < 0 ? 0 : static_cast<int>(abi);
}

bool confineThread(kj::ArrayPtr<const LandlockTree> trees) {
  int abi = landlockAbi();
  if (abi < 1) return false;
  uint64_t handled = handledFor(abi);
  // Everything a layer can hold may be made, changed and removed in a writable tree; nothing
  // is executed, and no device is driven by ioctl.
  uint64_t writable = handled & ~(LANDLOCK_ACCESS_FS_EXECUTE | ACCESS_IOCTL_DEV);
  uint64_t readable = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;

  struct landlock_ruleset_attr attr = {};
  attr.handled_access_fs = handled;
  int ruleset;
  KJ_SYSCALL(ruleset =
                 static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0)));
  kj::AutoCloseFd owned(ruleset);
  for (auto& tree : trees) {
    struct landlock_path_beneath_attr rule = {};
    rule.allowed_access = tree.writable ? writable : readable;
    rule.parent_fd = tree.dirFd;
    KJ_SYSCALL(syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0));
  }
  // Without CAP_SYS_ADMIN the kernel wants no_new_privs first; it is per thread too. (The diff
  // process has it already; tests running in-process as root may not.)
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
    KJ_SYSCALL(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
  }
  KJ_SYSCALL(syscall(SYS_landlock_restrict_self, ruleset, 0));
  return true;
}

}  // namespace ctrd
