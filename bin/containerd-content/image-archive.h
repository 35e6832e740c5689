// Image archives in and out of the blob store: an OCI image layout tar written from blobs'
// fds (export), and an OCI layout or `docker save` tar read into ingests, each file hashed as
// it streams (import). Blocking: the server runs both on a worker thread.
#pragma once

#include <kj/function.h>
#include <oci/manifest.h>

#include <atomic>

#include "blob-store.h"

namespace ctrd {

constexpr size_t MAX_ARCHIVE_ENTRIES = 1 << 16;
// Files, directories and links one import reads: each file is an ingest and a record.

struct ArchiveImage {
  kj::String name;     // io.containerd.image.name (export: the image's name)
  kj::String refName;  // import: the OCI ref name when `name` is empty
  oci::Descriptor target;
  kj::String dockerManifest;  // export: the manifest manifest.json lists, or empty
};

struct ImportedArchive {
  kj::Vector<ArchiveImage> images;
  kj::Vector<BlobStat> blobs;  // every blob stored (createdAt unset)
};

ImportedArchive importArchive(BlobStore& store, int fd, kj::StringPtr owner,
                              const std::atomic<bool>& cancelled);
// Throws `invalid argument` naming the entry or document at fault; every blob committed before
// a failure stays committed (the caller's lease holds what it recorded).

int64_t exportArchive(BlobStore& store, int fd, kj::ArrayPtr<const ArchiveImage> images,
                      kj::ArrayPtr<const oci::Descriptor> blobs,
                      const std::atomic<bool>& cancelled);
// Returns the bytes written.

}  // namespace ctrd
