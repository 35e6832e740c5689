#include "namespaces.h"

#include <common/clock.h>

#include "store.h"

namespace ctrd {
namespace {

NamespaceRecord namespaceRecord(Statement& s) {
  return {s.text(0), decodeLabels(s.text(1)), s.integer(2), s.integer(3)};
}

}  // namespace

void NamespaceTable::createTables() {
  auto& db = store.database();
  bool existed;
  {
    Statement s(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'namespaces'");
    existed = s.step();
  }
  db.exec(
      "CREATE TABLE IF NOT EXISTS namespaces ("
      " name TEXT PRIMARY KEY, labels TEXT NOT NULL DEFAULT '{}',"
      " created INTEGER NOT NULL, updated INTEGER NOT NULL)");
  // Namespaces that held something before this table existed: once, not at every start.
  if (existed) return;
  db.exec(
      "INSERT OR IGNORE INTO namespaces (name, created, updated)"
      " SELECT DISTINCT namespace, 0, 0 FROM (SELECT namespace FROM content"
      " UNION SELECT namespace FROM images)");
}

void NamespaceTable::ensure(kj::StringPtr ns) {
  int64_t now = nowNanos();
  Statement s(store.database(),
              "INSERT OR IGNORE INTO namespaces (name, created, updated) VALUES (?1, ?2, ?2)");
  s.bind(1, ns).bind(2, now);
  s.step();
  if (store.database().changes() > 0) store.changed(ns, "/namespaces/create", ns);
}

kj::Maybe<NamespaceRecord> NamespaceTable::get(kj::StringPtr ns) {
  Statement s(store.database(),
              "SELECT name, labels, created, updated FROM namespaces WHERE name = ?1");
  s.bind(1, ns);
  if (s.step()) return namespaceRecord(s);
  return nullptr;
}

kj::Vector<NamespaceRecord> NamespaceTable::list() {
  Statement s(store.database(),
              "SELECT name, labels, created, updated FROM namespaces ORDER BY name");
  kj::Vector<NamespaceRecord> out;
  while (s.step()) out.add(namespaceRecord(s));
  return out;
}

bool NamespaceTable::create(const NamespaceRecord& r) {
  Statement s(store.database(),
              "INSERT OR IGNORE INTO namespaces (name, labels, created, updated)"
              " VALUES (?1, ?2, ?3, ?4)");
  s.bind(1, r.name).bind(2, encodeLabels(r.labels)).bind(3, r.createdAt).bind(4, r.updatedAt);
  s.step();
  if (store.database().changes() == 0) return false;
  store.changed(r.name, "/namespaces/create", r.name);
  return true;
}

bool NamespaceTable::setLabels(kj::StringPtr ns, const Labels& labels, int64_t updatedAt) {
  Statement s(store.database(), "UPDATE namespaces SET labels = ?2, updated = ?3 WHERE name = ?1");
  s.bind(1, ns).bind(2, encodeLabels(labels)).bind(3, updatedAt);
  s.step();
  if (store.database().changes() == 0) return false;
  store.changed(ns, "/namespaces/update", ns);
  return true;
}

kj::Vector<kj::StringPtr> NamespaceTable::holdings(kj::StringPtr ns) {
  kj::Vector<kj::StringPtr> out;
  struct Kind {
    kj::StringPtr name;
    const char* query;
  };
  static const Kind kinds[] = {
      {"images", "SELECT 1 FROM images WHERE namespace = ?1 LIMIT 1"},
      {"blobs", "SELECT 1 FROM content WHERE namespace = ?1 LIMIT 1"},
      {"containers", "SELECT 1 FROM containers WHERE namespace = ?1 LIMIT 1"},
      {"leases", "SELECT 1 FROM leases WHERE namespace = ?1 LIMIT 1"},
  };
  for (auto& k : kinds) {
    Statement s(store.database(), k.query);
    s.bind(1, ns);
    if (s.step()) out.add(k.name);
  }
  return out;
}

bool NamespaceTable::remove(kj::StringPtr ns) {
  Statement s(store.database(), "DELETE FROM namespaces WHERE name = ?1");
  s.bind(1, ns);
  s.step();
  if (store.database().changes() == 0) return false;
  store.changed(ns, "/namespaces/delete", ns);
  return true;
}

}  // namespace ctrd
