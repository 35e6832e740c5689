#include "metadata.h"

namespace ctrd {
namespace {

constexpr kj::StringPtr CONTENT_COLUMNS = "digest, size, labels, created, updated"_kj;

ContentRecord contentRecord(Statement& s) {
  return {s.text(0), s.integer(1), decodeLabels(s.text(2)), s.integer(3), s.integer(4)};
}

}  // namespace

MetadataStore::MetadataStore(kj::StringPtr path) : db(path) {
  db.exec(
      "CREATE TABLE IF NOT EXISTS content ("
      " namespace TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,"
      " labels TEXT NOT NULL DEFAULT '{}', created INTEGER NOT NULL, updated INTEGER NOT NULL,"
      " PRIMARY KEY (namespace, digest))");
  db.exec("CREATE INDEX IF NOT EXISTS content_by_digest ON content (digest)");
}

kj::Maybe<ContentRecord> MetadataStore::tryGetContent(kj::StringPtr ns, kj::StringPtr digest) {
  Statement s(db, kj::str("SELECT ", CONTENT_COLUMNS,
                          " FROM content WHERE namespace = ?1 AND digest = ?2"));
  s.bind(1, ns).bind(2, digest);
  if (s.step()) return contentRecord(s);
  return nullptr;
}

kj::Vector<ContentRecord> MetadataStore::listContent(kj::StringPtr ns) {
  Statement s(db, kj::str("SELECT ", CONTENT_COLUMNS,
                          " FROM content WHERE namespace = ?1 ORDER BY digest"));
  s.bind(1, ns);
  kj::Vector<ContentRecord> out;
  while (s.step()) out.add(contentRecord(s));
  return out;
}

void MetadataStore::putContent(kj::StringPtr ns, const ContentRecord& r) {
  validateLabels(r.labels);
  Statement s(db,
              "INSERT OR REPLACE INTO content (namespace, digest, size, labels, created, updated)"
              " VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  s.bind(1, ns).bind(2, r.digest).bind(3, r.size).bind(4, encodeLabels(r.labels));
  s.bind(5, r.createdAt).bind(6, r.updatedAt);
  s.step();
}

bool MetadataStore::removeContent(kj::StringPtr ns, kj::StringPtr digest) {
  Statement s(db, "DELETE FROM content WHERE namespace = ?1 AND digest = ?2");
  s.bind(1, ns).bind(2, digest);
  s.step();
  return db.changes() > 0;
}

int64_t MetadataStore::contentHolders(kj::StringPtr digest) {
  Statement s(db, "SELECT COUNT(*) FROM content WHERE digest = ?1");
  s.bind(1, digest);
  s.step();
  return s.integer(0);
}

}  // namespace ctrd
