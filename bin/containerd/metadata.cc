#include "metadata.h"

namespace ctrd {
namespace {

constexpr kj::StringPtr CONTENT_COLUMNS = "digest, size, labels, created, updated"_kj;

ContentRecord contentRecord(Statement& s) {
  return {s.text(0), s.integer(1), decodeLabels(s.text(2)), s.integer(3), s.integer(4)};
}

constexpr kj::StringPtr IMAGE_COLUMNS =
    "name, media_type, digest, size, labels, created, updated"_kj;

ImageRecord imageRecord(Statement& s) {
  return {s.text(0),    s.text(1),   s.text(2), s.integer(3), decodeLabels(s.text(4)),
          s.integer(5), s.integer(6)};
}

}  // namespace

MetadataStore::MetadataStore(kj::StringPtr path) : db(path) {
  db.exec(
      "CREATE TABLE IF NOT EXISTS content ("
      " namespace TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,"
      " labels TEXT NOT NULL DEFAULT '{}', created INTEGER NOT NULL, updated INTEGER NOT NULL,"
      " PRIMARY KEY (namespace, digest))");
  db.exec("CREATE INDEX IF NOT EXISTS content_by_digest ON content (digest)");
  db.exec(
      "CREATE TABLE IF NOT EXISTS images ("
      " namespace TEXT NOT NULL, name TEXT NOT NULL, media_type TEXT NOT NULL,"
      " digest TEXT NOT NULL, size INTEGER NOT NULL, labels TEXT NOT NULL DEFAULT '{}',"
      " created INTEGER NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY (namespace, name))");
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

kj::Maybe<ImageRecord> MetadataStore::tryGetImage(kj::StringPtr ns, kj::StringPtr name) {
  Statement s(db,
              kj::str("SELECT ", IMAGE_COLUMNS, " FROM images WHERE namespace = ?1 AND name = ?2"));
  s.bind(1, ns).bind(2, name);
  if (s.step()) return imageRecord(s);
  return nullptr;
}

kj::Vector<ImageRecord> MetadataStore::listImages(kj::StringPtr ns) {
  Statement s(db,
              kj::str("SELECT ", IMAGE_COLUMNS, " FROM images WHERE namespace = ?1 ORDER BY name"));
  s.bind(1, ns);
  kj::Vector<ImageRecord> out;
  while (s.step()) out.add(imageRecord(s));
  return out;
}

namespace {
void bindImage(Statement& s, kj::StringPtr ns, const ImageRecord& r) {
  validateLabels(r.labels);
  s.bind(1, ns).bind(2, r.name).bind(3, r.mediaType).bind(4, r.digest).bind(5, r.size);
  s.bind(6, encodeLabels(r.labels)).bind(7, r.createdAt).bind(8, r.updatedAt);
}
}  // namespace

bool MetadataStore::insertImage(kj::StringPtr ns, const ImageRecord& r) {
  Statement s(db,
              "INSERT OR IGNORE INTO images (namespace, name, media_type, digest, size, labels,"
              " created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  bindImage(s, ns, r);
  s.step();
  return db.changes() > 0;
}

void MetadataStore::putImage(kj::StringPtr ns, const ImageRecord& r) {
  Statement s(db,
              "INSERT OR REPLACE INTO images (namespace, name, media_type, digest, size, labels,"
              " created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  bindImage(s, ns, r);
  s.step();
}

bool MetadataStore::removeImage(kj::StringPtr ns, kj::StringPtr name) {
  Statement s(db, "DELETE FROM images WHERE namespace = ?1 AND name = ?2");
  s.bind(1, ns).bind(2, name);
  s.step();
  return db.changes() > 0;
}

}  // namespace ctrd
