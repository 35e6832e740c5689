#include "content.h"

#include <common/clock.h>

#include "store.h"

namespace ctrd {
namespace {

constexpr kj::StringPtr COLUMNS = "digest, size, labels, created, updated"_kj;

ContentRecord contentRecord(Statement& s) {
  return {s.text(0), s.integer(1), decodeLabels(s.text(2)), s.integer(3), s.integer(4)};
}

}  // namespace

void ContentTable::createTables() {
  auto& db = store.database();
  db.exec(
      "CREATE TABLE IF NOT EXISTS content ("
      " namespace TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,"
      " labels TEXT NOT NULL DEFAULT '{}', created INTEGER NOT NULL, updated INTEGER NOT NULL,"
      " PRIMARY KEY (namespace, digest))");
  db.exec("CREATE INDEX IF NOT EXISTS content_by_digest ON content (digest)");
}

kj::Maybe<ContentRecord> ContentTable::get(kj::StringPtr ns, kj::StringPtr digest) {
  Statement s(store.database(),
              kj::str("SELECT ", COLUMNS, " FROM content WHERE namespace = ?1 AND digest = ?2"));
  s.bind(1, ns).bind(2, digest);
  if (s.step()) return contentRecord(s);
  return nullptr;
}

kj::Vector<ContentRecord> ContentTable::list(kj::StringPtr ns) {
  Statement s(store.database(),
              kj::str("SELECT ", COLUMNS, " FROM content WHERE namespace = ?1 ORDER BY digest"));
  s.bind(1, ns);
  kj::Vector<ContentRecord> out;
  while (s.step()) out.add(contentRecord(s));
  return out;
}

int64_t ContentTable::holders(kj::StringPtr digest) {
  Statement s(store.database(), "SELECT COUNT(*) FROM content WHERE digest = ?1");
  s.bind(1, digest);
  s.step();
  return s.integer(0);
}

bool ContentTable::add(kj::StringPtr ns, kj::StringPtr digest, int64_t size, Labels labels) {
  validateLabels(labels);
  return store.write([&]() {
    store.namespaces.ensure(ns);
    int64_t now = nowNanos();
    Statement s(store.database(),
                "INSERT OR IGNORE INTO content (namespace, digest, size, labels, created, updated)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?5)");
    s.bind(1, ns).bind(2, digest).bind(3, size).bind(4, encodeLabels(labels)).bind(5, now);
    s.step();
    if (store.database().changes() == 0) return false;
    store.changed(ns, "/content/create", digest);
    return true;
  });
}

void ContentTable::update(kj::StringPtr ns, const ContentRecord& r) {
  validateLabels(r.labels);
  store.write([&]() {
    Statement s(
        store.database(),
        "UPDATE content SET labels = ?3, updated = ?4 WHERE namespace = ?1 AND digest = ?2");
    s.bind(1, ns).bind(2, r.digest).bind(3, encodeLabels(r.labels)).bind(4, r.updatedAt);
    s.step();
    if (store.database().changes() > 0) store.changed(ns, "/content/update", r.digest);
  });
}

bool ContentTable::mergeLabels(kj::StringPtr ns, kj::StringPtr digest, const Labels& labels) {
  return store.write([&]() {
    KJ_IF_MAYBE(record, get(ns, digest)) {
      bool changed = false;
      for (auto& e : labels) {
        KJ_IF_MAYBE(v, record->labels.find(e.key)) {
          if (*v == e.value) continue;
        }
        setLabel(record->labels, kj::str(e.key), kj::str(e.value));
        changed = true;
      }
      if (!changed) return false;
      record->updatedAt = nowNanos();
      update(ns, *record);
      return true;
    }
    return false;
  });
}

bool ContentTable::remove(kj::StringPtr ns, kj::StringPtr digest) {
  return store.write([&]() {
    Statement s(store.database(), "DELETE FROM content WHERE namespace = ?1 AND digest = ?2");
    s.bind(1, ns).bind(2, digest);
    s.step();
    if (store.database().changes() == 0) return false;
    store.changed(ns, "/content/delete", digest);
    return true;
  });
}

}  // namespace ctrd
