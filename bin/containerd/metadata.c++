#include "metadata.h"

#include <common/errors.h>
#include <kj/debug.h>

#include <nlohmann/json.hpp>

namespace ctrd {

constexpr size_t MAX_LABEL_SIZE = 4096;

void setLabel(Labels& labels, kj::String key, kj::String value) {
  labels.upsert(kj::mv(key), kj::mv(value), [](kj::String& existing, kj::String&& replacement) {
    existing = kj::mv(replacement);
  });
}

void validateLabels(const Labels& labels) {
  for (auto& e : labels) {
    if (e.key.size() == 0) throwError(ErrorKind::INVALID_ARGUMENT, "label key must not be empty");
    if (e.key.size() + e.value.size() > MAX_LABEL_SIZE) {
      throwError(ErrorKind::INVALID_ARGUMENT,
                 kj::str("label key and value greater than maximum size (", MAX_LABEL_SIZE,
                         " bytes), key: ", e.key.slice(0, kj::min(e.key.size(), size_t(64)))));
    }
  }
}

namespace {

kj::String encodeLabels(const Labels& labels) {
  nlohmann::json j = nlohmann::json::object();
  for (auto& e : labels) j[e.key.cStr()] = e.value.cStr();
  return kj::str(j.dump().c_str());
}

Labels decodeLabels(const char* text) {
  Labels out;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return out;
  for (auto& [k, v] : j.items()) {
    if (v.is_string()) out.insert(kj::str(k.c_str()), kj::str(v.get<std::string>().c_str()));
  }
  return out;
}

}  // namespace

class MetadataStore::Statement {
  // One prepared statement, bound and stepped; finalized on destruction.
public:
  Statement(sqlite3* db, kj::StringPtr sql) : db(db) {
    int rc = sqlite3_prepare_v2(db, sql.cStr(), -1, &stmt, nullptr);
    KJ_ASSERT(rc == SQLITE_OK, "sqlite prepare", sql, sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(stmt); }

  Statement& bind(int i, kj::StringPtr text) {
    check(sqlite3_bind_text(stmt, i, text.cStr(), text.size(), SQLITE_TRANSIENT));
    return *this;
  }
  Statement& bind(int i, int64_t v) {
    check(sqlite3_bind_int64(stmt, i, v));
    return *this;
  }
  bool step() {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) return true;
    KJ_ASSERT(rc == SQLITE_DONE, "sqlite step", sqlite3_errmsg(db));
    return false;
  }
  kj::String text(int col) {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
    return kj::str(p == nullptr ? "" : p);
  }
  int64_t integer(int col) { return sqlite3_column_int64(stmt, col); }

  ContentRecord contentRecord() {
    return {text(0), integer(1), decodeLabels(text(2).cStr()), integer(3), integer(4)};
  }

private:
  sqlite3* db;
  sqlite3_stmt* stmt = nullptr;
  void check(int rc) { KJ_ASSERT(rc == SQLITE_OK, "sqlite bind", sqlite3_errmsg(db)); }
};

MetadataStore::MetadataStore(kj::StringPtr path) : path(path) {
  int rc = sqlite3_open_v2(
      path.cStr(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    auto msg = kj::str(db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    db = nullptr;
    throwError(ErrorKind::UNKNOWN, kj::str("metadata database \"", path, "\": ", msg));
  }
  // WAL with synchronous=NORMAL: a power loss may lose the last commits but never corrupts;
  // everything in here can be re-derived from the content and snapshot stores.
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  exec("PRAGMA busy_timeout=5000");
  exec(
      "CREATE TABLE IF NOT EXISTS content ("
      " namespace TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,"
      " labels TEXT NOT NULL DEFAULT '{}', created INTEGER NOT NULL, updated INTEGER NOT NULL,"
      " PRIMARY KEY (namespace, digest))");
  exec("CREATE INDEX IF NOT EXISTS content_by_digest ON content (digest)");
}

MetadataStore::~MetadataStore() noexcept(false) {
  sqlite3_close(db);
}

void MetadataStore::exec(kj::StringPtr sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.cStr(), nullptr, nullptr, &err) != SQLITE_OK) {
    auto msg = kj::str(err ? err : "?");
    sqlite3_free(err);
    throwError(ErrorKind::UNKNOWN, kj::str("metadata database \"", path, "\": ", msg));
  }
}

kj::Maybe<ContentRecord> MetadataStore::tryGetContent(kj::StringPtr ns, kj::StringPtr digest) {
  Statement s(db,
              "SELECT digest, size, labels, created, updated FROM content"
              " WHERE namespace = ?1 AND digest = ?2");
  s.bind(1, ns).bind(2, digest);
  if (s.step()) return s.contentRecord();
  return nullptr;
}

kj::Vector<ContentRecord> MetadataStore::listContent(kj::StringPtr ns) {
  Statement s(db,
              "SELECT digest, size, labels, created, updated FROM content"
              " WHERE namespace = ?1 ORDER BY digest");
  s.bind(1, ns);
  kj::Vector<ContentRecord> out;
  while (s.step()) out.add(s.contentRecord());
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
  return sqlite3_changes(db) > 0;
}

int64_t MetadataStore::contentHolders(kj::StringPtr digest) {
  Statement s(db, "SELECT COUNT(*) FROM content WHERE digest = ?1");
  s.bind(1, digest);
  KJ_ASSERT(s.step());
  return s.integer(0);
}

}  // namespace ctrd
