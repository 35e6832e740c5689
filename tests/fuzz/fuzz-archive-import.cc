// The image archive reader (bin/containerd-content/image-archive): a tar from anyone (plain,
// gzip or zstd), read with libarchive into a blob store in a temporary directory. Any input
// either imports or throws a kj::Exception; nothing is written outside the store.
#include <fcntl.h>
#include <ftw.h>
#include <kj/exception.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "image-archive.h"

namespace {

std::string root;

void removeRoot() {
  nftw(
      root.c_str(),
      [](const char* path, const struct stat*, int, struct FTW*) { return remove(path); }, 64,
      FTW_DEPTH | FTW_PHYS);
}

ctrd::BlobStore& store() {
  static ctrd::BlobStore* s = []() {
    // On tmpfs: each commit fsyncs, which a disk would make the whole run wait for.
    char dir[] = "/dev/shm/fuzz-archive-XXXXXX";
    if (mkdtemp(dir) == nullptr) abort();
    root = dir;
    atexit(removeRoot);
    return new ctrd::BlobStore(kj::AutoCloseFd(open(dir, O_DIRECTORY | O_CLOEXEC)));
  }();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static size_t runs = 0;
  auto& blobs = store();
  int fd = memfd_create("archive", MFD_CLOEXEC);
  if (fd < 0 || write(fd, data, size) != ssize_t(size) || lseek(fd, 0, SEEK_SET) != 0) abort();
  std::atomic<bool> cancelled{false};
  kj::runCatchingExceptions([&]() { ctrd::importArchive(blobs, fd, "fuzz", cancelled); });
  close(fd);
  if (++runs % 1000 == 0) {
    // What was stored goes now and then: the fuzzer should not fill the disk.
    for (auto& b : blobs.list()) blobs.remove(b.digest);
  }
  return 0;
}
