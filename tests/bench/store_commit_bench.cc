// The collector's single writer: Store::CommitBatch of probe-report deltas (12 observations
// each, the size scripts/bench/collector sends) from 1000 machines, in batches of 100 or 1000
// records, on a SQLite file in a temporary directory (WAL, synchronous=FULL: an fsync per
// batch) and on a durable throwaway PostgreSQL cluster (fsync and synchronous commit on).
// Items per second is records per second that one committer thread can make durable, the
// ceiling of the collector's ingest. Counters, per observation stored: db_B_per_obs, the whole
// database (every table and index: machines, reports, history, delivery ledger);
// history_B_per_obs, the observation history's table and its indexes alone.
// Usage: medic_bench_store_commit [--benchmark_min_time=N] [--benchmark_filter=Sqlite]

#include <sqlite3.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "collector/store/store.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"
#include "tests/support/postgres_fixture.h"
#include "tests/support/process.h"

namespace medic::bench {
namespace {

constexpr int kMachines = 1000;
constexpr int kObservations = 12;

medic::v1::AgentMessage Delta(uint64_t sequence) {
  medic::v1::AgentMessage m;
  m.set_sequence(sequence);
  *m.mutable_sent_at() = common::ToProtoTime(absl::Now());
  medic::v1::ProbeReport* r = m.mutable_delta()->add_reports();
  r->set_probe("cpu");
  *r->mutable_collected_at() = m.sent_at();
  for (int i = 0; i < kObservations; ++i) {
    auto* o = r->add_observations();
    o->set_metric(common::StrCat("cpu.metric_", i));
    o->set_value(i + 0.5);
    o->set_unit("pct");
  }
  return m;
}

// Commits batches until the benchmark has its time; returns the records committed, or 0 after
// SkipWithError.
int64_t CommitBatches(benchmark::State& state, collector::Store& store) {
  const size_t batch_size = static_cast<size_t>(state.range(0));
  std::vector<std::string> ids;
  for (int i = 0; i < kMachines; ++i) {
    medic::v1::Hello hello;
    hello.set_machine_id(common::StrCat("m-", i));
    hello.set_hostname(common::StrCat("ws-", i));
    hello.set_epoch(1);
    if (!store.OpenSession(hello, "127.0.0.1", absl::Now()).ok()) {
      state.SkipWithError("OpenSession failed");
      return 0;
    }
    ids.push_back(hello.machine_id());
  }
  std::vector<uint64_t> sequence(kMachines, 0);
  size_t next = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<medic::v1::AgentMessage> records;
    std::vector<collector::Store::PendingRecord> batch;
    records.reserve(batch_size);
    for (size_t i = 0; i < batch_size; ++i, next = (next + 1) % kMachines) {
      records.push_back(Delta(++sequence[next]));
      batch.push_back({ids[next], 1, &records.back(), absl::Now()});
    }
    state.ResumeTiming();
    for (const absl::Status& s : store.CommitBatch(batch)) {
      if (!s.ok()) {
        state.SkipWithError(std::string(s.message()).c_str());
        return 0;
      }
    }
  }
  const int64_t records = state.iterations() * static_cast<int64_t>(batch_size);
  state.SetItemsProcessed(records);
  return records;
}

// Bytes of the history table(s) and their indexes, whichever schema the file has: dbstat sums
// the pages of every b-tree.
int64_t SqliteHistoryBytes(const std::string& path) {
  sqlite3* db = nullptr;
  int64_t bytes = 0;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db,
                           "SELECT coalesce(sum(d.pgsize), 0) FROM dbstat d JOIN sqlite_master m "
                           "ON d.name = m.name WHERE m.tbl_name IN ('observations', "
                           "'report_history')",
                           -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      bytes = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return bytes;
}

void BM_CommitBatchSqlite(benchmark::State& state) {
  test::TempDir dir;
  const std::string path = dir.File("c.db");
  auto store = collector::OpenSqliteStore(path, {});
  if (!store.ok()) {
    state.SkipWithError(std::string(store.status().message()).c_str());
    return;
  }
  const int64_t records = CommitBatches(state, **store);
  store->reset();  // the last connection checkpoints the WAL into the file
  if (records == 0) return;
  const double observations = static_cast<double>(records) * kObservations;
  state.counters["db_B_per_obs"] = std::filesystem::file_size(path) / observations;
  state.counters["history_B_per_obs"] = SqliteHistoryBytes(path) / observations;
}
BENCHMARK(BM_CommitBatchSqlite)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

// One durable cluster for the process, started on first use.
test::PostgresCluster* Cluster() {
  static absl::StatusOr<std::unique_ptr<test::PostgresCluster>> cluster =
      test::PostgresCluster::Start(/*durable=*/true);
  return cluster.ok() ? cluster->get() : nullptr;
}

double PsqlNumber(const test::PostgresCluster& cluster, const std::string& db,
                  const std::string& sql) {
  absl::StatusOr<std::string> out = cluster.Psql(db, sql);
  double n = 0;
  if (out.ok()) (void)absl::SimpleAtod(absl::StripAsciiWhitespace(*out), &n);
  return n;
}

void BM_CommitBatchPostgres(benchmark::State& state) {
  test::PostgresCluster* cluster = Cluster();
  if (cluster == nullptr) {
    state.SkipWithError("could not start a PostgreSQL cluster (is postgresql installed?)");
    return;
  }
  absl::StatusOr<std::string> uri = cluster->CreateDatabase();
  if (!uri.ok()) {
    state.SkipWithError(std::string(uri.status().message()).c_str());
    return;
  }
  auto store = collector::OpenPostgresStore(*uri, {}, 1);
  if (!store.ok()) {
    state.SkipWithError(std::string(store.status().message()).c_str());
    return;
  }
  const int64_t records = CommitBatches(state, **store);
  store->reset();
  if (records == 0) return;
  const std::string db = uri->substr(uri->rfind('/') + 1);
  (void)cluster->Psql(db, "VACUUM ANALYZE");
  const double observations = static_cast<double>(records) * kObservations;
  state.counters["db_B_per_obs"] =
      PsqlNumber(*cluster, db,
                 "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                 "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND "
                 "c.relkind = 'r'") /
      observations;
  state.counters["history_B_per_obs"] =
      PsqlNumber(*cluster, db,
                 "SELECT coalesce(pg_total_relation_size(to_regclass('observations')), 0) + "
                 "coalesce(pg_total_relation_size(to_regclass('report_history')), 0)") /
      observations;
}
BENCHMARK(BM_CommitBatchPostgres)->Arg(100)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace medic::bench

BENCHMARK_MAIN();
