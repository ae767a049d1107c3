#pragma once

#include <libpq-fe.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace medic::collector {

// Parameters of one statement ($1, $2, … in order). Text is sent as text, blobs as binary
// bytea, so neither needs escaping.
class PgParams {
 public:
  PgParams& Add(std::string_view text);
  PgParams& Add(int64_t value);
  PgParams& Add(double value);
  PgParams& AddBlob(std::string_view bytes);
  PgParams& AddNull();

 private:
  friend class PgConnection;
  std::vector<std::optional<std::string>> values_;
  std::vector<int> binary_;
};

// The rows of one statement (text format). Columns are 0-based.
class PgResult {
 public:
  explicit PgResult(PGresult* result) : result_(result, &PQclear) {}
  int rows() const { return PQntuples(result_.get()); }
  bool IsNull(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string Text(int row, int column) const {
    return std::string(PQgetvalue(result_.get(), row, column),
                       PQgetlength(result_.get(), row, column));
  }
  int64_t Int(int row, int column) const;
  double Double(int row, int column) const;
  // A bytea column, unescaped.
  std::string Blob(int row, int column) const;
  // Rows inserted, updated or deleted.
  int64_t Affected() const;
  const PGresult* get() const { return result_.get(); }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> result_;
};

// One connection to PostgreSQL. Not thread-safe: a PgPool lends it to one caller at a time.
class PgConnection {
 public:
  PgConnection(PGconn* conn, std::string where) : conn_(conn), where_(std::move(where)) {}
  ~PgConnection() { PQfinish(conn_); }
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs one statement. Errors name the server and carry the SQLSTATE as their code:
  // Unavailable when the connection is lost, Aborted for a deadlock or serialization failure
  // (try again), AlreadyExists for a unique violation.
  absl::StatusOr<PgResult> Exec(std::string_view sql, const PgParams& params = PgParams());
  // Runs statements that take no parameters and return no rows (e.g. BEGIN, a migration).
  absl::Status ExecScript(std::string_view sql);
  bool Lost() const { return PQstatus(conn_) != CONNECTION_OK; }
  // Reconnects with the same parameters.
  absl::Status Reset();
  PGconn* handle() const { return conn_; }

 private:
  absl::Status Error(const PGresult* result, std::string_view sql) const;
  PGconn* conn_;
  std::string where_;
};

// A small pool of connections to one database. Every caller gets a connection of its own for
// one unit of work; a lost connection is reconnected (a failover to a standby behind the same
// address) before it is lent again.
class PgPool {
 public:
  // Connects the first connection at once, so a wrong URI fails at start-up with the server's
  // own words; the rest connect when first needed.
  static absl::StatusOr<std::unique_ptr<PgPool>> Open(const std::string& uri, int size);

  // Runs `work` on a connection. When the connection is found lost (the server restarted or
  // failed over), logs it naming the server, reconnects and runs `work` once more: every
  // unit of work is one transaction, so a repeat is safe. Deadlocks between replicas
  // (Aborted) and unique violations of concurrent inserts (AlreadyExists) are retried a few
  // times too.
  absl::Status Run(const std::function<absl::Status(PgConnection&)>& work);

  // "host:port/database", for messages (never the password).
  const std::string& where() const { return where_; }
  const std::string& uri() const { return uri_; }

 private:
  PgPool(std::string uri, std::string where, int size)
      : uri_(std::move(uri)), where_(std::move(where)), size_(size) {}
  absl::StatusOr<std::unique_ptr<PgConnection>> Connect();

  const std::string uri_;
  const std::string where_;
  const int size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<PgConnection>> idle_;
  int open_ = 0;
};

// "host:port/database" of a PostgreSQL URI: what logs and messages show (never the password).
std::string DescribePostgresTarget(const std::string& uri);

// True for a --db value that names a PostgreSQL database (postgresql:// or postgres://).
bool IsPostgresUri(std::string_view db);

}  // namespace medic::collector
