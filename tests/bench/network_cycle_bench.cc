// The CPU cost of a network cycle: the connectivity probe's active checks (gateway pings, one
// DNS query per server and test name, the targets) and the passive network probe, each run N
// times in this process, with getrusage(RUSAGE_SELF) user + system time around the runs.
// scripts/bench/network runs it inside a test network of namespaces; it reads its agent config
// (AgentConfig YAML) from --config so the checks point at that network.
//
// Usage: medic_bench_network_cycle --config agent.yaml [--cycles 50]

#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "agent/probes/network/network_probes.h"
#include "agent/probes/probe.h"
#include "common/config/yaml_proto.h"
#include "common/fs/file_system.h"
#include "common/process/command_runner.h"
#include "common/time/clock.h"
#include "medic/v1/config.pb.h"

namespace {

// CLOCK_PROCESS_CPUTIME_ID is exact (the scheduler's own accounting); getrusage's split into
// user and system time is sampled at the timer tick, so it is only indicative.
struct Cpu {
  double user = 0;
  double sys = 0;
  double total = 0;
};

Cpu CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return {usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6,
          usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6, now.tv_sec + now.tv_nsec / 1e9};
}

// Runs `probe` `cycles` times; prints CPU and wall time per cycle and how the last run went.
void Measure(medic::agent::Probe& probe, int cycles, const medic::v1::AgentConfig& config) {
  const medic::common::RootedFileSystem fs("/");
  const medic::common::RealCommandRunner commands;
  const medic::common::Clock& clock = medic::common::RealClock::Get();
  const std::vector<medic::v1::Finding> standing;
  size_t findings = 0;
  std::string error;
  const Cpu cpu_start = CpuSeconds();
  const auto wall_start = std::chrono::steady_clock::now();
  for (int i = 0; i < cycles; ++i) {
    medic::agent::ProbeContext ctx{fs,      commands, clock, config, clock.Now() + absl::Seconds(5),
                                   standing};
    absl::StatusOr<medic::agent::ProbeOutput> output = probe.Collect(ctx);
    if (!output.ok()) {
      error = std::string(output.status().message());
    } else {
      findings = output->findings.size();
    }
  }
  const Cpu cpu_end = CpuSeconds();
  const double user = cpu_end.user - cpu_start.user;
  const double sys = cpu_end.sys - cpu_start.sys;
  const double total = cpu_end.total - cpu_start.total;
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  std::printf(
      "%-13s %4d cycles  CPU %7.1f us/cycle (getrusage: user %6.1f + sys %6.1f)  wall %6.1f "
      "ms/cycle  "
      "findings %zu%s%s\n",
      std::string(probe.name()).c_str(), cycles, total / cycles * 1e6, user / cycles * 1e6,
      sys / cycles * 1e6, wall / cycles * 1e3, findings,
      error.empty() ? "" : "  error: ", error.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_file;
  int cycles = 50;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--config") {
      config_file = argv[i + 1];
    } else if (flag == "--cycles") {
      cycles = std::atoi(argv[i + 1]);
    }
  }
  if (config_file.empty() || cycles <= 0) {
    std::fprintf(stderr, "usage: %s --config agent.yaml [--cycles N]\n", argv[0]);
    return 2;
  }
  medic::v1::AgentConfig config;
  if (absl::Status s = medic::common::MergeYamlFile(config_file, &config); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 2;
  }
  std::unique_ptr<medic::agent::Probe> connectivity = medic::agent::NewConnectivityProbe();
  std::unique_ptr<medic::agent::Probe> network = medic::agent::NewNetworkProbe();
  Measure(*connectivity, cycles, config);
  // The passive probe takes microseconds: more runs for a stable figure.
  Measure(*network, cycles * 20, config);
  return 0;
}
