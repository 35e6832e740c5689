#include "image-archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <common/digest.h>
#include <common/errors.h>
#include <common/log.h>
#include <errno.h>
#include <kj/debug.h>
#include <kj/map.h>
#include <oci/archive.h>
#include <oci/media-types.h>
#include <oci/reference.h>
#include <poll.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "distribution-server.h"
#include "ingest.h"

namespace ctrd {
namespace {

constexpr kj::StringPtr LAYOUT_FILE = "oci-layout"_kj;
constexpr kj::StringPtr INDEX_FILE = "index.json"_kj;
constexpr kj::StringPtr DOCKER_MANIFEST_FILE = "manifest.json"_kj;
constexpr size_t TAR_BLOCK = 512;
constexpr size_t SMALL_FILE = 1 << 20;  // read whole and appended at once

oci::Descriptor copyOf(const oci::Descriptor& d) {
  oci::Descriptor out{kj::str(d.mediaType), kj::str(d.digest), d.size, nullptr};
  KJ_IF_MAYBE(p, d.platform) {
    out.platform = oci::Platform{kj::str(p->os), kj::str(p->architecture), kj::str(p->variant)};
  }
  return out;
}

[[noreturn]] void badArchive(kj::StringPtr why) {
  throwError(ErrorKind::INVALID_ARGUMENT, kj::str("import: ", why));
}

kj::String cleanPath(kj::StringPtr path) {
  // A name in the tar as a key to look up: "./a//b/../c" is "a/c". Never a path to open.
  kj::Vector<kj::String> parts;
  size_t start = 0;
  for (size_t i = 0; i <= path.size(); i++) {
    if (i < path.size() && path[i] != '/') continue;
    auto part = kj::str(path.slice(start, i));
    start = i + 1;
    if (part == "..") {
      if (!parts.empty()) parts.removeLast();
    } else if (part.size() > 0 && part != ".") {
      parts.add(kj::mv(part));
    }
  }
  return kj::strArray(parts, "/");
}

kj::String relativeTo(kj::StringPtr entry, kj::StringPtr target) {
  // A symlink's target, as a path in the archive.
  if (target.startsWith("/")) return cleanPath(target);
  KJ_IF_MAYBE(slash, entry.findLast('/')) {
    return cleanPath(kj::str(entry.slice(0, *slash), "/", target));
  }
  return cleanPath(target);
}

kj::Maybe<kj::String> digestOfBlobPath(kj::StringPtr path) {
  // blobs/<algorithm>/<hex> names its digest.
  if (!path.startsWith("blobs/")) return nullptr;
  auto rest = path.slice(6);
  KJ_IF_MAYBE(slash, rest.findFirst('/')) {
    return kj::str(rest.slice(0, *slash), ":", rest.slice(*slash + 1));
  }
  return nullptr;
}

kj::StringPtr layerMediaType(BlobStore& store, kj::StringPtr digest) {
  // A docker tar's layer is whatever `docker save` wrote: plain (Docker before 25) or
  // compressed; its first bytes say which.
  auto fd = store.openBlob(digest);
  kj::byte magic[4] = {0, 0, 0, 0};
  ssize_t n = pread(fd, magic, sizeof(magic), 0);
  if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    return "application/vnd.docker.image.rootfs.diff.tar.gzip"_kj;
  }
  if (n == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd) {
    return "application/vnd.oci.image.layer.v1.tar+zstd"_kj;
  }
  return "application/vnd.docker.image.rootfs.diff.tar"_kj;
}

class ArchiveReader {
public:
  ArchiveReader(BlobStore& store, int fd, kj::StringPtr owner, const std::atomic<bool>& cancelled)
      : store(store), fd(fd), owner(kj::str(owner)), cancelled(cancelled) {
    uint64_t n;
    KJ_SYSCALL(getentropy(&n, sizeof(n)));
    nonce = kj::str(kj::hex(n));
  }
  ~ArchiveReader() noexcept(false) {
    if (a != nullptr) archive_read_free(a);
  }

  ImportedArchive read() {
    a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    if (archive_read_open(a, this, nullptr, &ArchiveReader::readCallback, nullptr) != ARCHIVE_OK) {
      failed("the archive");
    }
    for (;;) {
      archive_entry* entry;
      int r = archive_read_next_header(a, &entry);
      if (r == ARCHIVE_EOF) break;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN) failed("the archive");
      if (++entries > MAX_ARCHIVE_ENTRIES) {
        badArchive(kj::str("more than ", MAX_ARCHIVE_ENTRIES, " entries"));
      }
      this->entry(entry);
    }
    return interpret();
  }

private:
  BlobStore& store;
  int fd;
  kj::String owner;
  const std::atomic<bool>& cancelled;
  kj::String nonce;
  archive* a = nullptr;
  size_t entries = 0;
  kj::byte buffer[1 << 16];
  kj::HashMap<kj::String, BlobStat> files;    // by cleaned path
  kj::HashMap<kj::String, kj::String> links;  // cleaned path -> the cleaned path it names
  kj::HashMap<kj::String, int64_t> blobs;     // digest -> size, every blob stored
  kj::Maybe<kj::Array<kj::byte>> layout, index, dockerManifest;

  static la_ssize_t readCallback(archive*, void* self, const void** out) {
    // Reads in slices of 200 ms so that a cancelled import from an idle pipe still ends.
    auto& r = *static_cast<ArchiveReader*>(self);
    for (;;) {
      if (r.cancelled.load(std::memory_order_relaxed)) {
        errno = ECANCELED;
        return -1;
      }
      struct pollfd ready = {r.fd, POLLIN, 0};
      if (poll(&ready, 1, 200) == 0) continue;
      ssize_t n = ::read(r.fd, r.buffer, sizeof(r.buffer));
      if (n < 0 && errno == EINTR) continue;
      *out = r.buffer;
      return n;
    }
  }

  [[noreturn]] void failed(kj::StringPtr what) {
    if (cancelled.load()) throwError(ErrorKind::UNAVAILABLE, "import cancelled");
    badArchive(
        kj::str(what, ": ", archive_error_string(a) ? archive_error_string(a) : "unreadable"));
  }

  void entry(archive_entry* e) {
    auto path = cleanPath(archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
    if (auto hard = archive_entry_hardlink(e)) {
      links.upsert(kj::mv(path), cleanPath(hard), [](auto& old, auto&& now) { old = kj::mv(now); });
      return;
    }
    auto type = archive_entry_filetype(e);
    if (type == AE_IFLNK) {
      auto target = relativeTo(path, archive_entry_symlink(e) ? archive_entry_symlink(e) : "");
      links.upsert(kj::mv(path), kj::mv(target), [](auto& old, auto&& now) { old = kj::mv(now); });
      return;
    }
    if (type != AE_IFREG) return;  // directories, and what no image is made of
    int64_t size = archive_entry_size(e);
    if (!archive_entry_size_is_set(e) || size < 0) badArchive(kj::str("\"", path, "\": no size"));
    if (path == LAYOUT_FILE) {
      layout = document(path, size);
    } else if (path == INDEX_FILE) {
      index = document(path, size);
    } else if (path == DOCKER_MANIFEST_FILE) {
      dockerManifest = document(path, size);
    } else {
      auto blob = ingest(path, size);
      files.upsert(kj::mv(path), kj::mv(blob), [](auto& old, auto&& now) { old = kj::mv(now); });
    }
  }

  kj::Array<kj::byte> document(kj::StringPtr path, int64_t size) {
    // The layout's own documents are read into memory: capped, as containerd's are since
    // CVE-2023-25153 (an unbounded read of them exhausted its memory).
    if (size > int64_t(oci::MAX_DOCUMENT_SIZE)) {
      badArchive(kj::str(path, ": ", size, " bytes (at most 4 MiB)"));
    }
    return whole(path, size);
  }

  kj::Array<kj::byte> whole(kj::StringPtr path, int64_t size) {
    // The entry's data, all `size` bytes of it (the caller bounds it).
    auto bytes = kj::heapArray<kj::byte>(size);
    size_t have = 0;
    while (have < bytes.size()) {
      auto n = archive_read_data(a, bytes.begin() + have, bytes.size() - have);
      if (n < 0) failed(kj::str("\"", path, "\""));
      if (n == 0) badArchive(kj::str("\"", path, "\": truncated"));
      have += n;
    }
    return bytes;
  }

  BlobStat ingest(kj::StringPtr path, int64_t size) {
    // Every other file goes to the blob store, hashed as it streams; one under blobs/ must be
    // the digest its name says.
    kj::String expected = kj::str();
    KJ_IF_MAYBE(d, digestOfBlobPath(path)) {
      if (!isValidDigest(*d)) badArchive(kj::str("\"", path, "\": not named by a digest"));
      expected = kj::mv(*d);
    }
    auto ingest =
        store.openIngest(kj::str("import-", owner, "-", nonce, "-", entries), expected, size);
    try {
      if (size <= int64_t(SMALL_FILE)) {
        // A config, a manifest, Docker's VERSION files: one write, no hashing thread.
        ingest->append(whole(path, size));
      } else {
        IngestAppender appender(*ingest);
        for (;;) {
          auto buf = appender.buffer();
          auto n = archive_read_data(a, buf.begin(), buf.size());
          if (n < 0) failed(kj::str("\"", path, "\""));
          if (n == 0) break;
          appender.advance(n);
        }
        appender.finish();
      }
      if (ingest->offset() != size) badArchive(kj::str("\"", path, "\": truncated"));
      auto committed = ingest->commit(size, expected);
      blobs.upsert(kj::str(committed.digest), committed.size, [](auto&, auto&&) {});
      return BlobStat{kj::mv(committed.digest), committed.size, 0};
    } catch (kj::Exception& e) {
      ingest->abort();
      if (e.getDescription().startsWith("import")) throw;
      kj::throwFatalException(withContext(kj::str("import: \"", path, "\""), e));
    }
  }

  const BlobStat& file(kj::StringPtr path, kj::StringPtr what) {
    auto key = cleanPath(path);
    for (size_t hops = 0; hops < 16; hops++) {
      KJ_IF_MAYBE(f, files.find(key)) {
        return *f;
      }
      KJ_IF_MAYBE(target, links.find(key)) {
        key = kj::str(*target);
        continue;
      }
      break;
    }
    badArchive(kj::str(what, " \"", path, "\" not found in the archive"));
  }

  ImportedArchive interpret() {
    ImportedArchive out;
    KJ_IF_MAYBE(l, layout) {
      auto version = oci::parseLayoutVersion(*l);
      if (version != oci::LAYOUT_VERSION) {
        badArchive(kj::str("unsupported OCI image layout version ", version));
      }
      KJ_IF_MAYBE(i, index) {
        for (auto& e : oci::parseLayoutIndex(*i)) {
          out.images.add(ArchiveImage{kj::mv(e.imageName), kj::mv(e.refName), kj::mv(e.descriptor),
                                      kj::str()});
        }
      } else {
        badArchive(kj::str("missing index.json in OCI image layout ", version));
      }
    } else KJ_IF_MAYBE(m, dockerManifest) {
      for (auto& image : oci::parseArchiveManifest(*m)) dockerImage(image, out);
    } else {
      badArchive("unrecognized image format: neither oci-layout nor manifest.json");
    }
    for (auto& b : blobs) out.blobs.add(BlobStat{kj::str(b.key), b.value, 0});
    return out;
  }

  void dockerImage(oci::ArchiveManifest& image, ImportedArchive& out) {
    // A `docker save` image: its config and layers by path. The manifest Docker never wrote is
    // written here, its layers as they are.
    auto& c = file(image.config, "image config");
    auto config = oci::parseConfig(readDocument(store, c.digest, "an image config"));
    oci::Descriptor configDescriptor{kj::str(oci::mediatypes::DOCKER_CONFIG), kj::str(c.digest),
                                     c.size, nullptr};
    kj::Vector<oci::Descriptor> layers;
    for (auto& path : image.layers) {
      auto& l = file(path, "layer");
      layers.add(oci::Descriptor{kj::str(layerMediaType(store, l.digest)), kj::str(l.digest),
                                 l.size, nullptr});
    }
    auto json =
        oci::manifestJson(oci::mediatypes::DOCKER_MANIFEST, configDescriptor, layers.asPtr());
    auto manifest = storeDocument(json.asBytes());
    oci::Descriptor target{kj::str(oci::mediatypes::DOCKER_MANIFEST), kj::mv(manifest.digest),
                           manifest.size, kj::mv(config.platform)};
    if (image.repoTags.empty()) {
      out.images.add(ArchiveImage{kj::str(), kj::str(), copyOf(target), kj::str()});
    }
    for (auto& tag : image.repoTags) {
      auto name = oci::parseReference(tag).toString();
      out.images.add(ArchiveImage{kj::mv(name), kj::str(), copyOf(target), kj::str()});
    }
  }

  BlobStat storeDocument(kj::ArrayPtr<const kj::byte> bytes) {
    auto ingest = store.openIngest(
        kj::str("import-", owner, "-", nonce, "-manifest-", blobs.size()), "", bytes.size());
    ingest->append(bytes);
    auto committed = ingest->commit(bytes.size(), "");
    blobs.upsert(kj::str(committed.digest), committed.size, [](auto&, auto&&) {});
    return BlobStat{kj::mv(committed.digest), committed.size, 0};
  }
};

// The export side: a ustar writer. Every name is short (blobs/sha256/<64 hex> is 77 bytes),
// so no extension is needed; sizes past the octal field's 8 GiB use its base-256 form.

void putOctal(char* field, size_t width, uint64_t value) {
  // width - 1 digits and a NUL.
  for (size_t i = width - 1; i-- > 0;) {
    field[i] = '0' + (value & 7);
    value >>= 3;
  }
  field[width - 1] = '\0';
}

class TarWriter {
public:
  TarWriter(int fd, const std::atomic<bool>& cancelled) : fd(fd), cancelled(cancelled) {}

  void directory(kj::StringPtr name) { header(name, 0755, 0, '5'); }

  void file(kj::StringPtr name, kj::ArrayPtr<const kj::byte> bytes) {
    header(name, 0444, bytes.size(), '0');
    write(bytes);
    pad(bytes.size());
  }

  void blob(kj::StringPtr name, int source, int64_t size) {
    header(name, 0444, size, '0');
    int64_t sent = 0;
    off_t offset = 0;
    while (sent < size) {
      if (cancelled.load(std::memory_order_relaxed)) {
        throwError(ErrorKind::UNAVAILABLE, "export cancelled");
      }
      ssize_t n = sendfile(fd, source, &offset, std::min<int64_t>(size - sent, 1 << 22));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) KJ_FAIL_SYSCALL("write the archive", errno, name);
      if (n == 0) KJ_FAIL_REQUIRE("blob shorter than its record", name);
      sent += n;
    }
    written += size;
    pad(size);
  }

  void finish() {
    kj::byte zeros[2 * TAR_BLOCK] = {};
    write(zeros);
  }

  int64_t total() const { return written; }

private:
  int fd;
  const std::atomic<bool>& cancelled;
  int64_t written = 0;

  void header(kj::StringPtr name, unsigned mode, uint64_t size, char type) {
    KJ_REQUIRE(name.size() < 100, "archive name too long", name);
    char h[TAR_BLOCK] = {};
    memcpy(h, name.begin(), name.size());
    putOctal(h + 100, 8, mode);
    putOctal(h + 108, 8, 0);
    putOctal(h + 116, 8, 0);
    if (size < (uint64_t(1) << 33)) {
      putOctal(h + 124, 12, size);
    } else {
      h[124] = char(0x80);
      for (size_t i = 0; i < 8; i++) h[135 - i] = char((size >> (8 * i)) & 0xff);
    }
    putOctal(h + 136, 12, 0);  // mtime
    h[156] = type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (char c : h) sum += static_cast<unsigned char>(c);
    putOctal(h + 148, 7, sum);
    h[155] = ' ';
    write(kj::arrayPtr(reinterpret_cast<const kj::byte*>(h), sizeof(h)));
  }

  void pad(uint64_t size) {
    kj::byte zeros[TAR_BLOCK] = {};
    size_t rest = (TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK;
    write(kj::arrayPtr(zeros, rest));
  }

  void write(kj::ArrayPtr<const kj::byte> bytes) {
    while (bytes.size() > 0) {
      ssize_t n = ::write(fd, bytes.begin(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) KJ_FAIL_SYSCALL("write the archive", errno);
      bytes = bytes.slice(n, bytes.size());
      written += n;
    }
  }
};

kj::String blobPath(kj::StringPtr digest) {
  KJ_IF_MAYBE(colon, digest.findFirst(':')) {
    return kj::str("blobs/", digest.slice(0, *colon), "/", digest.slice(*colon + 1));
  }
  KJ_FAIL_REQUIRE("not a digest", digest);
}

}  // namespace

ImportedArchive importArchive(BlobStore& store, int fd, kj::StringPtr owner,
                              const std::atomic<bool>& cancelled) {
  ArchiveReader reader(store, fd, owner, cancelled);
  return reader.read();
}

int64_t exportArchive(BlobStore& store, int fd, kj::ArrayPtr<const ArchiveImage> images,
                      kj::ArrayPtr<const oci::Descriptor> blobs,
                      const std::atomic<bool>& cancelled) {
  // Names in order, as containerd writes them: blobs/, blobs/<alg>/, the blobs by digest,
  // index.json, manifest.json, oci-layout.
  kj::Vector<const oci::Descriptor*> sorted;
  kj::HashSet<kj::StringPtr> seen;
  for (auto& b : blobs) {
    validateDigest(b.digest);
    if (seen.contains(b.digest)) continue;
    seen.insert(b.digest);
    sorted.add(&b);
  }
  std::sort(sorted.begin(), sorted.end(), [](auto* x, auto* y) { return x->digest < y->digest; });

  kj::Vector<oci::LayoutEntry> entries;
  kj::Vector<oci::ArchiveManifest> docker;
  kj::HashMap<kj::StringPtr, size_t> dockerAt;  // manifest digest -> its entry in `docker`
  for (auto& image : images) {
    entries.add(oci::LayoutEntry{copyOf(image.target), kj::str(image.name),
                                 oci::ociReferenceName(image.name)});
    if (image.dockerManifest.size() == 0) continue;
    size_t at;
    KJ_IF_MAYBE(found, dockerAt.find(image.dockerManifest)) {
      at = *found;
    } else {
      auto manifest = oci::parseManifest(readDocument(store, image.dockerManifest, "a manifest"));
      kj::Vector<kj::String> layers;
      for (auto& l : manifest.layers) layers.add(blobPath(l.digest));
      at = docker.size();
      docker.add(oci::ArchiveManifest{blobPath(manifest.config.digest), {}, kj::mv(layers)});
      dockerAt.insert(image.dockerManifest, at);
    }
    if (image.name.size() > 0) {
      KJ_IF_MAYBE(e, kj::runCatchingExceptions(
                         [&]() { docker[at].repoTags.add(oci::familiarName(image.name)); })) {
        // A name that is no reference is in index.json only, as in containerd.
      }
    }
  }

  TarWriter tar(fd, cancelled);
  if (!sorted.empty()) tar.directory("blobs/");
  auto algorithm = kj::str();
  for (auto* b : sorted) {
    auto path = blobPath(b->digest);
    auto alg = kj::str(b->digest.slice(0, KJ_ASSERT_NONNULL(b->digest.findFirst(':'))));
    if (alg != algorithm) {
      tar.directory(kj::str("blobs/", alg, "/"));
      algorithm = kj::mv(alg);
    }
    // The size on disk, not the caller's word: a header that lied would corrupt the tar.
    auto blob = store.openBlob(b->digest);
    struct stat st;
    KJ_SYSCALL(fstat(blob, &st), b->digest);
    tar.blob(path, blob, st.st_size);
  }
  tar.file(INDEX_FILE, oci::layoutIndexJson(entries).asBytes());
  if (!docker.empty()) tar.file(DOCKER_MANIFEST_FILE, oci::archiveManifestJson(docker).asBytes());
  tar.file(LAYOUT_FILE, oci::layoutFileJson().asBytes());
  tar.finish();
  return tar.total();
}

}  // namespace ctrd
