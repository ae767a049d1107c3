// The CPU cost of the agent's fast cycle, on this machine and on fixture trees:
//  - BM_FastCycle: the cpu, memory, filesystems and network probes collected once each (the
//    fast cycle; target <= 0.2 ms CPU);
//  - BM_AllFastProbes: every probe NewProbes() gives that is not `slow`, once each (target
//    <= 1 ms CPU);
//  - BM_Probe/NAME/live: each fast probe alone on this machine, to see where the time goes;
//  - BM_Floor: the bare reads the fast cycle cannot avoid: /proc/stat, /proc/meminfo,
//    /proc/net/dev and statvfs(3) of every mount the filesystems probe reports, with plain
//    open/read/close.
// The probes are made once and collected again and again, as the agent's scheduler does, so
// state a probe keeps between collections counts as it does in the agent. After the table, a
// line per tree gives the ratio fast cycle / floor in CPU time.
// Usage: medic_bench_fast_cycle [--benchmark_min_time=N] [--benchmark_filter=REGEX] ...

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/probes/hardware/hardware_probes.h"
#include "agent/probes/network/network_probes.h"
#include "agent/probes/probe.h"
#include "agent/probes/registry.h"
#include "benchmark/benchmark.h"
#include "common/fs/file_system.h"
#include "common/process/command_runner.h"
#include "common/time/clock.h"
#include "medic/v1/config.pb.h"
#include "tests/support/fixture_file_system.h"

namespace medic::bench {
namespace {

using agent::Probe;
using agent::ProbeContext;
using agent::ProbeOutput;

// Where the probes look: this machine, as the agent reads it (procfs/sysfs files kept open) or
// opening every file for every read (the "reopen" rows, for comparison side by side), or the
// fixture trees (the hardware case for the hardware probes, the network case for the network
// probe, an os case for the OS checks).
enum class Tree { kLive, kLiveReopen, kFixture };

constexpr std::string_view kHardwareCase = "/hardware/server_disk_critical";
constexpr std::string_view kNetworkCase = "/network/server_two_nics_ipv6";
constexpr std::string_view kOsCase = "/os/debian12_workstation";

std::string CaseDir(std::string_view name) { return std::string(MEDIC_FIXTURES) + name.data(); }

// The file systems, clock and runner a tree's probes use, made once per process.
struct Machine {
  std::unique_ptr<common::FileSystem> hardware;
  std::unique_ptr<common::FileSystem> network;
  std::unique_ptr<common::FileSystem> os;
  std::unique_ptr<common::Clock> clock;
  std::unique_ptr<common::CommandRunner> commands;
  medic::v1::AgentConfig config;

  const common::FileSystem& For(std::string_view probe) const {
    if (probe == "network") return *network;
    if (probe == "os" || probe == "reboot" || probe == "crashes") return *os;
    return *hardware;
  }
};

const Machine& GetMachine(Tree tree) {
  static const Machine* const kLive = [] {
    auto* m = new Machine;
    m->hardware = std::make_unique<common::RootedFileSystem>("/");
    m->network = std::make_unique<common::RootedFileSystem>("/");
    m->os = std::make_unique<common::RootedFileSystem>("/");
    m->clock = std::make_unique<common::RealClock>();
    m->commands = std::make_unique<common::RealCommandRunner>();
    return m;
  }();
  static const Machine* const kLiveReopen = [] {
    auto* m = new Machine;
    m->hardware = std::make_unique<common::RootedFileSystem>("/", /*keep_open=*/0);
    m->network = std::make_unique<common::RootedFileSystem>("/", /*keep_open=*/0);
    m->os = std::make_unique<common::RootedFileSystem>("/", /*keep_open=*/0);
    m->clock = std::make_unique<common::RealClock>();
    m->commands = std::make_unique<common::RealCommandRunner>();
    return m;
  }();
  static const Machine* const kFixture = [] {
    auto* m = new Machine;
    m->hardware = std::make_unique<testing::FixtureFileSystem>(CaseDir(kHardwareCase));
    m->network = std::make_unique<testing::FixtureFileSystem>(CaseDir(kNetworkCase));
    m->os = std::make_unique<testing::FixtureFileSystem>(CaseDir(kOsCase));
    m->clock = std::make_unique<common::FakeClock>();
    m->commands = std::make_unique<common::NoCommandRunner>();
    return m;
  }();
  switch (tree) {
    case Tree::kLive:
      return *kLive;
    case Tree::kLiveReopen:
      return *kLiveReopen;
    case Tree::kFixture:
      break;
  }
  return *kFixture;
}

absl::StatusOr<ProbeOutput> CollectOnce(Probe& probe, const Machine& machine) {
  static const std::vector<medic::v1::Finding> kNoStanding;
  const ProbeContext ctx{machine.For(probe.name()),
                         *machine.commands,
                         *machine.clock,
                         machine.config,
                         machine.clock->Now() + agent::kDefaultProbeDeadline,
                         kNoStanding};
  return probe.Collect(ctx);
}

// Collects every probe once per iteration; a probe that fails stops the benchmark, since its
// cost would not be the cost of a collection.
void RunProbes(benchmark::State& state, const Machine& machine,
               std::vector<std::unique_ptr<Probe>>& probes) {
  for (auto _ : state) {
    for (std::unique_ptr<Probe>& probe : probes) {
      absl::StatusOr<ProbeOutput> output = CollectOnce(*probe, machine);
      if (!output.ok()) {
        state.SkipWithError(
            (std::string(probe->name()) + ": " + std::string(output.status().message())).c_str());
        return;
      }
      benchmark::DoNotOptimize(output);
    }
  }
  state.counters["probes"] = static_cast<double>(probes.size());
}

void BM_FastCycle(benchmark::State& state, Tree tree) {
  std::vector<std::unique_ptr<Probe>> probes;
  probes.push_back(agent::NewCpuProbe());
  probes.push_back(agent::NewMemoryProbe());
  probes.push_back(agent::NewFilesystemsProbe());
  probes.push_back(agent::NewNetworkProbe());
  RunProbes(state, GetMachine(tree), probes);
}

// One fast probe alone on the live machine: where the fast cycle's time goes.
void BM_Probe(benchmark::State& state, std::string name) {
  const Machine& machine = GetMachine(Tree::kLive);
  std::vector<std::unique_ptr<Probe>> probes;
  for (agent::ProbeEntry& entry : agent::NewProbes(machine.config)) {
    if (entry.probe->name() == name) probes.push_back(std::move(entry.probe));
  }
  RunProbes(state, machine, probes);
}

void BM_AllFastProbes(benchmark::State& state, Tree tree) {
  const Machine& machine = GetMachine(tree);
  std::vector<std::unique_ptr<Probe>> probes;
  for (agent::ProbeEntry& entry : agent::NewProbes(machine.config)) {
    if (!entry.slow) probes.push_back(std::move(entry.probe));
  }
  RunProbes(state, machine, probes);
}

// Reads a whole file with open/read/close into `buffer`; the bytes read, or -1.
ssize_t BareRead(const std::string& path, std::vector<char>& buffer) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t total = 0;
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n <= 0) break;
    total += n;
  }
  ::close(fd);
  return total;
}

void BM_Floor(benchmark::State& state, Tree tree) {
  const Machine& machine = GetMachine(tree);
  const bool live = tree != Tree::kFixture;
  const std::string hardware_root = live ? "" : CaseDir(kHardwareCase);
  const std::string network_root = live ? "" : CaseDir(kNetworkCase);
  const std::vector<std::string> files = {hardware_root + "/proc/stat",
                                          hardware_root + "/proc/meminfo",
                                          network_root + "/proc/net/dev"};
  // The mounts the filesystems probe reports. A fixture's mount points do not exist here: the
  // fixture floor takes one statvfs of the case folder per mount.
  std::unique_ptr<Probe> filesystems = agent::NewFilesystemsProbe();
  absl::StatusOr<ProbeOutput> output = CollectOnce(*filesystems, machine);
  if (!output.ok()) {
    state.SkipWithError(std::string(output.status().message()).c_str());
    return;
  }
  std::vector<std::string> mounts;
  for (const medic::v1::Filesystem& fs : output->report.filesystems().filesystems()) {
    mounts.push_back(live ? fs.mount_point() : CaseDir(kHardwareCase));
  }
  std::vector<char> buffer(8192);
  for (auto _ : state) {
    for (const std::string& file : files) {
      if (BareRead(file, buffer) < 0) {
        state.SkipWithError(("cannot read " + file).c_str());
        return;
      }
    }
    for (const std::string& mount : mounts) {
      struct statvfs st {};
      benchmark::DoNotOptimize(::statvfs(mount.c_str(), &st));
    }
  }
  state.counters["statvfs"] = static_cast<double>(mounts.size());
}

// The console table, and each benchmark's CPU time per iteration (microseconds) kept by name
// for the ratio lines.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(isatty(STDOUT_FILENO) ? OO_Defaults : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type == Run::RT_Iteration && !run.error_occurred) {
        cpu_us_[run.benchmark_name()] = run.GetAdjustedCPUTime();
      }
    }
  }

  // "fast cycle / floor (live): 12.3x (150.1 us / 12.2 us)" for each tree measured, and what
  // keeping files open saves.
  void PrintRatios() const {
    for (const char* what : {"BM_FastCycle", "BM_AllFastProbes"}) {
      const auto kept = cpu_us_.find(std::string(what) + "/live");
      const auto reopen = cpu_us_.find(std::string(what) + "/live-reopen");
      if (kept == cpu_us_.end() || reopen == cpu_us_.end() || kept->second <= 0) continue;
      std::printf("%s reopening / keeping files open (live): %.2fx CPU (%.1f us / %.1f us)\n", what,
                  reopen->second / kept->second, reopen->second, kept->second);
    }
    for (const char* tree : {"live", "fixture"}) {
      for (const char* what : {"BM_FastCycle", "BM_AllFastProbes"}) {
        const auto probes = cpu_us_.find(std::string(what) + "/" + tree);
        const auto floor = cpu_us_.find(std::string("BM_Floor/") + tree);
        if (probes == cpu_us_.end() || floor == cpu_us_.end() || floor->second <= 0) continue;
        std::printf("%s / floor (%s): %.1fx CPU (%.1f us / %.1f us)\n", what, tree,
                    probes->second / floor->second, probes->second, floor->second);
      }
    }
  }

 private:
  std::map<std::string, double> cpu_us_;
};

void Register() {
  for (agent::ProbeEntry& entry : agent::NewProbes(medic::v1::AgentConfig())) {
    if (entry.slow) continue;
    const std::string name(entry.probe->name());
    benchmark::RegisterBenchmark(("BM_Probe/" + name + "/live").c_str(), BM_Probe, name)
        ->Unit(benchmark::kMicrosecond);
  }
  for (const auto& [tree, suffix] : {std::pair{Tree::kLive, "live"},
                                     {Tree::kLiveReopen, "live-reopen"},
                                     {Tree::kFixture, "fixture"}}) {
    const std::string name = suffix;
    benchmark::RegisterBenchmark(("BM_FastCycle/" + name).c_str(), BM_FastCycle, tree)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("BM_AllFastProbes/" + name).c_str(), BM_AllFastProbes, tree)
        ->Unit(benchmark::kMicrosecond);
    if (tree == Tree::kLiveReopen) continue;  // the same floor as live
    benchmark::RegisterBenchmark(("BM_Floor/" + name).c_str(), BM_Floor, tree)
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace
}  // namespace medic::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  medic::bench::Register();
  medic::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}
