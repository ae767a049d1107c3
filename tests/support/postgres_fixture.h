#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tests/support/process.h"

namespace medic::test {

// A throwaway PostgreSQL cluster for one test binary: initdb into a private directory, a
// postmaster on a unique unix socket directory and a free TCP port on 127.0.0.1, stopped and
// deleted on destruction. As root, the server runs as the `postgres` user (initdb refuses
// root). Fails, saying what is missing, when the PostgreSQL server binaries are not installed:
// tests that need it must fail then, not skip.
class PostgresCluster {
 public:
  // `durable`: fsync and synchronous commit on, as a production server (benchmarks); off by
  // default, for tests.
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Start(bool durable = false);
  ~PostgresCluster();

  // A connection URI for `database` over TCP (what a collector's --db takes).
  std::string Uri(const std::string& database) const;
  int port() const { return port_; }
  // A new empty database with a unique name; returns its URI.
  absl::StatusOr<std::string> CreateDatabase();
  // Runs `sql` in `database` with psql; returns its output (tuples only, unaligned).
  absl::StatusOr<std::string> Psql(const std::string& database, const std::string& sql) const;
  // The server's log, for failure messages.
  std::string Describe() const;

 private:
  PostgresCluster() = default;
  std::vector<std::string> AsServerUser(std::vector<std::string> argv) const;

  TempDir dir_;
  std::string bin_dir_;
  int port_ = 0;
  bool as_postgres_user_ = false;
  int next_database_ = 0;
  std::unique_ptr<Process> server_;
};

}  // namespace medic::test
