// The containers table: each namespace's container records. Metadata only: a container's
// process is a task, its root filesystem a snapshot named by `snapshotKey`.
#pragma once

#include <common/labels.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

namespace ctrd {

class MetadataStore;

struct ContainerRecord {
  kj::String id;
  kj::String image;
  kj::String runtimeName;    // "io.containerd.runc.v2"
  kj::String runtimeBinary;  // "runc", "crun"
  kj::String spec;           // the OCI runtime spec, JSON
  kj::String snapshotter;
  kj::String snapshotKey;
  Labels labels;
  int64_t createdAt;
  int64_t updatedAt;
};

class ContainerTable {
public:
  explicit ContainerTable(MetadataStore& store) : store(store) {}
  void createTables();

  kj::Maybe<ContainerRecord> get(kj::StringPtr ns, kj::StringPtr id);
  kj::Vector<ContainerRecord> list(kj::StringPtr ns);
  bool insert(kj::StringPtr ns, const ContainerRecord& record);
  // False (and nothing written) when the id is taken.
  void update(kj::StringPtr ns, const ContainerRecord& record);
  bool remove(kj::StringPtr ns, kj::StringPtr id);

private:
  MetadataStore& store;
};

}  // namespace ctrd
