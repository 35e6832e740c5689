// A thin SQLite layer: one connection in WAL mode, prepared statements, transactions.
#pragma once

#include <kj/string.h>
#include <sqlite3.h>
#include <stdint.h>

namespace ctrd {

class Database {
public:
  explicit Database(kj::StringPtr path);
  // Opens or creates, in WAL mode with synchronous=NORMAL: a power loss may lose the last
  // commits but never corrupts.
  ~Database() noexcept(false);
  KJ_DISALLOW_COPY(Database);

  void exec(kj::StringPtr sql);
  int64_t changes();
  int64_t lastInsertId();
  sqlite3* handle() { return db; }

private:
  sqlite3* db = nullptr;
  kj::String path;
};

class Statement {
public:
  Statement(Database& db, kj::StringPtr sql);
  ~Statement();
  KJ_DISALLOW_COPY(Statement);

  Statement& bind(int i, kj::StringPtr text);
  Statement& bind(int i, int64_t value);
  Statement& bindNull(int i);
  bool step();
  // True while there is a row.
  kj::String text(int column);
  int64_t integer(int column);
  bool isNull(int column);

private:
  Database& db;
  sqlite3_stmt* stmt = nullptr;
  void check(int rc);
};

class Transaction {
  // BEGIN IMMEDIATE now; ROLLBACK unless commit() was called.
public:
  explicit Transaction(Database& db);
  ~Transaction() noexcept(false);
  void commit();

private:
  Database& db;
  bool done = false;
};

}  // namespace ctrd
