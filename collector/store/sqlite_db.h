#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace medic::collector {

class SqliteDb;

// A prepared statement. Bind parameters are 1-based, as in SQLite. Not thread-safe: use it
// under the owner's lock, and let it go before the SqliteDb it came from.
class SqliteStatement {
 public:
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  // One that goes back to `cache` under `sql` when destroyed.
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt, SqliteDb* cache, std::string sql)
      : db_(db), stmt_(stmt), cache_(cache), sql_(std::move(sql)) {}
  // Hands the statement back to its SqliteDb's cache (reset), or finalizes it.
  ~SqliteStatement();
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  SqliteStatement& Bind(int index, int64_t value);
  SqliteStatement& Bind(int index, double value);
  SqliteStatement& Bind(int index, std::string_view text);
  SqliteStatement& BindBlob(int index, std::string_view bytes);
  SqliteStatement& BindNull(int index);

  // Advances to the next row: true with a row, false when done, an error status otherwise.
  absl::StatusOr<bool> Step();
  // Makes the statement ready to run again with new bindings.
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  // Runs a statement that returns no rows.
  absl::Status Run();

  int64_t ColumnInt(int column) const { return sqlite3_column_int64(stmt_, column); }
  double ColumnDouble(int column) const { return sqlite3_column_double(stmt_, column); }
  bool ColumnIsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::string ColumnText(int column) const;
  std::string ColumnBlob(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  SqliteDb* cache_ = nullptr;
  std::string sql_;
};

// One SQLite connection. Not thread-safe: the owner serialises access.
class SqliteDb {
 public:
  // Opens (creating if needed) the database file at `path` (":memory:" for a private
  // in-memory database). Fails with a message that names the path and what to do.
  static absl::StatusOr<std::unique_ptr<SqliteDb>> Open(const std::string& path);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Runs one or more statements with no results.
  absl::Status Exec(std::string_view sql);
  // A statement for `sql`: one this connection prepared before and has finished with when
  // there is one (compiling SQL costs more than running the small statements the store runs
  // per record), else freshly prepared.
  absl::StatusOr<std::unique_ptr<SqliteStatement>> Prepare(std::string_view sql);

  // The SQLite error for `rc`, with `what` and the database path in front.
  absl::Status Error(int rc, std::string_view what) const;

  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }

 private:
  friend class SqliteStatement;
  SqliteDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  // Takes back a finished statement, reset, for the next Prepare of the same SQL; finalizes it
  // when the cache is full.
  void Release(std::string sql, sqlite3_stmt* stmt);

  sqlite3* db_;
  std::string path_;
  // Finished statements by their SQL text, at most kMaxIdle in all (SQL built at run time,
  // like a listing's filters, would otherwise grow it without bound).
  static constexpr size_t kMaxIdle = 256;
  std::unordered_map<std::string, std::vector<sqlite3_stmt*>> idle_;
  size_t idle_count_ = 0;
};

}  // namespace medic::collector
