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

private:
  MetadataStore& store;
};

}  // namespace ctrd
