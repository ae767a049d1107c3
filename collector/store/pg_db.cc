#include "collector/store/pg_db.h"

#include <arpa/inet.h>

#include <cstring>
#include <thread>

#include "absl/strings/numbers.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace medic::collector {
namespace {}  // namespace

std::string DescribePostgresTarget(const std::string& uri) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(uri.c_str(), &error);
  if (options == nullptr) {
    if (error != nullptr) PQfreemem(error);
    return "(unparsable database URI)";
  }
  std::string host = "localhost", port = "5432", db;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    if (std::strcmp(o->keyword, "host") == 0) host = o->val;
    if (std::strcmp(o->keyword, "hostaddr") == 0 && host == "localhost") host = o->val;
    if (std::strcmp(o->keyword, "port") == 0) port = o->val;
    if (std::strcmp(o->keyword, "dbname") == 0) db = o->val;
  }
  PQconninfoFree(options);
  return common::StrCat(host, ":", port, "/", db);
}

PgParams& PgParams::Add(std::string_view text) {
  values_.emplace_back(std::string(text));
  binary_.push_back(0);
  return *this;
}
PgParams& PgParams::Add(int64_t value) { return Add(std::to_string(value)); }
PgParams& PgParams::Add(double value) {
  // Shortest text that reads back as the same double.
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.17g", value);
  return Add(std::string_view(buffer));
}
PgParams& PgParams::AddBlob(std::string_view bytes) {
  values_.emplace_back(std::string(bytes));
  binary_.push_back(1);
  return *this;
}
PgParams& PgParams::AddNull() {
  values_.emplace_back(std::nullopt);
  binary_.push_back(0);
  return *this;
}

int64_t PgResult::Int(int row, int column) const {
  int64_t v = 0;
  (void)absl::SimpleAtoi(PQgetvalue(result_.get(), row, column), &v);
  return v;
}

double PgResult::Double(int row, int column) const {
  double v = 0;
  (void)absl::SimpleAtod(PQgetvalue(result_.get(), row, column), &v);
  return v;
}

std::string PgResult::Blob(int row, int column) const {
  if (IsNull(row, column)) return "";
  size_t length = 0;
  unsigned char* bytes = PQunescapeBytea(
      reinterpret_cast<const unsigned char*>(PQgetvalue(result_.get(), row, column)), &length);
  if (bytes == nullptr) return "";
  std::string out(reinterpret_cast<const char*>(bytes), length);
  PQfreemem(bytes);
  return out;
}

int64_t PgResult::Affected() const {
  int64_t n = 0;
  (void)absl::SimpleAtoi(PQcmdTuples(result_.get()), &n);
  return n;
}

absl::StatusOr<PgResult> PgConnection::Exec(std::string_view sql, const PgParams& params) {
  std::vector<const char*> values;
  std::vector<int> lengths;
  for (const auto& v : params.values_) {
    values.push_back(v ? v->data() : nullptr);
    lengths.push_back(v ? static_cast<int>(v->size()) : 0);
  }
  const std::string statement(sql);
  PgResult result(PQexecParams(conn_, statement.c_str(), static_cast<int>(values.size()),
                               /*paramTypes=*/nullptr, values.data(), lengths.data(),
                               params.binary_.data(), /*resultFormat=*/0));
  const ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return Error(result.get(), sql);
  }
  return result;
}

absl::Status PgConnection::ExecScript(std::string_view sql) {
  const std::string script(sql);
  PgResult result(PQexec(conn_, script.c_str()));
  const ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return Error(result.get(), sql);
  return absl::OkStatus();
}

absl::Status PgConnection::Reset() {
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) {
    return absl::UnavailableError(
        common::StrCat("cannot reconnect to PostgreSQL at ", where_, ": ", PQerrorMessage(conn_)));
  }
  return absl::OkStatus();
}

absl::Status PgConnection::Error(const PGresult* result, std::string_view sql) const {
  std::string message = result != nullptr ? PQresultErrorMessage(result) : "";
  if (message.empty()) message = PQerrorMessage(conn_);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = state != nullptr ? state : "";
  std::string_view first_line = sql.substr(0, sql.find('\n'));
  if (first_line.size() > 80) first_line = first_line.substr(0, 80);
  const std::string text =
      common::StrCat("PostgreSQL at ", where_, ": ", message, " (in: ", first_line, ")");
  if (PQstatus(conn_) != CONNECTION_OK || sqlstate.starts_with("08") ||
      sqlstate.starts_with("57P")) {
    return absl::UnavailableError(text);
  }
  if (sqlstate == "40001" || sqlstate == "40P01") return absl::AbortedError(text);
  if (sqlstate == "23505") return absl::AlreadyExistsError(text);
  return absl::InternalError(text);
}

absl::StatusOr<std::unique_ptr<PgPool>> PgPool::Open(const std::string& uri, int size) {
  std::unique_ptr<PgPool> pool(new PgPool(uri, DescribePostgresTarget(uri), std::max(1, size)));
  ASSIGN_OR_RETURN(auto first, pool->Connect());
  std::lock_guard lock(pool->mu_);
  pool->idle_.push_back(std::move(first));
  pool->open_ = 1;
  return pool;
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgPool::Connect() {
  PGconn* conn = PQconnectdb(uri_.c_str());
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    std::string message = conn != nullptr ? PQerrorMessage(conn) : "out of memory";
    while (!message.empty() && message.back() == '\n') message.pop_back();
    if (conn != nullptr) PQfinish(conn);
    return absl::UnavailableError(
        common::StrCat("cannot connect to PostgreSQL at ", where_, ": ", message,
                       " — check --db (postgresql://USER@HOST:PORT/DATABASE) and that the "
                       "server is running"));
  }
  // Notices (e.g. "relation already exists, skipping") are not errors: keep them out of
  // stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return std::make_unique<PgConnection>(conn, where_);
}

absl::Status PgPool::Run(const std::function<absl::Status(PgConnection&)>& work) {
  std::unique_ptr<PgConnection> conn;
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    } else {
      ++open_;
    }
  }
  if (conn == nullptr) {
    auto made = Connect();
    if (!made.ok()) {
      std::lock_guard lock(mu_);
      --open_;
      cv_.notify_one();
      return made.status();
    }
    conn = std::move(*made);
  }
  absl::Status status;
  for (int attempt = 0;; ++attempt) {
    if (conn->Lost()) {
      spdlog::error("lost the connection to PostgreSQL at {}; reconnecting", where_);
      status = conn->Reset();
      if (!status.ok()) {
        spdlog::error("{}", status.message());
        break;
      }
      spdlog::info("reconnected to PostgreSQL at {}", where_);
    }
    status = work(*conn);
    if (status.ok() || attempt >= 3) break;
    if (status.code() == absl::StatusCode::kAborted ||
        status.code() == absl::StatusCode::kAlreadyExists) {
      // A deadlock with another replica, or a row another replica inserted at the same moment
      // under a second unique key (ON CONFLICT arbitrates one): PostgreSQL undid this
      // transaction; run it again shortly, when it sees the other's row.
      std::this_thread::sleep_for(std::chrono::milliseconds(5 * (attempt + 1)));
      continue;
    }
    if (status.code() != absl::StatusCode::kUnavailable || !conn->Lost()) break;
  }
  {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(conn));
  }
  cv_.notify_one();
  return status;
}

bool IsPostgresUri(std::string_view db) {
  return db.starts_with("postgresql://") || db.starts_with("postgres://");
}

}  // namespace medic::collector
