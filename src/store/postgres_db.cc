#include "store/postgres_db.h"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <array>
#include <charconv>

namespace tandem::store {
namespace {

// Defaults for settings the connection string leaves out. The keepalives
// (idle 10 s, then 3 probes 5 s apart) and the 30 s limit on unacknowledged
// data let a leader notice a dead server or network.
constexpr std::array<std::pair<const char*, const char*>, 6> kConnectionDefaults = {{
    {"connect_timeout", "10"},
    {"keepalives", "1"},
    {"keepalives_idle", "10"},
    {"keepalives_interval", "5"},
    {"keepalives_count", "3"},
    {"tcp_user_timeout", "30000"},
}};

std::string Trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (char& c : text) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return text;
}

std::string OrEmpty(const char* text) { return text ? text : ""; }

// Returns the password written in `conninfo`, found without libpq so that it
// can be kept out of libpq's messages about a string it could not parse.
std::string WrittenPassword(std::string_view conninfo) {
  for (std::string_view scheme : {"postgresql://", "postgres://"}) {
    if (!conninfo.starts_with(scheme)) continue;
    std::string_view rest = conninfo.substr(scheme.size());
    size_t at = rest.find('@');
    if (at == std::string_view::npos) return "";
    std::string_view user_info = rest.substr(0, at);
    size_t colon = user_info.find(':');
    return colon == std::string_view::npos ? "" : std::string(user_info.substr(colon + 1));
  }
  size_t key = conninfo.find("password");
  if (key == std::string_view::npos) return "";
  size_t equals = conninfo.find('=', key);
  if (equals == std::string_view::npos) return "";
  size_t start = conninfo.find_first_not_of(" '", equals + 1);
  if (start == std::string_view::npos) return "";
  size_t end = conninfo.find_first_of(" '", start);
  return std::string(conninfo.substr(start, end == std::string_view::npos ? end : end - start));
}

std::string Replace(std::string text, std::string_view secret) {
  if (secret.empty()) return text;
  for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
    text.replace(at, secret.size(), "***");
    at += 3;
  }
  return text;
}

PgAddress AddressOf(const PGconn* connection) {
  return PgAddress{.host = OrEmpty(PQhost(connection)),
                   .port = OrEmpty(PQport(connection)),
                   .database = OrEmpty(PQdb(connection)),
                   .user = OrEmpty(PQuser(connection))};
}

void LogNotice(void* /*context*/, const char* message) {
  spdlog::debug("postgres notice: {}", Trim(OrEmpty(message)));
}

}  // namespace

std::string PgTextArray(const std::vector<std::string>& values) {
  std::string literal = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal += ',';
    literal += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    literal += '"';
  }
  literal += '}';
  return literal;
}

// ---------------------------------------------------------------------------
// Results

std::string PgRow::Text(int column) const {
  return std::string(PQgetvalue(result_, row_, column),
                     static_cast<size_t>(PQgetlength(result_, row_, column)));
}

int64_t PgRow::Int(int column) const {
  const char* text = PQgetvalue(result_, row_, column);
  int64_t value = 0;
  std::from_chars(text, text + PQgetlength(result_, row_, column), value);
  return value;
}

std::optional<int64_t> PgRow::OptionalInt(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Int(column);
}

bool PgRow::IsNull(int column) const { return PQgetisnull(result_, row_, column) != 0; }

PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    PQclear(result_);
    result_ = other.result_;
    other.result_ = nullptr;
  }
  return *this;
}

PgResult::~PgResult() { PQclear(result_); }

int PgResult::rows() const { return PQntuples(result_); }

int64_t PgResult::affected() const {
  const char* text = PQcmdTuples(result_);
  int64_t value = 0;
  std::from_chars(text, text + std::char_traits<char>::length(text), value);
  return value;
}

std::string PgAddress::ToString() const {
  return fmt::format("{}:{} database {} user {}", host, port, database, user);
}

// ---------------------------------------------------------------------------
// Connections

PgConnection::PgConnection(PGconn* connection, std::string password)
    : connection_(connection), password_(std::move(password)), address_(AddressOf(connection)) {
  PQsetNoticeProcessor(connection_, LogNotice, nullptr);
}

PgConnection::~PgConnection() { PQfinish(connection_); }

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(std::string_view conninfo,
                                                           std::string_view application_name) {
  std::string text(conninfo);

  // Step 1: parse it here, to reject a malformed string and learn its password.
  char* parse_error = nullptr;
  PQconninfoOption* options = PQconninfoParse(text.c_str(), &parse_error);
  if (options == nullptr) {
    std::string message = parse_error ? Trim(parse_error) : "out of memory";
    PQfreemem(parse_error);
    return InvalidArgument(fmt::format("database: invalid PostgreSQL connection string: {}",
                                       Replace(message, WrittenPassword(conninfo))));
  }
  std::string password;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (std::string_view(option->keyword) == "password" && option->val) password = option->val;
  }
  PQconninfoFree(options);

  // Step 2: connect; settings in the string override the defaults before it.
  std::vector<const char*> keywords;
  std::vector<const char*> values;
  for (const auto& [keyword, value] : kConnectionDefaults) {
    keywords.push_back(keyword);
    values.push_back(value);
  }
  std::string fallback_name(application_name);
  keywords.push_back("fallback_application_name");
  values.push_back(fallback_name.c_str());
  keywords.push_back("dbname");
  values.push_back(text.c_str());
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* connection = PQconnectdbParams(keywords.data(), values.data(), /*expand_dbname=*/1);
  if (connection == nullptr) return Unavailable("cannot connect to PostgreSQL: out of memory");

  // Step 3: a failed connection still reports where it tried to go.
  auto result = std::unique_ptr<PgConnection>(new PgConnection(connection, std::move(password)));
  if (PQstatus(connection) != CONNECTION_OK) {
    return Unavailable(fmt::format(
        "cannot connect to PostgreSQL at {}: {}; check that the server is running and that the "
        "connection string is right",
        result->address_.ToString(), result->Redact(Trim(OrEmpty(PQerrorMessage(connection))))));
  }
  return result;
}

std::string PgConnection::Redact(std::string message) const {
  return Replace(std::move(message), password_);
}

bool PgConnection::ok() const { return PQstatus(connection_) == CONNECTION_OK; }

Status PgConnection::Reset() {
  PQreset(connection_);
  prepared_.clear();  // prepared statements belong to the old session
  if (ok()) {
    spdlog::info("postgres connection re-established server=\"{}\"", address_.ToString());
    return Ok();
  }
  return Unavailable(fmt::format("cannot reconnect to PostgreSQL at {}: {}", address_.ToString(),
                                 Redact(Trim(OrEmpty(PQerrorMessage(connection_))))));
}

Error PgConnection::ErrorFor(const PGresult* result, std::string_view sql) const {
  std::string statement(sql.substr(0, 160));
  if (result == nullptr || !ok()) {
    return Error(ErrorCode::kUnavailable,
                 fmt::format("lost the connection to PostgreSQL at {}: {}", address_.ToString(),
                             Redact(Trim(OrEmpty(PQerrorMessage(connection_))))));
  }
  std::string state = OrEmpty(PQresultErrorField(result, PG_DIAG_SQLSTATE));
  std::string message = Redact(Trim(OrEmpty(PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY))));
  std::string text = fmt::format("PostgreSQL at {} failed with SQLSTATE {}: {} (statement: {})",
                                 address_.ToString(), state, message, Trim(statement));

  // SQLSTATE classes: 08 connection, 57P shutdown, 53 insufficient resources,
  // 40001 serialization failure, 40P01 deadlock.
  if (state.starts_with("08") || state.starts_with("57P") || state.starts_with("53")) {
    return Error(ErrorCode::kUnavailable, std::move(text));
  }
  if (state == "40001" || state == "40P01") return Error(ErrorCode::kAborted, std::move(text));
  return Error(ErrorCode::kInternal, std::move(text));
}

Status PgConnection::Exec(std::string_view sql) {
  PgResult result(PQexec(connection_, std::string(sql).c_str()));
  ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return std::unexpected(ErrorFor(result.get(), sql));
  }
  return Ok();
}

Result<PgResult> PgConnection::Query(const std::string& sql, const PgParams& params) {
  // Step 1: prepare the statement once per session, under a name of its own.
  auto prepared = prepared_.find(sql);
  if (prepared == prepared_.end()) {
    std::string name = fmt::format("tandem_{}", prepared_.size() + 1);
    PgResult result(PQprepare(connection_, name.c_str(), sql.c_str(),
                              static_cast<int>(params.size()), nullptr));
    if (PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
      return std::unexpected(ErrorFor(result.get(), sql));
    }
    prepared = prepared_.emplace(sql, std::move(name)).first;
  }

  // Step 2: run it with the parameters in text format.
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const PgParam& param : params) values.push_back(param ? param->c_str() : nullptr);
  PgResult result(PQexecPrepared(connection_, prepared->second.c_str(),
                                 static_cast<int>(values.size()), values.data(), nullptr, nullptr,
                                 /*resultFormat=*/0));
  ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return std::unexpected(ErrorFor(result.get(), sql));
  }
  return result;
}

bool PgConnection::in_transaction() const {
  return PQtransactionStatus(connection_) != PQTRANS_IDLE;
}

// ---------------------------------------------------------------------------
// Transactions

Result<PgTransaction> PgTransaction::Begin(PgConnection& connection, std::string_view begin) {
  TANDEM_RETURN_IF_ERROR(connection.Exec(begin));
  return PgTransaction(&connection);
}

PgTransaction::~PgTransaction() {
  if (connection_ == nullptr || !connection_->ok()) return;
  if (auto rolled_back = connection_->Exec("ROLLBACK"); !rolled_back) {
    spdlog::warn("postgres rollback failed error=\"{}\"", rolled_back.error().message());
  }
}

Status PgTransaction::Commit() {
  PgConnection* connection = connection_;
  connection_ = nullptr;
  return connection->Exec("COMMIT");
}

// ---------------------------------------------------------------------------
// Pool

PooledConnection::~PooledConnection() {
  if (connection_) pool_->Release(std::move(connection_));
}

PgPool::PgPool(std::string conninfo, size_t max_size, std::unique_ptr<PgConnection> first)
    : conninfo_(std::move(conninfo)), max_size_(max_size) {
  idle_.push_back(std::move(first));
  open_ = 1;
}

Result<PooledConnection> PgPool::Acquire() {
  std::unique_lock lock(mu_);
  available_.wait(lock, [&] { return !idle_.empty() || open_ < max_size_; });

  // An idle connection first; one that broke meanwhile is reconnected.
  if (!idle_.empty()) {
    PooledConnection lent(this, std::move(idle_.back()));
    idle_.pop_back();
    lock.unlock();
    if (!lent->ok()) TANDEM_RETURN_IF_ERROR(lent->Reset());
    return lent;
  }

  // Else a new one, connected outside the lock.
  ++open_;
  lock.unlock();
  auto connection = PgConnection::Connect(conninfo_);
  if (!connection) {
    lock.lock();
    --open_;
    available_.notify_one();
    return std::unexpected(connection.error());
  }
  return PooledConnection(this, std::move(*connection));
}

void PgPool::Release(std::unique_ptr<PgConnection> connection) {
  // A connection still inside a transaction (its rollback failed) is closed,
  // so that the next user starts clean.
  if (connection->ok() && connection->in_transaction()) connection.reset();
  std::lock_guard lock(mu_);
  if (connection) {
    idle_.push_back(std::move(connection));
  } else {
    --open_;
  }
  available_.notify_one();
}

}  // namespace tandem::store
