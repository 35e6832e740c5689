#include "containers.h"

#include "store.h"

namespace ctrd {
namespace {

constexpr kj::StringPtr COLUMNS =
    "id, image, runtime_name, runtime_binary, spec, snapshotter, snapshot_key, labels, created,"
    " updated"_kj;

ContainerRecord containerRecord(Statement& s) {
  return {s.text(0),    s.text(1),   s.text(2), s.text(3),
          s.text(4),    s.text(5),   s.text(6), decodeLabels(s.text(7)),
          s.integer(8), s.integer(9)};
}

}  // namespace

void ContainerTable::createTables() {
  store.database().exec(
      "CREATE TABLE IF NOT EXISTS containers ("
      " namespace TEXT NOT NULL, id TEXT NOT NULL, image TEXT NOT NULL,"
      " runtime_name TEXT NOT NULL, runtime_binary TEXT NOT NULL, spec TEXT NOT NULL,"
      " snapshotter TEXT NOT NULL, snapshot_key TEXT NOT NULL,"
      " labels TEXT NOT NULL DEFAULT '{}', created INTEGER NOT NULL, updated INTEGER NOT NULL,"
      " PRIMARY KEY (namespace, id))");
}

kj::Maybe<ContainerRecord> ContainerTable::get(kj::StringPtr ns, kj::StringPtr id) {
  Statement s(store.database(),
              kj::str("SELECT ", COLUMNS, " FROM containers WHERE namespace = ?1 AND id = ?2"));
  s.bind(1, ns).bind(2, id);
  if (s.step()) return containerRecord(s);
  return nullptr;
}

kj::Vector<ContainerRecord> ContainerTable::list(kj::StringPtr ns) {
  Statement s(store.database(),
              kj::str("SELECT ", COLUMNS, " FROM containers WHERE namespace = ?1 ORDER BY id"));
  s.bind(1, ns);
  kj::Vector<ContainerRecord> out;
  while (s.step()) out.add(containerRecord(s));
  return out;
}

bool ContainerTable::insert(kj::StringPtr ns, const ContainerRecord& r) {
  validateLabels(r.labels);
  return store.write([&]() {
    store.namespaces.ensure(ns);
    Statement s(store.database(),
                "INSERT OR IGNORE INTO containers (namespace, id, image, runtime_name,"
                " runtime_binary, spec, snapshotter, snapshot_key, labels, created, updated)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    s.bind(1, ns).bind(2, r.id).bind(3, r.image).bind(4, r.runtimeName).bind(5, r.runtimeBinary);
    s.bind(6, r.spec).bind(7, r.snapshotter).bind(8, r.snapshotKey);
    s.bind(9, encodeLabels(r.labels)).bind(10, r.createdAt).bind(11, r.updatedAt);
    s.step();
    if (store.database().changes() == 0) return false;
    store.changed(ns, "/containers/create", r.id);
    return true;
  });
}

void ContainerTable::update(kj::StringPtr ns, const ContainerRecord& r) {
  validateLabels(r.labels);
  store.write([&]() {
    Statement s(store.database(),
                "UPDATE containers SET image = ?3, spec = ?4, snapshot_key = ?5, labels = ?6,"
                " updated = ?7 WHERE namespace = ?1 AND id = ?2");
    s.bind(1, ns).bind(2, r.id).bind(3, r.image).bind(4, r.spec).bind(5, r.snapshotKey);
    s.bind(6, encodeLabels(r.labels)).bind(7, r.updatedAt);
    s.step();
    if (store.database().changes() > 0) store.changed(ns, "/containers/update", r.id);
  });
}

bool ContainerTable::remove(kj::StringPtr ns, kj::StringPtr id) {
  return store.write([&]() {
    Statement s(store.database(), "DELETE FROM containers WHERE namespace = ?1 AND id = ?2");
    s.bind(1, ns).bind(2, id);
    s.step();
    if (store.database().changes() == 0) return false;
    store.changed(ns, "/containers/delete", id);
    return true;
  });
}

}  // namespace ctrd
