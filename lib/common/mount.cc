#include "mount.h"

#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <kj/vector.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "errors.h"

namespace ctrd {
namespace {

constexpr size_t MOUNT_DATA_LIMIT = 4095;  // one page, with its NUL

[[noreturn]] void mountFailed(kj::StringPtr what, kj::StringPtr target, int err) {
  throwError(ErrorKind::UNKNOWN, kj::str("mount ", what, " at \"", target, "\": ", strerror(err)));
}

unsigned long mountAttributes(unsigned long flags) {
  unsigned long attributes = 0;
  if (flags & MS_RDONLY) attributes |= MOUNT_ATTR_RDONLY;
  if (flags & MS_NOSUID) attributes |= MOUNT_ATTR_NOSUID;
  if (flags & MS_NODEV) attributes |= MOUNT_ATTR_NODEV;
  if (flags & MS_NOEXEC) attributes |= MOUNT_ATTR_NOEXEC;
  return attributes;
}

void mountBind(schema::Mount::Reader m, kj::StringPtr target, unsigned long extraFlags) {
  bool readOnly = false;
  unsigned long flags = MS_BIND;
  for (auto o : m.getOptions()) {
    if (o == "ro") readOnly = true;
    if (o == "rbind") flags |= MS_REC;
  }
  if (::mount(m.getSource().cStr(), target.cStr(), nullptr, flags, nullptr) < 0) {
    mountFailed(kj::str("bind of \"", m.getSource(), "\""), target, errno);
  }
  // A bind mount takes its flags only from a remount.
  unsigned long remount = extraFlags | (readOnly ? MS_RDONLY : 0);
  if (remount != 0 &&
      ::mount(nullptr, target.cStr(), nullptr, MS_REMOUNT | MS_BIND | remount, nullptr) < 0) {
    int err = errno;
    umount2(target.cStr(), MNT_DETACH);
    mountFailed("remount", target, err);
  }
}

void mountOverlayByParts(schema::Mount::Reader m, kj::StringPtr target, unsigned long flags) {
  int fs = fsopen("overlay", FSOPEN_CLOEXEC);
  if (fs < 0) mountFailed("overlay (fsopen)", target, errno);
  kj::AutoCloseFd fsFd(fs);
  auto set = [&](kj::StringPtr key, kj::Maybe<kj::StringPtr> value) {
    int rc;
    KJ_IF_MAYBE(v, value) {
      rc = fsconfig(fs, FSCONFIG_SET_STRING, key.cStr(), v->cStr(), 0);
    } else {
      rc = fsconfig(fs, FSCONFIG_SET_FLAG, key.cStr(), nullptr, 0);
    }
    if (rc < 0) mountFailed(kj::str("overlay (option ", key, ")"), target, errno);
  };
  for (auto o : m.getOptions()) {
    kj::StringPtr option = o;
    if (option == "ro" || option == "rw" || option == "nosuid" || option == "nodev" ||
        option == "noexec") {
      continue;  // flags of the mount, not options of the filesystem
    }
    KJ_IF_MAYBE(eq, option.findFirst('=')) {
      auto key = kj::heapString(option.slice(0, *eq));
      auto value = option.slice(*eq + 1);
      if (key == "lowerdir") {
        // One layer at a time: no single string has to hold them all.
        size_t start = 0;
        for (size_t i = 0; i <= value.size(); i++) {
          if (i == value.size() || value[i] == ':') {
            set("lowerdir+", kj::StringPtr(kj::heapString(value.slice(start, i))));
            start = i + 1;
          }
        }
      } else {
        set(key, value);
      }
    } else {
      set(option, nullptr);
    }
  }
  if (fsconfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0) {
    mountFailed("overlay (create)", target, errno);
  }
  int mnt = fsmount(fs, FSMOUNT_CLOEXEC, mountAttributes(flags));
  if (mnt < 0) mountFailed("overlay (fsmount)", target, errno);
  kj::AutoCloseFd mntFd(mnt);
  if (move_mount(mnt, "", AT_FDCWD, target.cStr(), MOVE_MOUNT_F_EMPTY_PATH) < 0) {
    mountFailed("overlay (move_mount)", target, errno);
  }
}

void mountOther(schema::Mount::Reader m, kj::StringPtr target, unsigned long flags) {
  kj::Vector<kj::StringPtr> data;
  for (auto o : m.getOptions()) {
    if (o == "ro") {
      flags |= MS_RDONLY;
    } else if (o == "nosuid") {
      flags |= MS_NOSUID;
    } else if (o == "nodev") {
      flags |= MS_NODEV;
    } else if (o == "noexec") {
      flags |= MS_NOEXEC;
    } else if (o != "rw") {
      data.add(o);
    }
  }
  auto joined = kj::strArray(data, ",");
  if (m.getType() == "overlay" && joined.size() > MOUNT_DATA_LIMIT) {
    mountOverlayByParts(m, target, flags);
    return;
  }
  if (::mount(m.getSource().cStr(), target.cStr(), m.getType().cStr(), flags, joined.cStr()) < 0) {
    mountFailed(m.getType(), target, errno);
  }
}

}  // namespace

void mountAll(capnp::List<schema::Mount>::Reader mounts, kj::StringPtr target,
              unsigned long flags) {
  for (auto m : mounts) {
    if (m.getType() == "bind") {
      mountBind(m, target, flags);
    } else {
      mountOther(m, target, flags);
    }
  }
}

void unmount(kj::StringPtr target) {
  if (umount2(target.cStr(), 0) < 0 && errno != EINVAL) {
    throwError(ErrorKind::UNKNOWN, kj::str("unmount \"", target, "\": ", strerror(errno)));
  }
}

}  // namespace ctrd
