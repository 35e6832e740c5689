#include "images.h"

#include <common/clock.h>

#include "store.h"

namespace ctrd {
namespace {

constexpr kj::StringPtr COLUMNS = "name, media_type, digest, size, labels, created, updated"_kj;

ImageRecord imageRecord(Statement& s) {
  return {s.text(0),    s.text(1),   s.text(2), s.integer(3), decodeLabels(s.text(4)),
          s.integer(5), s.integer(6)};
}

}  // namespace

void ImageTable::createTables() {
  store.database().exec(
      "CREATE TABLE IF NOT EXISTS images ("
      " namespace TEXT NOT NULL, name TEXT NOT NULL, media_type TEXT NOT NULL,"
      " digest TEXT NOT NULL, size INTEGER NOT NULL, labels TEXT NOT NULL DEFAULT '{}',"
      " created INTEGER NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY (namespace, name))");
}

kj::Maybe<ImageRecord> ImageTable::get(kj::StringPtr ns, kj::StringPtr name) {
  Statement s(store.database(),
              kj::str("SELECT ", COLUMNS, " FROM images WHERE namespace = ?1 AND name = ?2"));
  s.bind(1, ns).bind(2, name);
  if (s.step()) return imageRecord(s);
  return nullptr;
}

kj::Vector<ImageRecord> ImageTable::list(kj::StringPtr ns) {
  Statement s(store.database(),
              kj::str("SELECT ", COLUMNS, " FROM images WHERE namespace = ?1 ORDER BY name"));
  s.bind(1, ns);
  kj::Vector<ImageRecord> out;
  while (s.step()) out.add(imageRecord(s));
  return out;
}

bool ImageTable::insert(kj::StringPtr ns, const ImageRecord& r) {
  validateLabels(r.labels);
  return store.write([&]() {
    store.namespaces.ensure(ns);
    Statement s(store.database(),
                "INSERT OR IGNORE INTO images (namespace, name, media_type, digest, size, labels,"
                " created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    s.bind(1, ns).bind(2, r.name).bind(3, r.mediaType).bind(4, r.digest).bind(5, r.size);
    s.bind(6, encodeLabels(r.labels)).bind(7, r.createdAt).bind(8, r.updatedAt);
    s.step();
    if (store.database().changes() == 0) return false;
    store.changed(ns, "/images/create", r.name);
    return true;
  });
}

void ImageTable::update(kj::StringPtr ns, const ImageRecord& r) {
  validateLabels(r.labels);
  store.write([&]() {
    Statement s(store.database(),
                "UPDATE images SET media_type = ?3, digest = ?4, size = ?5, labels = ?6,"
                " updated = ?7 WHERE namespace = ?1 AND name = ?2");
    s.bind(1, ns).bind(2, r.name).bind(3, r.mediaType).bind(4, r.digest).bind(5, r.size);
    s.bind(6, encodeLabels(r.labels)).bind(7, r.updatedAt);
    s.step();
    if (store.database().changes() > 0) store.changed(ns, "/images/update", r.name);
  });
}

void ImageTable::record(kj::StringPtr ns, kj::StringPtr name, kj::StringPtr mediaType,
                        kj::StringPtr digest, int64_t size) {
  store.write([&]() {
    int64_t now = nowNanos();
    KJ_IF_MAYBE(existing, get(ns, name)) {
      existing->mediaType = kj::str(mediaType);
      existing->digest = kj::str(digest);
      existing->size = size;
      existing->updatedAt = now;
      update(ns, *existing);
    } else {
      insert(ns, {kj::str(name), kj::str(mediaType), kj::str(digest), size, {}, now, now});
    }
  });
}

bool ImageTable::remove(kj::StringPtr ns, kj::StringPtr name) {
  return store.write([&]() {
    Statement s(store.database(), "DELETE FROM images WHERE namespace = ?1 AND name = ?2");
    s.bind(1, ns).bind(2, name);
    s.step();
    if (store.database().changes() == 0) return false;
    store.changed(ns, "/images/delete", name);
    return true;
  });
}

}  // namespace ctrd
