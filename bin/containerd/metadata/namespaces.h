// The namespaces table: a namespace comes into being on its first write, as in containerd.
#pragma once

#include <common/labels.h>
#include <kj/string.h>
#include <kj/vector.h>

namespace ctrd {

class MetadataStore;

struct NamespaceRecord {
  kj::String name;
  Labels labels;
  int64_t createdAt;
  int64_t updatedAt;
};

class NamespaceTable {
public:
  explicit NamespaceTable(MetadataStore& store) : store(store) {}
  void createTables();

  void ensure(kj::StringPtr ns);
  // Inside a write: records the namespace if it is new.
  kj::Maybe<NamespaceRecord> get(kj::StringPtr ns);
  kj::Vector<NamespaceRecord> list();

  bool create(const NamespaceRecord& r);
  // False if it exists.
  bool setLabels(kj::StringPtr ns, const Labels& labels, int64_t updatedAt);
  // False if it does not exist.
  kj::Vector<kj::StringPtr> holdings(kj::StringPtr ns);
  // What the namespace still holds of what meta.db records, by containerd's names: "images",
  // "blobs", "containers", "leases" (snapshots are containerd-snapshot's to tell).
  bool remove(kj::StringPtr ns);
  // False if it does not exist.

private:
  MetadataStore& store;
};

}  // namespace ctrd
