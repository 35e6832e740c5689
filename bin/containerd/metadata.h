// meta.db: what each namespace holds. Owned by the supervisor alone.
#pragma once

#include <common/labels.h>
#include <common/sqlite.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

namespace ctrd {

struct ContentRecord {
  kj::String digest;
  int64_t size;
  Labels labels;
  int64_t createdAt;
  int64_t updatedAt;
};

struct ImageRecord {
  kj::String name;
  kj::String mediaType;  // of the target
  kj::String digest;
  int64_t size;
  Labels labels;
  int64_t createdAt;
  int64_t updatedAt;
};

class MetadataStore {
public:
  explicit MetadataStore(kj::StringPtr path);

  kj::Maybe<ContentRecord> tryGetContent(kj::StringPtr ns, kj::StringPtr digest);
  kj::Vector<ContentRecord> listContent(kj::StringPtr ns);
  void putContent(kj::StringPtr ns, const ContentRecord& record);
  // Inserts or replaces this namespace's record of the blob.
  bool removeContent(kj::StringPtr ns, kj::StringPtr digest);
  // False when the namespace did not hold it.
  int64_t contentHolders(kj::StringPtr digest);
  // How many namespaces hold the blob.

  kj::Maybe<ImageRecord> tryGetImage(kj::StringPtr ns, kj::StringPtr name);
  kj::Vector<ImageRecord> listImages(kj::StringPtr ns);
  bool insertImage(kj::StringPtr ns, const ImageRecord& record);
  // False when the name is taken.
  void putImage(kj::StringPtr ns, const ImageRecord& record);
  // Inserts or replaces.
  bool removeImage(kj::StringPtr ns, kj::StringPtr name);

private:
  Database db;
};

}  // namespace ctrd
