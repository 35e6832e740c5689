// meta.db: what each namespace holds. SQLite in WAL mode, owned by the supervisor alone.
#pragma once

#include <kj/map.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <sqlite3.h>
#include <stdint.h>

namespace ctrd {

using Labels = kj::TreeMap<kj::String, kj::String>;

struct ContentRecord {
  kj::String digest;
  int64_t size;
  Labels labels;
  int64_t createdAt;
  int64_t updatedAt;
};

class MetadataStore {
public:
  explicit MetadataStore(kj::StringPtr path);
  ~MetadataStore() noexcept(false);
  KJ_DISALLOW_COPY(MetadataStore);

  kj::Maybe<ContentRecord> tryGetContent(kj::StringPtr ns, kj::StringPtr digest);
  kj::Vector<ContentRecord> listContent(kj::StringPtr ns);
  void putContent(kj::StringPtr ns, const ContentRecord& record);
  // Inserts or replaces this namespace's record of the blob.
  bool removeContent(kj::StringPtr ns, kj::StringPtr digest);
  // False when the namespace did not hold it.
  int64_t contentHolders(kj::StringPtr digest);
  // How many namespaces hold the blob.

private:
  sqlite3* db = nullptr;
  kj::StringPtr path;
  void exec(kj::StringPtr sql);
  class Statement;
};

void setLabel(Labels& labels, kj::String key, kj::String value);
// Adds or replaces.

void validateLabels(const Labels& labels);
// containerd's limit: a key and its value take at most 4096 bytes together.

}  // namespace ctrd
