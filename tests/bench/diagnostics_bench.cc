// Live diagnostics latency, two measurements:
//  1. `health` on one real medic-agent over loopback: the time from RunDiagnostic to its
//     result at the technician's client, less the collection itself (the result's `took`):
//     what routing a request down the agent's stream and its result back costs. p50/p99.
//  2. a `dns` fan-out (selector all) to AGENTS simulated agents, each on its own gRPC
//     connection: from the call to the stream's end (every result in). Per round, and median.
//
//   medic_bench_diagnostics BIN_DIR [AGENTS=1000] [TRIALS=200] [ROUNDS=5]
//
// The collector runs in this process (temporary SQLite file); the agent is the real binary
// from BIN_DIR with only the memory and filesystems probes (nothing leaves the machine).

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "collector/collector.h"
#include "common/log/log.h"
#include "common/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "medic/v1/technician.grpc.pb.h"
#include "tests/sim/fleet.h"
#include "tests/support/percentile.h"
#include "tests/support/process.h"

namespace {

using Clock = std::chrono::steady_clock;

using medic::test::Percentile;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: medic_bench_diagnostics BIN_DIR [AGENTS] [TRIALS] [ROUNDS]\n");
    return 2;
  }
  const std::string bin = argv[1];
  const int agents_n = argc > 2 ? std::atoi(argv[2]) : 1000;
  const int trials = argc > 3 ? std::atoi(argv[3]) : 200;
  const int rounds = argc > 4 ? std::atoi(argv[4]) : 5;
  medic::common::InitLogging("bench", medic::v1::LOG_LEVEL_ERROR);
  medic::test::TempDir dir;
  medic::v1::CollectorConfig config = medic::collector::DefaultCollectorConfig();
  config.set_listen("127.0.0.1:0");
  config.set_db(dir.File("c.db"));
  config.set_log_level(medic::v1::LOG_LEVEL_ERROR);
  *config.mutable_offline_after() = medic::common::ToProtoDuration(absl::Seconds(120));
  auto collector = medic::collector::Collector::Start(config, /*insecure=*/true);
  if (!collector.ok()) {
    std::fprintf(stderr, "cannot start the collector: %s\n",
                 std::string(collector.status().message()).c_str());
    return 1;
  }
  const std::string address = (*collector)->address();
  auto stub = medic::v1::TechnicianService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));

  // 1. health on a real agent.
  medic::test::WriteFile(dir.File("a.yaml"), "network:\n  dns_servers: [\"127.0.0.1\"]\n");
  medic::test::Process agent(
      {bin + "/medic-agent", "--insecure", "--config", dir.File("a.yaml"), "--collector", address,
       "--state-dir", dir.File("state"), "--hostname", "ws-real", "--probes",
       "memory,filesystems,cpu", "--log-level", "warning"},
      dir.path(), "agent");
  std::vector<double> overhead_ms, total_ms, took_ms;
  for (int i = 0; i < 100; ++i) {
    medic::v1::ListMachinesResponse machines;
    grpc::ClientContext context;
    stub->ListMachines(&context, medic::v1::ListMachinesRequest(), &machines);
    if (machines.machines_size() > 0 &&
        machines.machines(0).state() == medic::v1::MACHINE_STATE_ONLINE) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  for (int i = 0; i < trials; ++i) {
    medic::v1::RunDiagnosticRequest request;
    request.mutable_selector()->add_hosts("ws-real");
    request.set_check(medic::v1::DIAGNOSTIC_CHECK_HEALTH);
    grpc::ClientContext context;
    const auto start = Clock::now();
    auto reader = stub->RunDiagnostic(&context, request);
    medic::v1::DiagnosticResult result;
    bool got = reader->Read(&result);
    const double total = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    while (reader->Read(&result)) {
    }
    if (!reader->Finish().ok() || !got ||
        result.outcome() == medic::v1::DIAGNOSTIC_OUTCOME_OFFLINE) {
      std::fprintf(stderr, "health trial %d failed: %s\n", i, result.summary().c_str());
      return 1;
    }
    const double took = absl::ToDoubleMilliseconds(medic::common::FromProtoDuration(result.took()));
    total_ms.push_back(total);
    took_ms.push_back(took);
    overhead_ms.push_back(total - took);
  }
  std::printf(
      "health on one real agent over loopback, %d trials: beyond the collection p50 %.2f ms, "
      "p99 %.2f ms (target p50 <= 20 ms); the collection itself p50 %.2f ms; end to end p50 "
      "%.2f ms\n",
      trials, Percentile(overhead_ms, 0.5), Percentile(overhead_ms, 0.99), Percentile(took_ms, 0.5),
      Percentile(total_ms, 0.5));
  agent.Stop(SIGTERM);

  // 2. dns fan-out to simulated agents.
  medic::sim::FleetGroup group;
  group.prefix = "sim";
  group.site = "hq";
  group.subnet = "10.0.0.0/16";
  group.dns = {"10.0.0.53"};
  std::vector<std::unique_ptr<medic::sim::SimAgent>> agents;
  for (int i = 0; i < agents_n; ++i) {
    agents.push_back(std::make_unique<medic::sim::SimAgent>(medic::common::StrCat("sim-", i), group,
                                                            address, 1));
    agents.back()->Connect();
  }
  const auto connect_start = Clock::now();
  for (auto& a : agents) {
    while (a->acked() < 1 && Clock::now() - connect_start < std::chrono::seconds(120)) {
      absl::SleepFor(absl::Milliseconds(5));
    }
  }
  std::vector<double> fanout_s;
  for (int round = 0; round < rounds; ++round) {
    medic::v1::RunDiagnosticRequest request;
    request.mutable_selector()->set_site("hq");
    request.set_check(medic::v1::DIAGNOSTIC_CHECK_DNS);
    (*request.mutable_params())["name"] = "intranet.corp";
    *request.mutable_deadline() = medic::common::ToProtoDuration(absl::Seconds(10));
    grpc::ClientContext context;
    const auto start = Clock::now();
    auto reader = stub->RunDiagnostic(&context, request);
    medic::v1::DiagnosticResult result;
    int passed = 0, other = 0;
    while (reader->Read(&result)) {
      (result.outcome() == medic::v1::DIAGNOSTIC_OUTCOME_PASSED ? passed : other)++;
    }
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    grpc::Status status = reader->Finish();
    if (!status.ok()) {
      std::fprintf(stderr, "fan-out failed: %s\n", status.error_message().c_str());
      return 1;
    }
    std::printf("dns fan-out round %d: %d agents answered (%d other) in %.3f s\n", round + 1,
                passed, other, s);
    fanout_s.push_back(s);
  }
  std::printf("dns fan-out to %d simulated agents: median %.3f s, worst %.3f s (target <= 2 s)\n",
              agents_n, Percentile(fanout_s, 0.5), Percentile(fanout_s, 1.0));
  for (auto& a : agents) a->Disconnect();
  (*collector)->Shutdown(absl::Seconds(1));
  return 0;
}
