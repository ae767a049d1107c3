// The collector's single writer: Store::CommitBatch of probe-report deltas (12 observations
// each, the size scripts/bench/collector sends) from 1000 machines, in batches of 100 or 1000
// records, on a SQLite file in a temporary directory (WAL, synchronous=FULL: an fsync per
// batch). Items per second is records per second that one committer thread can make durable,
// the ceiling of the collector's ingest.
// Usage: medic_bench_store_commit [--benchmark_min_time=N]

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "collector/store/store.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"
#include "tests/support/process.h"

namespace medic::bench {
namespace {

constexpr int kMachines = 1000;

medic::v1::AgentMessage Delta(uint64_t sequence) {
  medic::v1::AgentMessage m;
  m.set_sequence(sequence);
  *m.mutable_sent_at() = common::ToProtoTime(absl::Now());
  medic::v1::ProbeReport* r = m.mutable_delta()->add_reports();
  r->set_probe("cpu");
  *r->mutable_collected_at() = m.sent_at();
  for (int i = 0; i < 12; ++i) {
    auto* o = r->add_observations();
    o->set_metric(common::StrCat("cpu.metric_", i));
    o->set_value(i + 0.5);
    o->set_unit("pct");
  }
  return m;
}

void BM_CommitBatch(benchmark::State& state) {
  const size_t batch_size = static_cast<size_t>(state.range(0));
  test::TempDir dir;
  auto store = collector::OpenSqliteStore(dir.File("c.db"), {});
  if (!store.ok()) {
    state.SkipWithError(std::string(store.status().message()).c_str());
    return;
  }
  std::vector<std::string> ids;
  for (int i = 0; i < kMachines; ++i) {
    medic::v1::Hello hello;
    hello.set_machine_id(common::StrCat("m-", i));
    hello.set_hostname(common::StrCat("ws-", i));
    hello.set_epoch(1);
    if (!(*store)->OpenSession(hello, "127.0.0.1", absl::Now()).ok()) {
      state.SkipWithError("OpenSession failed");
      return;
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
    for (const absl::Status& s : (*store)->CommitBatch(batch)) {
      if (!s.ok()) {
        state.SkipWithError(std::string(s.message()).c_str());
        return;
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch_size));
}
BENCHMARK(BM_CommitBatch)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace medic::bench

BENCHMARK_MAIN();
