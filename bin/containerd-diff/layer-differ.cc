#include "layer-differ.h"

#include <archive.h>
#include <archive_entry.h>
#include <common/digest.h>
#include <common/errors.h>
#include <common/path.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace ctrd {
namespace {

constexpr size_t CHUNK = 1 << 20;

class TarOutput {
  // libarchive writes the tar; we hash it and compress it into a memfd.
public:
  explicit TarOutput(Compression compression) : compression(compression) {
    int fd = memfd_create("layer", MFD_CLOEXEC);
    if (fd < 0) KJ_FAIL_SYSCALL("memfd_create", errno);
    file = kj::AutoCloseFd(fd);
    if (compression == Compression::ZSTD) {
      throwError(ErrorKind::NOT_IMPLEMENTED, "writing zstd layers");
    }
    if (compression == Compression::GZIP) {
      memset(&zs, 0, sizeof(zs));
      // windowBits 15 + 16: a gzip wrapper; zlib's default header has no name and time 0.
      KJ_ASSERT(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                             Z_DEFAULT_STRATEGY) == Z_OK);
    }
    out = kj::heapArray<kj::byte>(CHUNK);
    a = archive_write_new();
    KJ_ASSERT(a != nullptr);
    archive_write_set_format_pax_restricted(a);
    archive_write_set_bytes_in_last_block(a, 1);
    if (archive_write_open(a, this, nullptr, writeCallback, nullptr) != ARCHIVE_OK) {
      KJ_FAIL_ASSERT("archive_write_open", archiveError(a));
    }
  }
  ~TarOutput() noexcept(false) {
    if (a != nullptr) archive_write_free(a);
    if (compression == Compression::GZIP) deflateEnd(&zs);
  }

  struct archive* archive() {
    return a;
  }
  size_t entries = 0;

  ComputedLayer finish() {
    KJ_ASSERT(archive_write_close(a) == ARCHIVE_OK, archiveError(a));
    if (compression == Compression::GZIP) deflateChunk(nullptr, 0, Z_FINISH);
    KJ_SYSCALL(lseek(file, 0, SEEK_SET));
    return {kj::mv(file), hash.digest(), total, entries};
  }

  void header(struct archive_entry* e) {
    if (archive_write_header(a, e) != ARCHIVE_OK) {
      throwError(ErrorKind::UNKNOWN, kj::str("writing layer entry \"", archive_entry_pathname(e),
                                             "\": ", archiveError(a)));
    }
    entries++;
  }

  void data(int fd, kj::StringPtr path) {
    auto buf = kj::heapArray<kj::byte>(CHUNK);
    for (;;) {
      ssize_t n = read(fd, buf.begin(), buf.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        KJ_FAIL_SYSCALL("read", errno, path);
      }
      if (n == 0) return;
      if (archive_write_data(a, buf.begin(), n) != n) {
        throwError(ErrorKind::UNKNOWN, kj::str("writing \"", path, "\": ", archiveError(a)));
      }
    }
  }

private:
  Compression compression;
  kj::AutoCloseFd file;
  struct archive* a = nullptr;
  z_stream zs;
  kj::Array<kj::byte> out;
  Sha256 hash;
  int64_t total = 0;

  void writeFile(const void* p, size_t n) {
    auto bytes = static_cast<const char*>(p);
    while (n > 0) {
      ssize_t w = write(file, bytes, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        KJ_FAIL_SYSCALL("write layer", errno);
      }
      bytes += w;
      n -= w;
    }
  }

  void deflateChunk(const void* p, size_t n, int flush) {
    zs.next_in = static_cast<Bytef*>(const_cast<void*>(p));
    zs.avail_in = n;
    do {
      zs.next_out = out.begin();
      zs.avail_out = out.size();
      int rc = deflate(&zs, flush);
      KJ_ASSERT(rc != Z_STREAM_ERROR);
      writeFile(out.begin(), out.size() - zs.avail_out);
    } while (zs.avail_out == 0 || (flush == Z_FINISH && zs.avail_in > 0));
  }

  static la_ssize_t writeCallback(struct archive*, void* self, const void* p, size_t n) {
    auto& t = *static_cast<TarOutput*>(self);
    t.hash.update(kj::arrayPtr(static_cast<const kj::byte*>(p), n));
    t.total += n;
    if (t.compression == Compression::GZIP) {
      t.deflateChunk(p, n, Z_NO_FLUSH);
    } else {
      t.writeFile(p, n);
    }
    return n;
  }
};

struct Entry {
  std::string name;
  struct stat st;
};

std::vector<Entry> sortedEntries(int dir) {
  std::vector<Entry> out;
  for (auto& name : listDirectory(dir)) {
    Entry entry{name.cStr(), {}};
    KJ_SYSCALL(fstatat(dir, name.cStr(), &entry.st, AT_SYMLINK_NOFOLLOW), name);
    out.push_back(entry);
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return out;
}

bool isOverlayXattr(const char* name) {
  return strncmp(name, "user.overlay.", 13) == 0 || strncmp(name, "trusted.overlay.", 16) == 0;
}

std::map<std::string, std::string> xattrsOf(int dir, const std::string& name, mode_t mode) {
  std::map<std::string, std::string> out;
  if (!S_ISREG(mode) && !S_ISDIR(mode)) return out;
  int fd = openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return out;
  kj::AutoCloseFd owned(fd);
  char names[65536];
  ssize_t len = flistxattr(fd, names, sizeof(names));
  for (char* n = names; len > 0 && n < names + len; n += strlen(n) + 1) {
    if (isOverlayXattr(n)) continue;
    char value[65536];
    ssize_t v = fgetxattr(fd, n, value, sizeof(value));
    if (v >= 0) out[n] = std::string(value, v);
  }
  return out;
}

class TreeWriter {
public:
  TreeWriter(TarOutput& out) : out(out) {}

  void emitWhiteout(const std::string& path, const struct stat* st) {
    auto slash = path.rfind('/');
    auto name = slash == std::string::npos
                    ? ".wh." + path
                    : path.substr(0, slash + 1) + ".wh." + path.substr(slash + 1);
    emitMarker(name, st);
  }

  void emitMarker(const std::string& name, const struct stat* st) {
    struct archive_entry* e = archive_entry_new();
    KJ_DEFER(archive_entry_free(e));
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0);
    archive_entry_set_size(e, 0);
    if (st != nullptr) archive_entry_set_mtime(e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
    out.header(e);
  }

  void emit(int dir, const Entry& entry, const std::string& path) {
    const struct stat& st = entry.st;
    if (S_ISSOCK(st.st_mode)) return;  // sockets are not layer content
    struct archive_entry* e = archive_entry_new();
    KJ_DEFER(archive_entry_free(e));
    archive_entry_set_pathname(e, S_ISDIR(st.st_mode) ? (path + "/").c_str() : path.c_str());
    archive_entry_set_uid(e, st.st_uid);
    archive_entry_set_gid(e, st.st_gid);
    archive_entry_set_perm(e, st.st_mode & 07777);
    archive_entry_set_mtime(e, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    for (auto& [k, v] : xattrsOf(dir, entry.name, st.st_mode)) {
      archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
    }
    kj::AutoCloseFd content;
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      auto it = links.find(key);
      if (it != links.end()) {
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, it->second.c_str());
        archive_entry_set_size(e, 0);
        out.header(e);
        return;
      }
      links[key] = path;
    }
    switch (st.st_mode & S_IFMT) {
      case S_IFDIR:
        archive_entry_set_filetype(e, AE_IFDIR);
        break;
      case S_IFREG: {
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, st.st_size);
        int fd = openat(dir, entry.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) KJ_FAIL_SYSCALL("open", errno, path);
        content = kj::AutoCloseFd(fd);
        break;
      }
      case S_IFLNK: {
        char target[PATH_MAX + 1];
        ssize_t n;
        KJ_SYSCALL(n = readlinkat(dir, entry.name.c_str(), target, PATH_MAX), path);
        target[n] = '\0';
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, target);
        archive_entry_set_perm(e, 0777);
        break;
      }
      case S_IFCHR:
        archive_entry_set_filetype(e, AE_IFCHR);
        archive_entry_set_rdev(e, st.st_rdev);
        break;
      case S_IFBLK:
        archive_entry_set_filetype(e, AE_IFBLK);
        archive_entry_set_rdev(e, st.st_rdev);
        break;
      case S_IFIFO:
        archive_entry_set_filetype(e, AE_IFIFO);
        break;
    }
    out.header(e);
    if (content != nullptr) out.data(content, path);
  }

private:
  TarOutput& out;
  std::map<std::pair<dev_t, ino_t>, std::string> links;
};

kj::AutoCloseFd openSub(int dir, const std::string& name) {
  int fd = openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) KJ_FAIL_SYSCALL("open directory", errno, name);
  return kj::AutoCloseFd(fd);
}

void walkUpper(int dir, const std::string& prefix, TreeWriter& w) {
  for (auto& entry : sortedEntries(dir)) {
    auto path = prefix.empty() ? entry.name : prefix + "/" + entry.name;
    if (S_ISCHR(entry.st.st_mode) && entry.st.st_rdev == makedev(0, 0)) {
      // Overlay's whiteout, whatever its link count (the kernel shares one inode).
      w.emitWhiteout(path, &entry.st);
      continue;
    }
    w.emit(dir, entry, path);
    if (S_ISDIR(entry.st.st_mode)) {
      auto sub = openSub(dir, entry.name);
      char value[4] = {};
      if (fgetxattr(sub, "user.overlay.opaque", value, sizeof(value)) == 1 && value[0] == 'y') {
        w.emitMarker(path + "/.wh..wh..opq", &entry.st);
      }
      walkUpper(sub, path, w);
    }
  }
}

bool sameEntry(int lowerDir, const Entry& lower, int upperDir, const Entry& upper) {
  const struct stat& a = lower.st;
  const struct stat& b = upper.st;
  if ((a.st_mode & S_IFMT) != (b.st_mode & S_IFMT)) return false;
  if (a.st_mode != b.st_mode || a.st_uid != b.st_uid || a.st_gid != b.st_gid) return false;
  if (S_ISDIR(a.st_mode)) {
    return xattrsOf(lowerDir, lower.name, a.st_mode) == xattrsOf(upperDir, upper.name, b.st_mode);
  }
  if (a.st_mtim.tv_sec != b.st_mtim.tv_sec || a.st_mtim.tv_nsec != b.st_mtim.tv_nsec) return false;
  if (S_ISREG(a.st_mode) && a.st_size != b.st_size) return false;
  if ((S_ISCHR(a.st_mode) || S_ISBLK(a.st_mode)) && a.st_rdev != b.st_rdev) return false;
  if (S_ISLNK(a.st_mode)) {
    char x[PATH_MAX + 1], y[PATH_MAX + 1];
    ssize_t n = readlinkat(lowerDir, lower.name.c_str(), x, PATH_MAX);
    ssize_t m = readlinkat(upperDir, upper.name.c_str(), y, PATH_MAX);
    if (n != m || n < 0 || memcmp(x, y, n) != 0) return false;
  }
  return xattrsOf(lowerDir, lower.name, a.st_mode) == xattrsOf(upperDir, upper.name, b.st_mode);
}

void walkBoth(int lowerDir, int upperDir, const std::string& prefix, TreeWriter& w) {
  auto lowers = lowerDir >= 0 ? sortedEntries(lowerDir) : std::vector<Entry>();
  auto uppers = sortedEntries(upperDir);
  size_t i = 0, j = 0;
  while (i < lowers.size() || j < uppers.size()) {
    bool takeLower = j == uppers.size() || (i < lowers.size() && lowers[i].name < uppers[j].name);
    bool takeUpper = i == lowers.size() || (j < uppers.size() && uppers[j].name < lowers[i].name);
    if (takeLower) {
      w.emitWhiteout(prefix.empty() ? lowers[i].name : prefix + "/" + lowers[i].name, nullptr);
      i++;
      continue;
    }
    auto& upper = uppers[j];
    auto path = prefix.empty() ? upper.name : prefix + "/" + upper.name;
    const Entry* lower = takeUpper ? nullptr : &lowers[i];
    if (lower == nullptr || !sameEntry(lowerDir, *lower, upperDir, upper)) {
      w.emit(upperDir, upper, path);
    }
    if (S_ISDIR(upper.st.st_mode)) {
      auto sub = openSub(upperDir, upper.name);
      if (lower != nullptr && S_ISDIR(lower->st.st_mode)) {
        auto lowerSub = openSub(lowerDir, lower->name);
        walkBoth(lowerSub, sub, path, w);
      } else {
        walkBoth(-1, sub, path, w);
      }
    }
    if (!takeUpper) i++;
    j++;
  }
}

}  // namespace

ComputedLayer diffOverlayUpper(int upper, Compression compression) {
  TarOutput out(compression);
  TreeWriter writer(out);
  walkUpper(upper, "", writer);
  size_t entries = out.entries;
  auto layer = out.finish();
  layer.entries = entries;
  return layer;
}

ComputedLayer diffTrees(int lower, int upper, Compression compression) {
  TarOutput out(compression);
  TreeWriter writer(out);
  walkBoth(lower, upper, "", writer);
  size_t entries = out.entries;
  auto layer = out.finish();
  layer.entries = entries;
  return layer;
}

}  // namespace ctrd
