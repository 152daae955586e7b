#include "store/sqlite_db.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

namespace tandem::store {

Query::Query(Query&& other) noexcept : db_(other.db_), statement_(other.statement_) {
  other.statement_ = nullptr;
}

Query::~Query() {
  if (statement_ == nullptr) return;
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

Query& Query::Bind(int index, int64_t value) {
  sqlite3_bind_int64(statement_, index + 1, value);
  return *this;
}

Query& Query::Bind(int index, std::string_view value) {
  sqlite3_bind_text64(statement_, index + 1, value.data(), value.size(), SQLITE_TRANSIENT,
                      SQLITE_UTF8);
  return *this;
}

Query& Query::Bind(int index, std::optional<int64_t> value) {
  return value ? Bind(index, *value) : BindNull(index);
}

Query& Query::BindNull(int index) {
  sqlite3_bind_null(statement_, index + 1);
  return *this;
}

Result<bool> Query::Step() {
  int code = sqlite3_step(statement_);
  if (code == SQLITE_ROW) return true;
  if (code == SQLITE_DONE) return false;
  return std::unexpected(db_->ErrorFor(code, sqlite3_sql(statement_)));
}

Status Query::Run() {
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Ok();
  }
}

int64_t Query::Int(int column) const { return sqlite3_column_int64(statement_, column); }

std::optional<int64_t> Query::OptionalInt(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Int(column);
}

std::string Query::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(statement_, column);
  if (text == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(statement_, column)));
}

bool Query::IsNull(int column) const {
  return sqlite3_column_type(statement_, column) == SQLITE_NULL;
}

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int code = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (code != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
    sqlite3_close(db);
    return Unavailable(fmt::format("database {}: cannot open: {}", path.string(), message));
  }
  sqlite3_extended_result_codes(db, 1);
  return std::unique_ptr<SqliteDb>(new SqliteDb(db, path.string()));
}

SqliteDb::~SqliteDb() {
  for (auto& [sql, statement] : statements_) sqlite3_finalize(statement);
  if (sqlite3_close(db_) != SQLITE_OK) {
    spdlog::error("database close failed database={} error={}", name_, sqlite3_errmsg(db_));
  }
}

Status SqliteDb::Exec(std::string_view sql) {
  std::string text(sql);
  char* message = nullptr;
  int code = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  if (code == SQLITE_OK) return Ok();
  std::string detail = message != nullptr ? message : sqlite3_errstr(code);
  sqlite3_free(message);
  Error error = ErrorFor(code, "");
  return std::unexpected(Error(error.code(), fmt::format("database {}: {}", name_, detail)));
}

Result<Query> SqliteDb::Prepare(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* statement = nullptr;
    int code = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                  SQLITE_PREPARE_PERSISTENT, &statement, nullptr);
    if (code != SQLITE_OK) return std::unexpected(ErrorFor(code, sql));
    it = statements_.emplace(sql, statement).first;
  }
  return Query(this, it->second);
}

int64_t SqliteDb::Changes() const { return sqlite3_changes64(db_); }

Error SqliteDb::ErrorFor(int code, std::string_view context) const {
  int primary = code & 0xff;
  std::string message = fmt::format("database {}: {}", name_, sqlite3_errmsg(db_));
  if (!context.empty()) message += fmt::format(" (in: {})", context.substr(0, 120));
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return Error(ErrorCode::kUnavailable, message + "; another process holds the lock, retry");
  }
  return Error(ErrorCode::kInternal, message);
}

Result<Transaction> Transaction::Begin(SqliteDb& db, bool immediate) {
  TANDEM_RETURN_IF_ERROR(db.Exec(immediate ? "BEGIN IMMEDIATE" : "BEGIN"));
  return Transaction(&db);
}

Transaction::~Transaction() {
  if (db_ == nullptr) return;
  auto rolled_back = db_->Exec("ROLLBACK");
  if (!rolled_back) spdlog::error("rollback failed error={}", rolled_back.error().message());
}

Status Transaction::Commit() {
  SqliteDb* db = db_;
  db_ = nullptr;
  auto committed = db->Exec("COMMIT");
  if (!committed) {
    // A failed COMMIT may leave the transaction open; end it so the
    // connection stays usable.
    (void)db->Exec("ROLLBACK");
  }
  return committed;
}

}  // namespace tandem::store
