// A tar stream applied beneath a scratch directory; afterwards nothing may exist beside it but
// the canary, unchanged. (An entry that fails the apply is fine; an escape is a crash.)
#include <common/tree.h>
#include <dirent.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <layer-applier.h>
#include <layer-stream.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>

static std::string scratch() {
  static std::string dir = [] {
    char tmpl[] = "/tmp/fuzz-apply-XXXXXX";
    std::string d = mkdtemp(tmpl);
    int fd = open((d + "/canary").c_str(), O_WRONLY | O_CREAT, 0600);
    KJ_ASSERT(write(fd, "canary", 6) == 6);
    close(fd);
    return d;
  }();
  return dir;
}

static std::set<std::string> entries(const std::string& dir) {
  std::set<std::string> out;
  DIR* d = opendir(dir.c_str());
  while (auto* e = readdir(d)) out.insert(e->d_name);
  closedir(d);
  return out;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto base = scratch();
  int baseFd = open(base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  mkdirat(baseFd, "target", 0755);
  int target = openat(baseFd, "target", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int layer = memfd_create("layer", MFD_CLOEXEC);
  KJ_ASSERT(write(layer, data, size) == ssize_t(size));
  lseek(layer, 0, SEEK_SET);
  kj::runCatchingExceptions([&]() {
    ctrd::LayerStream stream(layer, ctrd::Compression::NONE,
                             "application/vnd.oci.image.layer.v1.tar");
    ctrd::LayerApplier applier(target, nullptr, ctrd::WhiteoutStyle::OVERLAY);
    applier.apply(stream);
  });
  close(layer);
  close(target);
  ctrd::removeTree(baseFd, "target");
  auto left = entries(base);
  KJ_ASSERT(left == (std::set<std::string>{".", "..", "canary"}), "something escaped");
  struct stat st;
  KJ_ASSERT(fstatat(baseFd, "canary", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_size == 6 &&
            (st.st_mode & 07777) == 0600);
  close(baseFd);
  return 0;
}
