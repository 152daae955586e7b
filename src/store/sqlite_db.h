// A thin layer over the SQLite C API for sqlite_store.cc: one connection, a
// cache of prepared statements, and transactions that roll back unless
// committed. Errors carry SQLite's own message. Not thread-safe: the owner
// serializes every call (SqliteStore holds a mutex).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tandem::store {

class SqliteDb;

// One use of a cached prepared statement: bind, step, read columns. It resets
// the statement and clears its bindings when destroyed, so the next use
// starts clean. Columns and parameters are numbered from 0.
class Query {
 public:
  Query(SqliteDb* db, sqlite3_stmt* statement) : db_(db), statement_(statement) {}
  Query(Query&& other) noexcept;
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  ~Query();

  Query& Bind(int index, int64_t value);
  Query& Bind(int index, std::string_view value);
  Query& Bind(int index, const std::string& value) { return Bind(index, std::string_view(value)); }
  Query& Bind(int index, const char* value) { return Bind(index, std::string_view(value)); }
  Query& Bind(int index, std::optional<int64_t> value);
  Query& BindNull(int index);

  // Binds each argument in order, from parameter 0.
  template <typename... Args>
  Query& BindAll(const Args&... args) {
    int index = 0;
    (Bind(index++, args), ...);
    return *this;
  }

  // Advances to the next row: true when there is one, false when done.
  Result<bool> Step();
  // Steps until done, for statements without rows.
  Status Run();

  int64_t Int(int column) const;
  std::optional<int64_t> OptionalInt(int column) const;
  std::string Text(int column) const;
  bool IsNull(int column) const;

 private:
  SqliteDb* db_;
  sqlite3_stmt* statement_;
};

class SqliteDb {
 public:
  // Opens or creates the database file; ":memory:" for a private in-memory one.
  // Errors: kUnavailable when it cannot be opened.
  static Result<std::unique_ptr<SqliteDb>> Open(const std::filesystem::path& path);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Runs one or more statements without parameters.
  Status Exec(std::string_view sql);
  // Returns a use of the prepared statement for `sql`, preparing it once.
  Result<Query> Prepare(const std::string& sql);
  // Rows changed by the last INSERT, UPDATE or DELETE.
  int64_t Changes() const;

  // Converts SQLite result code `code` into an Error with `context` (the SQL) appended:
  // SQLITE_BUSY/LOCKED -> kUnavailable, others -> kInternal.
  Error ErrorFor(int code, std::string_view context) const;

 private:
  SqliteDb(sqlite3* db, std::string name) : db_(db), name_(std::move(name)) {}

  sqlite3* db_;
  std::string name_;  // the path, for messages
  std::map<std::string, sqlite3_stmt*, std::less<>> statements_;
};

// A transaction that rolls back when destroyed uncommitted.
class Transaction {
 public:
  // Starts it; `immediate` takes the write lock at once (for read-modify-write).
  static Result<Transaction> Begin(SqliteDb& db, bool immediate);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  Status Commit();

 private:
  explicit Transaction(SqliteDb* db) : db_(db) {}
  SqliteDb* db_;  // null once committed or rolled back
};

}  // namespace tandem::store
