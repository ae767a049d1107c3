// Ingest throughput and fault-to-ticket latency of one collector on SQLite, one replica on
// PostgreSQL and three replicas on PostgreSQL, measured in one run on this machine.
//
//   medic_bench_replicas [AGENTS=100] [SECONDS=4] [TRIALS=20]
//
// Everything runs here: a durable throwaway PostgreSQL cluster (fsync and synchronous commit
// on, as SQLite's synchronous=FULL), the collectors in this process, simulated agents over
// real gRPC spread over the replicas. Throughput: every agent keeps up to 32 unacknowledged
// deltas (one probe report with 8 observations each) in flight for SECONDS; counted are the
// records the collectors acknowledged (acknowledged = committed). Latency: a host fault raised
// on one agent until the webhook receiver reads the ticket's create event (agent → replica →
// store → leader's engine → ticket → outbox → webhook), with heartbeats flowing.

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "collector/collector.h"
#include "common/log/log.h"
#include "common/strings/str_cat.h"
#include "tests/sim/fleet.h"
#include "tests/support/http_receiver.h"
#include "tests/support/percentile.h"
#include "tests/support/postgres_fixture.h"
#include "tests/support/process.h"

namespace {

using Clock = std::chrono::steady_clock;
using medic::test::Percentile;

struct Figures {
  double records_per_s = 0;
  std::vector<double> latency_ms;
  int lost = 0;
};

Figures Measure(const std::string& db, int replicas, int agents_n, int seconds, int trials,
                medic::test::TempDir& dir, int run) {
  Figures out;
  medic::test::HttpReceiver receiver;
  std::vector<std::unique_ptr<medic::collector::Collector>> collectors;
  std::vector<std::string> addresses;
  for (int r = 0; r < replicas; ++r) {
    medic::v1::CollectorConfig config = medic::collector::DefaultCollectorConfig();
    config.set_listen("127.0.0.1:0");
    config.set_http_listen("");
    config.set_db(db);
    config.set_log_level(medic::v1::LOG_LEVEL_ERROR);
    config.set_replica_name(medic::common::StrCat("bench-", run, "-", r));
    const std::string state = dir.File(medic::common::StrCat("state-", run, "-", r));
    std::filesystem::create_directories(state);
    config.mutable_security()->set_state_dir(state);
    *config.mutable_heartbeat_interval() = medic::common::ToProtoDuration(absl::Seconds(5));
    *config.mutable_offline_after() = medic::common::ToProtoDuration(absl::Seconds(60));
    config.mutable_outbound()->set_webhook_url(receiver.Url("/hook"));
    auto c = medic::collector::Collector::Start(config, /*insecure=*/true);
    if (!c.ok()) {
      std::fprintf(stderr, "cannot start a collector on %s: %s\n", db.c_str(),
                   std::string(c.status().message()).c_str());
      std::exit(1);
    }
    addresses.push_back((*c)->address());
    collectors.push_back(std::move(*c));
  }
  medic::sim::FleetGroup group;
  group.site = "hq";
  group.subnet = "10.0.0.0/16";
  group.dns = {"10.0.0.53"};
  std::vector<std::unique_ptr<medic::sim::SimAgent>> agents;
  const uint64_t epoch = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  for (int i = 0; i < agents_n; ++i) {
    agents.push_back(std::make_unique<medic::sim::SimAgent>(
        medic::common::StrCat("ws-", run, "-", i), group,
        medic::sim::SpreadTarget(addresses, static_cast<size_t>(i)), epoch));
    agents.back()->Connect();
  }
  for (auto& a : agents) {
    const auto start = Clock::now();
    while (a->acked() < 1 && Clock::now() - start < std::chrono::seconds(60)) {
      absl::SleepFor(absl::Milliseconds(2));
    }
  }

  // Throughput.
  medic::v1::ProbeReport report;
  report.set_probe("memory");
  for (int k = 0; k < 8; ++k) {
    auto* o = report.add_observations();
    o->set_metric(medic::common::StrCat("mem.bench_", k));
    o->set_value(k);
  }
  uint64_t acked_before = 0;
  for (auto& a : agents) acked_before += a->acked();
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::seconds(seconds);
  while (Clock::now() < end) {
    for (auto& a : agents) {
      if (a->sent() - a->acked() < 32) a->Report(report);
    }
    absl::SleepFor(absl::Microseconds(200));
  }
  uint64_t acked_after = 0;
  for (auto& a : agents) acked_after += a->acked();
  out.records_per_s = static_cast<double>(acked_after - acked_before) /
                      std::chrono::duration<double>(Clock::now() - t0).count();
  // Let the backlog drain before timing faults.
  for (int i = 0; i < 500; ++i) {
    bool drained = true;
    for (auto& a : agents) drained = drained && a->acked() >= a->sent();
    if (drained) break;
    absl::SleepFor(absl::Milliseconds(20));
  }

  // Fault to ticket.
  std::atomic<bool> stop{false};
  std::thread heartbeats([&] {
    while (!stop) {
      for (size_t i = 0; i < agents.size() && !stop; ++i) {
        agents[i]->Heartbeat(absl::Seconds(5));
        absl::SleepFor(absl::Seconds(5) / static_cast<double>(agents.size()));
      }
    }
  });
  for (int t = 0; t < trials; ++t) {
    medic::v1::Finding f;
    f.set_code("disk.space_low");
    f.set_resource(medic::common::StrCat("/bench/", run, "/", t));
    f.set_severity(medic::v1::SEVERITY_WARNING);
    const auto start = Clock::now();
    agents[static_cast<size_t>(t * 7919) % agents.size()]->Raise(f);
    double ms = -1;
    while (Clock::now() - start < std::chrono::seconds(10) && ms < 0) {
      for (const auto& c : receiver.Calls()) {
        if (c.at >= start && c.body.find(f.resource()) != std::string::npos &&
            c.body.find("\"event\":\"create\"") != std::string::npos) {
          ms = std::chrono::duration<double, std::milli>(c.at - start).count();
        }
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    if (ms < 0) {
      ++out.lost;
    } else {
      out.latency_ms.push_back(ms);
    }
    absl::SleepFor(absl::Milliseconds(30));
  }
  stop = true;
  heartbeats.join();
  for (auto& a : agents) a->Disconnect();
  agents.clear();
  for (auto& c : collectors) c->Shutdown(absl::Seconds(2));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const int agents_n = argc > 1 ? std::atoi(argv[1]) : 100;
  const int seconds = argc > 2 ? std::atoi(argv[2]) : 4;
  const int trials = argc > 3 ? std::atoi(argv[3]) : 20;
  medic::common::InitLogging("bench", medic::v1::LOG_LEVEL_ERROR);
  medic::test::TempDir dir;
  auto cluster = medic::test::PostgresCluster::Start(/*durable=*/true);
  if (!cluster.ok()) {
    std::fprintf(stderr, "%s\n", std::string(cluster.status().message()).c_str());
    return 1;
  }
  struct Setup {
    std::string name;
    std::string db;
    int replicas;
  };
  std::vector<Setup> setups = {{"SQLite, 1 collector", dir.File("c.db"), 1}};
  for (int replicas : {1, 3}) {
    auto db = (*cluster)->CreateDatabase();
    if (!db.ok()) {
      std::fprintf(stderr, "%s\n", std::string(db.status().message()).c_str());
      return 1;
    }
    setups.push_back(
        {medic::common::StrCat("PostgreSQL, ", replicas, " replica", replicas > 1 ? "s" : ""), *db,
         replicas});
  }
  std::printf("%d agents, %ds of deltas (8 observations each, 32 in flight per agent), %d faults\n",
              agents_n, seconds, trials);
  std::printf("%-24s %12s %28s\n", "", "records/s", "fault->webhook ms p50/p99/max");
  int run = 0;
  int lost = 0;
  for (const Setup& s : setups) {
    Figures f = Measure(s.db, s.replicas, agents_n, seconds, trials, dir, run++);
    lost += f.lost;
    std::printf("%-24s %12.0f %10.1f %6.1f %6.1f%s\n", s.name.c_str(), f.records_per_s,
                Percentile(f.latency_ms, 0.5), Percentile(f.latency_ms, 0.99),
                Percentile(f.latency_ms, 1.0),
                f.lost > 0 ? medic::common::StrCat("  (", f.lost, " lost)").c_str() : "");
    std::fflush(stdout);
  }
  // What one stored record costs, for sizing: bytes per row of the history tables, indexes
  // included (the last PostgreSQL run's database). A report_history row is one report, of 8
  // observations here.
  const std::string last = setups.back().db.substr(setups.back().db.rfind('/') + 1);
  for (const char* table : {"report_history", "delivered", "findings"}) {
    auto per_row = (*cluster)->Psql(
        last, medic::common::StrCat("SELECT count(*), pg_total_relation_size('", table,
                                    "') / greatest(count(*), 1) FROM ", table));
    if (per_row.ok()) std::printf("%-13s rows|bytes per row: %s", table, per_row->c_str());
  }
  auto size = (*cluster)->Psql("postgres",
                               "SELECT pg_size_pretty(sum(pg_database_size(datname))) FROM "
                               "pg_database WHERE datname LIKE 'medic_%'");
  if (size.ok()) std::printf("PostgreSQL databases after the run: %s", size->c_str());
  return lost == 0 ? 0 : 1;
}
