// The lease tables: each namespace's leases, their labels, and the resources (blobs, ingests,
// snapshots) each one keeps from garbage collection while it lives. A lease with a
// `containerd.io/gc.expire` label in the past protects nothing and is collected.
#pragma once

#include <common/labels.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

namespace ctrd {

class MetadataStore;

struct LeaseRecord {
  kj::String id;
  Labels labels;
  int64_t createdAt;
};

struct LeaseResource {
  kj::String type;  // "content", "ingests", "snapshots/<snapshotter>"
  kj::String id;    // a digest, an ingest ref, a snapshot key
};

class LeaseTable {
public:
  explicit LeaseTable(MetadataStore& store) : store(store) {}
  void createTables();

  kj::Maybe<LeaseRecord> get(kj::StringPtr ns, kj::StringPtr id);
  kj::Vector<LeaseRecord> list(kj::StringPtr ns);
  kj::Vector<LeaseResource> resources(kj::StringPtr ns, kj::StringPtr id);

  bool create(kj::StringPtr ns, const LeaseRecord& record);
  // False (and nothing written) when the id is taken.
  bool remove(kj::StringPtr ns, kj::StringPtr id);
  // With its resources; false when there is no such lease.
  void addResource(kj::StringPtr ns, kj::StringPtr id, const LeaseResource& resource);
  // `not found` when there is no such lease; adding one twice is fine.
  void hold(kj::StringPtr ns, const kj::Maybe<kj::String>& lease, const LeaseResource& resource);
  // addResource when there is a lease; nothing without one.
  bool removeResource(kj::StringPtr ns, kj::StringPtr id, const LeaseResource& resource);

  static void validateResource(const LeaseResource& resource);
  // `invalid argument` unless the type is one of the three and the id fits it.
  static kj::Maybe<int64_t> expiry(const LeaseRecord& record);
  // When `containerd.io/gc.expire` says it ends; `invalid argument` when it is not RFC 3339.
  static bool expired(const Labels& labels, int64_t now);
  // A label that is not a time (one written before it was checked) counts as expired.

private:
  MetadataStore& store;
};

}  // namespace ctrd
