#include "collector/store/sqlite_db.h"

#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"

namespace medic::collector {
namespace {

absl::Status StatusFromSqlite(int rc, std::string message) {
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(std::move(message));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
      return absl::UnavailableError(std::move(message));
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
      return absl::PermissionDeniedError(std::move(message));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(std::move(message));
    case SQLITE_CONSTRAINT:
      return absl::AlreadyExistsError(std::move(message));
    default:
      return absl::InternalError(std::move(message));
  }
}

}  // namespace

SqliteStatement::~SqliteStatement() {
  if (cache_ != nullptr) {
    cache_->Release(std::move(sql_), stmt_);
  } else {
    sqlite3_finalize(stmt_);
  }
}

SqliteStatement& SqliteStatement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

SqliteStatement& SqliteStatement::Bind(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
  return *this;
}

SqliteStatement& SqliteStatement::Bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

SqliteStatement& SqliteStatement::BindBlob(int index, std::string_view bytes) {
  sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  return *this;
}

SqliteStatement& SqliteStatement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

absl::StatusOr<bool> SqliteStatement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return StatusFromSqlite(rc,
                          common::StrCat(sqlite3_errmsg(db_), " (in: ", sqlite3_sql(stmt_), ")"));
}

absl::Status SqliteStatement::Run() {
  auto row = Step();
  if (!row.ok()) return row.status();
  return absl::OkStatus();
}

std::string SqliteStatement::ColumnText(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  return text == nullptr ? std::string() : std::string(text, sqlite3_column_bytes(stmt_, column));
}

std::string SqliteStatement::ColumnBlob(int column) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  return data == nullptr ? std::string() : std::string(data, sqlite3_column_bytes(stmt_, column));
}

absl::StatusOr<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return StatusFromSqlite(rc,
                            common::StrCat("cannot open database ", path, ": ", why,
                                           " — check that its directory exists and is "
                                           "writable by this user, or choose another with --db"));
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_extended_result_codes(db, 1);
  return std::unique_ptr<SqliteDb>(new SqliteDb(db, path));
}

SqliteDb::~SqliteDb() {
  for (auto& [sql, stmts] : idle_) {
    for (sqlite3_stmt* stmt : stmts) sqlite3_finalize(stmt);
  }
  sqlite3_close(db_);
}

void SqliteDb::Release(std::string sql, sqlite3_stmt* stmt) {
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  if (idle_count_ >= kMaxIdle) {
    sqlite3_finalize(stmt);
    return;
  }
  idle_[std::move(sql)].push_back(stmt);
  ++idle_count_;
}

absl::Status SqliteDb::Exec(std::string_view sql) {
  // A single statement (the store's SAVEPOINT/RELEASE per record) runs from the cache.
  if (auto it = idle_.find(std::string(sql)); it != idle_.end() && !it->second.empty()) {
    ASSIGN_OR_RETURN(auto stmt, Prepare(sql));
    return stmt->Run();
  }
  {
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, &tail);
    const bool single =
        rc == SQLITE_OK && stmt != nullptr &&
        std::string_view(tail, sql.data() + sql.size() - tail).find_first_not_of(" \t\n;") ==
            std::string_view::npos;
    if (single) {
      SqliteStatement statement(db_, stmt, this, std::string(sql));
      absl::Status status = statement.Run();
      if (status.ok()) return status;
      return absl::Status(status.code(), common::StrCat(path_, ": ", status.message()));
    }
    sqlite3_finalize(stmt);
  }
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return absl::OkStatus();
  std::string message = error != nullptr ? error : sqlite3_errstr(rc);
  sqlite3_free(error);
  return StatusFromSqlite(rc, common::StrCat(path_, ": ", message));
}

absl::StatusOr<std::unique_ptr<SqliteStatement>> SqliteDb::Prepare(std::string_view sql) {
  if (auto it = idle_.find(std::string(sql)); it != idle_.end() && !it->second.empty()) {
    sqlite3_stmt* stmt = it->second.back();
    it->second.pop_back();
    --idle_count_;
    return std::make_unique<SqliteStatement>(db_, stmt, this, std::string(sql));
  }
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(rc, common::StrCat("preparing ", sql));
  return std::make_unique<SqliteStatement>(db_, stmt, this, std::string(sql));
}

absl::Status SqliteDb::Error(int rc, std::string_view what) const {
  return StatusFromSqlite(rc, common::StrCat(path_, ": ", what, ": ", sqlite3_errmsg(db_)));
}

}  // namespace medic::collector
