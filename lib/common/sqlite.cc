#include "sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"

namespace ctrd {

Database::Database(kj::StringPtr pathParam) : path(kj::str(pathParam)) {
  // Metadata is nobody else's to read: made 0600 before SQLite opens it (its -wal and -shm files
  // take the database's mode), and an older 0644 one is tightened.
  int fd = open(path.cStr(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) throwError(ErrorKind::UNKNOWN, kj::str("database \"", path, "\": ", strerror(errno)));
  fchmod(fd, 0600);
  close(fd);
  int rc = sqlite3_open_v2(
      path.cStr(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    auto msg = kj::str(db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    db = nullptr;
    throwError(ErrorKind::UNKNOWN, kj::str("database \"", path, "\": ", msg));
  }
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  exec("PRAGMA busy_timeout=5000");
  exec("PRAGMA foreign_keys=ON");
}

Database::~Database() noexcept(false) {
  sqlite3_close(db);
}

void Database::exec(kj::StringPtr sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.cStr(), nullptr, nullptr, &err) != SQLITE_OK) {
    auto msg = kj::str(err ? err : "?");
    sqlite3_free(err);
    throwError(ErrorKind::UNKNOWN, kj::str("database \"", path, "\": ", msg));
  }
}

int64_t Database::changes() {
  return sqlite3_changes(db);
}
int64_t Database::lastInsertId() {
  return sqlite3_last_insert_rowid(db);
}

Statement::Statement(Database& db, kj::StringPtr sql) : db(db) {
  int rc = sqlite3_prepare_v2(db.handle(), sql.cStr(), -1, &stmt, nullptr);
  KJ_ASSERT(rc == SQLITE_OK, "sqlite prepare", sql, sqlite3_errmsg(db.handle()));
}

Statement::~Statement() {
  sqlite3_finalize(stmt);
}

void Statement::check(int rc) {
  KJ_ASSERT(rc == SQLITE_OK, "sqlite bind", sqlite3_errmsg(db.handle()));
}

Statement& Statement::bind(int i, kj::StringPtr text) {
  check(sqlite3_bind_text(stmt, i, text.cStr(), text.size(), SQLITE_TRANSIENT));
  return *this;
}

Statement& Statement::bind(int i, int64_t v) {
  check(sqlite3_bind_int64(stmt, i, v));
  return *this;
}

Statement& Statement::bindNull(int i) {
  check(sqlite3_bind_null(stmt, i));
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_CONSTRAINT) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str("constraint: ", sqlite3_errmsg(db.handle())));
  }
  KJ_ASSERT(rc == SQLITE_DONE, "sqlite step", sqlite3_errmsg(db.handle()));
  return false;
}

kj::String Statement::text(int col) {
  auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
  return kj::str(p == nullptr ? "" : p);
}

int64_t Statement::integer(int col) {
  return sqlite3_column_int64(stmt, col);
}

bool Statement::isNull(int col) {
  return sqlite3_column_type(stmt, col) == SQLITE_NULL;
}

Transaction::Transaction(Database& db) : db(db) {
  db.exec("BEGIN IMMEDIATE");
}

Transaction::~Transaction() noexcept(false) {
  if (!done) {
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { db.exec("ROLLBACK"); })) {
      KJ_LOG(ERROR, "rollback failed", *e);
    }
  }
}

void Transaction::commit() {
  db.exec("COMMIT");
  done = true;
}

}  // namespace ctrd
