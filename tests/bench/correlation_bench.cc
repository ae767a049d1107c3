// From a finding's arrival at the collector to its ticket stored and its webhook sent, with
// thousands of simulated agents connected. Prints p50/p99/max over the trials.
//
//   medic_bench_correlation [AGENTS=2000] [TRIALS=200]
//
// The collector runs in this process (temporary SQLite file, webhook to a local receiver);
// each agent has its own gRPC connection and sends heartbeats. A trial raises a fault and
// waits for the receiver to get the ticket's create event; the time counted starts when the
// agent hands the record to gRPC and ends when the receiver has read the webhook request, so
// it includes the agent→collector hop, the store commit, the engine, the ticket transaction
// and the outbox delivery. Host faults open at once; shared ones open when the third host
// reports (the time is counted from that third report).

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

#include "collector/collector.h"
#include "common/log/log.h"
#include "common/strings/str_cat.h"
#include "tests/sim/fleet.h"
#include "tests/support/http_receiver.h"
#include "tests/support/percentile.h"
#include "tests/support/process.h"

namespace {

using Clock = std::chrono::steady_clock;

using medic::test::Percentile;

}  // namespace

int main(int argc, char** argv) {
  const int agents_n = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int trials = argc > 2 ? std::atoi(argv[2]) : 200;
  medic::common::InitLogging("bench", medic::v1::LOG_LEVEL_ERROR);
  medic::test::TempDir dir;
  medic::test::HttpReceiver receiver;
  medic::v1::CollectorConfig config = medic::collector::DefaultCollectorConfig();
  config.set_listen("127.0.0.1:0");
  config.set_db(dir.File("c.db"));
  config.set_log_level(medic::v1::LOG_LEVEL_ERROR);
  *config.mutable_heartbeat_interval() = medic::common::ToProtoDuration(absl::Seconds(5));
  *config.mutable_offline_after() = medic::common::ToProtoDuration(absl::Seconds(60));
  *config.mutable_correlation()->mutable_window() =
      medic::common::ToProtoDuration(absl::Seconds(30));
  config.mutable_outbound()->set_webhook_url(receiver.Url("/hook"));
  auto collector = medic::collector::Collector::Start(config, /*insecure=*/true);
  if (!collector.ok()) {
    std::fprintf(stderr, "cannot start the collector: %s\n",
                 std::string(collector.status().message()).c_str());
    return 1;
  }
  medic::sim::FleetGroup group;
  group.prefix = "ws";
  group.site = "hq";
  group.subnet = "10.0.0.0/16";
  group.gateway = "10.0.0.1";
  group.dns = {"10.0.0.53"};
  std::vector<std::unique_ptr<medic::sim::SimAgent>> agents;
  for (int i = 0; i < agents_n; ++i) {
    agents.push_back(std::make_unique<medic::sim::SimAgent>(medic::common::StrCat("ws-", i), group,
                                                            (*collector)->address(), 1));
    agents.back()->Connect();
  }
  const auto connect_start = Clock::now();
  for (auto& a : agents) {
    while (a->acked() < 1 && Clock::now() - connect_start < std::chrono::seconds(120)) {
      absl::SleepFor(absl::Milliseconds(5));
    }
  }
  const double connect_s = std::chrono::duration<double>(Clock::now() - connect_start).count();
  std::atomic<bool> stop{false};
  std::thread heartbeats([&] {
    // Spread over the interval, as real agents are.
    while (!stop) {
      for (size_t i = 0; i < agents.size() && !stop; ++i) {
        agents[i]->Heartbeat(absl::Seconds(5));
        absl::SleepFor(absl::Seconds(5) / static_cast<double>(agents.size()));
      }
    }
  });

  std::vector<double> host_ms, shared_ms;
  int lost = 0;
  auto wait_for = [&](const std::string& needle, Clock::time_point t0) -> double {
    const auto deadline = t0 + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      for (const auto& c : receiver.Calls()) {
        if (c.at >= t0 && c.body.find(needle) != std::string::npos &&
            c.body.find("\"event\":\"create\"") != std::string::npos) {
          return std::chrono::duration<double, std::milli>(c.at - t0).count();
        }
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    ++lost;
    return -1;
  };
  for (int t = 0; t < trials; ++t) {
    medic::v1::Finding f;
    if (t % 2 == 0) {
      f.set_code("disk.space_low");
      f.set_resource(medic::common::StrCat("/bench/", t));
      f.set_severity(medic::v1::SEVERITY_WARNING);
      auto& a = agents[static_cast<size_t>(t * 7919) % agents.size()];
      const auto t0 = Clock::now();
      a->Raise(f);
      if (double ms = wait_for(f.resource(), t0); ms >= 0) host_ms.push_back(ms);
    } else {
      f.set_code("net.target_unreachable");
      f.set_resource(medic::common::StrCat("svc-", t, ".corp:443"));
      f.set_severity(medic::v1::SEVERITY_CRITICAL);
      for (int k = 0; k < 2; ++k) agents[static_cast<size_t>(t * 31 + k) % agents.size()]->Raise(f);
      absl::SleepFor(absl::Milliseconds(20));
      const auto t0 = Clock::now();
      agents[static_cast<size_t>(t * 31 + 2) % agents.size()]->Raise(f);
      if (double ms = wait_for(f.resource(), t0); ms >= 0) shared_ms.push_back(ms);
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  stop = true;
  heartbeats.join();
  std::vector<double> all = host_ms;
  all.insert(all.end(), shared_ms.begin(), shared_ms.end());
  std::printf("agents connected: %d (all acknowledged in %.1fs); trials: %d (%d lost)\n", agents_n,
              connect_s, trials, lost);
  std::printf("finding -> ticket stored -> webhook received, ms:\n");
  std::printf("  host fault      p50 %6.1f  p99 %6.1f  max %6.1f  (n=%zu)\n",
              Percentile(host_ms, 0.5), Percentile(host_ms, 0.99), Percentile(host_ms, 1.0),
              host_ms.size());
  std::printf("  shared (3rd)    p50 %6.1f  p99 %6.1f  max %6.1f  (n=%zu)\n",
              Percentile(shared_ms, 0.5), Percentile(shared_ms, 0.99), Percentile(shared_ms, 1.0),
              shared_ms.size());
  std::printf("  all             p50 %6.1f  p99 %6.1f  max %6.1f\n", Percentile(all, 0.5),
              Percentile(all, 0.99), Percentile(all, 1.0));
  for (auto& a : agents) a->Disconnect();
  agents.clear();
  (*collector)->Shutdown(absl::Seconds(2));
  return lost == 0 ? 0 : 1;
}
