// A thin layer over libpq for postgres_store.cc: connections that prepare
// each statement once, text-format parameters and results, transactions that
// roll back unless committed, and a pool that lends connections to threads.
//
// Errors: kUnavailable when the connection is lost or cannot be made. Its
// message names host, port, database and user, never the password. kAborted
// for a serialization failure or a deadlock, so retrying may work. kInternal
// for any other error, with the server's message and the statement.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

struct pg_conn;
struct pg_result;

namespace tandem::store {

// A statement parameter in PostgreSQL's text format; nullopt is NULL.
using PgParam = std::optional<std::string>;
using PgParams = std::vector<PgParam>;

inline PgParam ToPgParam(std::string_view value) { return std::string(value); }
inline PgParam ToPgParam(const std::string& value) { return value; }
inline PgParam ToPgParam(const char* value) { return std::string(value); }
inline PgParam ToPgParam(int64_t value) { return std::to_string(value); }
inline PgParam ToPgParam(int value) { return std::to_string(value); }
inline PgParam ToPgParam(std::optional<int64_t> value) {
  return value ? ToPgParam(*value) : PgParam();
}
inline PgParam ToPgParam(std::nullopt_t) { return PgParam(); }

// Returns the parameters $1, $2, ... in the order given.
template <typename... Args>
PgParams MakePgParams(const Args&... args) {
  return PgParams{ToPgParam(args)...};
}

// Returns a PostgreSQL text[] literal ("{"a","b"}") of `values`, to pass as
// one parameter, for example to "= ANY($1::text[])".
std::string PgTextArray(const std::vector<std::string>& values);

// One row of a PgResult. Columns are numbered from 0. Valid while its
// PgResult lives.
class PgRow {
 public:
  PgRow(const pg_result* result, int row) : result_(result), row_(row) {}

  std::string Text(int column) const;
  // Reads a bigint column; a NULL or a malformed value reads as 0.
  int64_t Int(int column) const;
  std::optional<int64_t> OptionalInt(int column) const;
  bool IsNull(int column) const;

 private:
  const pg_result* result_;
  int row_;
};

// The rows of one statement. Owns the PGresult.
class PgResult {
 public:
  explicit PgResult(pg_result* result) : result_(result) {}
  PgResult(PgResult&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
  PgResult& operator=(PgResult&& other) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult();

  int rows() const;
  PgRow row(int index) const { return PgRow(result_, index); }
  // Rows inserted, updated or deleted by the statement.
  int64_t affected() const;
  const pg_result* get() const { return result_; }

 private:
  pg_result* result_;
};

// The target of a connection, for messages and logs: host, port, database
// and user. Never the password.
struct PgAddress {
  std::string host;
  std::string port;
  std::string database;
  std::string user;

  std::string ToString() const;  // "127.0.0.1:5432 database tandem user tandem"
};

// One connection. Not thread-safe: one user at a time (PgPool lends it).
class PgConnection {
 public:
  // Connects. Unless `conninfo` sets them, connect_timeout is 10 s, TCP
  // keepalives and tcp_user_timeout notice a dead server within about 30 s,
  // and application_name is `application_name` (shown in pg_stat_activity).
  // Errors: kInvalidArgument when `conninfo` cannot be parsed (the message
  // never shows its password); kUnavailable when the connection fails.
  static Result<std::unique_ptr<PgConnection>> Connect(std::string_view conninfo,
                                                       std::string_view application_name = "tandem");
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs one or more statements without parameters.
  Status Exec(std::string_view sql);

  // Runs `sql` with parameters $1, $2, ... as a prepared statement, prepared
  // on this connection the first time `sql` is seen.
  Result<PgResult> Query(const std::string& sql, const PgParams& params = {});

  // Returns whether libpq considers the connection up, without a round trip.
  bool ok() const;

  // Returns whether a transaction is open (or failed and not yet rolled back).
  bool in_transaction() const;

  // Reconnects a broken connection. Errors: kUnavailable.
  Status Reset();

  const PgAddress& address() const { return address_; }

 private:
  PgConnection(pg_conn* connection, std::string password);

  // Converts a failed result (or a lost connection when `result` is null)
  // into an Error naming `sql`.
  Error ErrorFor(const pg_result* result, std::string_view sql) const;
  // Removes the password from a libpq message.
  std::string Redact(std::string message) const;

  pg_conn* connection_;
  std::string password_;  // only to keep it out of messages
  PgAddress address_;
  std::map<std::string, std::string, std::less<>> prepared_;  // SQL -> statement name
};

// A transaction that rolls back when destroyed uncommitted.
class PgTransaction {
 public:
  // Runs `begin` ("BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").
  static Result<PgTransaction> Begin(PgConnection& connection,
                                     std::string_view begin = "BEGIN");
  PgTransaction(PgTransaction&& other) noexcept : connection_(other.connection_) {
    other.connection_ = nullptr;
  }
  PgTransaction(const PgTransaction&) = delete;
  PgTransaction& operator=(const PgTransaction&) = delete;
  ~PgTransaction();

  Status Commit();

 private:
  explicit PgTransaction(PgConnection* connection) : connection_(connection) {}
  PgConnection* connection_;  // null once committed or rolled back
};

class PgPool;

// A connection lent by a PgPool; returns it when destroyed.
class PooledConnection {
 public:
  PooledConnection(PgPool* pool, std::unique_ptr<PgConnection> connection)
      : pool_(pool), connection_(std::move(connection)) {}
  PooledConnection(PooledConnection&&) noexcept = default;
  PooledConnection(const PooledConnection&) = delete;
  PooledConnection& operator=(const PooledConnection&) = delete;
  ~PooledConnection();

  PgConnection& operator*() { return *connection_; }
  PgConnection* operator->() { return connection_.get(); }

 private:
  PgPool* pool_;
  std::unique_ptr<PgConnection> connection_;
};

// Up to `max_size` connections to one database. Thread-safe.
class PgPool {
 public:
  // Starts the pool with `first`, an open connection (so that a bad
  // connection string fails when the store opens, not on its first call).
  PgPool(std::string conninfo, size_t max_size, std::unique_ptr<PgConnection> first);

  // Lends a connection, waiting while all `max_size` are lent. An idle
  // connection that broke is reconnected first. Errors: kUnavailable.
  Result<PooledConnection> Acquire();

 private:
  friend class PooledConnection;
  void Release(std::unique_ptr<PgConnection> connection);

  const std::string conninfo_;
  const size_t max_size_;
  std::mutex mu_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<PgConnection>> idle_;
  size_t open_ = 0;  // idle plus lent
};

}  // namespace tandem::store
