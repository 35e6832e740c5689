// The content table: which blobs each namespace holds, with its labels for them. The bytes
// are containerd-content's; a blob is gone from disk only when no namespace holds it.
#pragma once

#include <common/labels.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

namespace ctrd {

class MetadataStore;

struct ContentRecord {
  kj::String digest;
  int64_t size;
  Labels labels;
  int64_t createdAt;
  int64_t updatedAt;
};

class ContentTable {
public:
  explicit ContentTable(MetadataStore& store) : store(store) {}
  void createTables();

  kj::Maybe<ContentRecord> get(kj::StringPtr ns, kj::StringPtr digest);
  kj::Vector<ContentRecord> list(kj::StringPtr ns);
  int64_t holders(kj::StringPtr digest);
  // How many namespaces hold the blob.

  bool add(kj::StringPtr ns, kj::StringPtr digest, int64_t size, Labels labels = {});
  // Records a committed blob for the namespace; false (and nothing written) when it holds it.
  void update(kj::StringPtr ns, const ContentRecord& record);
  // Replaces the labels of a blob the namespace holds.
  bool mergeLabels(kj::StringPtr ns, kj::StringPtr digest, const Labels& labels);
  // Sets each of `labels` on the blob, keeping the others; false when nothing changed or the
  // namespace does not hold it.
  bool remove(kj::StringPtr ns, kj::StringPtr digest);
  // False when the namespace did not hold it.

private:
  MetadataStore& store;
};

}  // namespace ctrd
