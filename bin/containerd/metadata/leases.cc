#include "leases.h"

#include <common/clock.h>
#include <common/digest.h>
#include <common/errors.h>
#include <oci/image.h>
#include <string.h>

#include "store.h"

namespace ctrd {

void LeaseTable::createTables() {
  auto& db = store.database();
  db.exec(
      "CREATE TABLE IF NOT EXISTS leases ("
      " namespace TEXT NOT NULL, id TEXT NOT NULL, labels TEXT NOT NULL DEFAULT '{}',"
      " created INTEGER NOT NULL, PRIMARY KEY (namespace, id))");
  db.exec(
      "CREATE TABLE IF NOT EXISTS lease_resources ("
      " namespace TEXT NOT NULL, lease TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL,"
      " PRIMARY KEY (namespace, lease, type, id))");
}

kj::Maybe<LeaseRecord> LeaseTable::get(kj::StringPtr ns, kj::StringPtr id) {
  Statement s(store.database(),
              "SELECT id, labels, created FROM leases WHERE namespace = ?1 AND id = ?2");
  s.bind(1, ns).bind(2, id);
  if (s.step()) return LeaseRecord{s.text(0), decodeLabels(s.text(1)), s.integer(2)};
  return nullptr;
}

kj::Vector<LeaseRecord> LeaseTable::list(kj::StringPtr ns) {
  Statement s(store.database(),
              "SELECT id, labels, created FROM leases WHERE namespace = ?1 ORDER BY id");
  s.bind(1, ns);
  kj::Vector<LeaseRecord> out;
  while (s.step()) out.add(LeaseRecord{s.text(0), decodeLabels(s.text(1)), s.integer(2)});
  return out;
}

kj::Vector<LeaseResource> LeaseTable::resources(kj::StringPtr ns, kj::StringPtr id) {
  Statement s(store.database(),
              "SELECT type, id FROM lease_resources WHERE namespace = ?1 AND lease = ?2"
              " ORDER BY type, id");
  s.bind(1, ns).bind(2, id);
  kj::Vector<LeaseResource> out;
  while (s.step()) out.add(LeaseResource{s.text(0), s.text(1)});
  return out;
}

bool LeaseTable::create(kj::StringPtr ns, const LeaseRecord& r) {
  validateLabels(r.labels);
  expiry(r);
  return store.write([&]() {
    store.namespaces.ensure(ns);
    Statement s(store.database(),
                "INSERT OR IGNORE INTO leases (namespace, id, labels, created)"
                " VALUES (?1, ?2, ?3, ?4)");
    s.bind(1, ns).bind(2, r.id).bind(3, encodeLabels(r.labels)).bind(4, r.createdAt);
    s.step();
    return store.database().changes() > 0;
  });
}

bool LeaseTable::remove(kj::StringPtr ns, kj::StringPtr id) {
  return store.write([&]() {
    Statement s(store.database(), "DELETE FROM leases WHERE namespace = ?1 AND id = ?2");
    s.bind(1, ns).bind(2, id);
    s.step();
    if (store.database().changes() == 0) return false;
    Statement r(store.database(),
                "DELETE FROM lease_resources WHERE namespace = ?1 AND lease = ?2");
    r.bind(1, ns).bind(2, id);
    r.step();
    return true;
  });
}

void LeaseTable::addResource(kj::StringPtr ns, kj::StringPtr id, const LeaseResource& resource) {
  validateResource(resource);
  store.write([&]() {
    if (get(ns, id) == nullptr) throwError(ErrorKind::NOT_FOUND, kj::str("lease \"", id, "\""));
    Statement s(store.database(),
                "INSERT OR IGNORE INTO lease_resources (namespace, lease, type, id)"
                " VALUES (?1, ?2, ?3, ?4)");
    s.bind(1, ns).bind(2, id).bind(3, resource.type).bind(4, resource.id);
    s.step();
  });
}

void LeaseTable::hold(kj::StringPtr ns, const kj::Maybe<kj::String>& lease,
                      const LeaseResource& resource) {
  KJ_IF_MAYBE(id, lease) {
    addResource(ns, *id, resource);
  }
}

bool LeaseTable::removeResource(kj::StringPtr ns, kj::StringPtr id, const LeaseResource& resource) {
  return store.write([&]() {
    Statement s(store.database(),
                "DELETE FROM lease_resources WHERE namespace = ?1 AND lease = ?2 AND type = ?3"
                " AND id = ?4");
    s.bind(1, ns).bind(2, id).bind(3, resource.type).bind(4, resource.id);
    s.step();
    return store.database().changes() > 0;
  });
}

void LeaseTable::validateResource(const LeaseResource& r) {
  if (r.type == "content") {
    validateDigest(r.id);
  } else if (r.type == "ingests" || r.type.startsWith("snapshots/")) {
    if (r.type == "snapshots/" || r.id.size() == 0 || r.id.size() > 4096 ||
        strlen(r.id.cStr()) != r.id.size()) {
      throwError(ErrorKind::INVALID_ARGUMENT, kj::str("resource ", r.type, " \"", r.id, "\""));
    }
  } else {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str("unsupported resource type \"", r.type,
                       "\": content, ingests or snapshots/<snapshotter>"));
  }
}

kj::Maybe<int64_t> LeaseTable::expiry(const LeaseRecord& r) {
  KJ_IF_MAYBE(text, r.labels.find(oci::labels::GC_EXPIRE)) {
    KJ_IF_MAYBE(at, parseRfc3339(*text)) {
      return *at;
    }
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str("lease \"", r.id, "\": ", oci::labels::GC_EXPIRE, " \"", *text,
                       "\" is not an RFC 3339 time"));
  }
  return nullptr;
}

}  // namespace ctrd

namespace ctrd {

bool LeaseTable::expired(const Labels& labels, int64_t now) {
  KJ_IF_MAYBE(text, labels.find(oci::labels::GC_EXPIRE)) {
    KJ_IF_MAYBE(at, parseRfc3339(*text)) {
      return *at < now;
    }
    return true;
  }
  return false;
}

}  // namespace ctrd
