// The cost of one printers probe cycle: a private cupsd (tests/support/cups_fixture.h) with
// 3 queues on 2 real IPP printers (ippeveprinter), two queues sharing one device, one job
// printed so the queues have history. Each iteration is one Collect(): CUPS-Get-Printers,
// CUPS-Get-Default and Get-Jobs to the scheduler, then Get-Printer-Attributes to both devices
// in parallel. CPU is the agent process's (all its threads); the scheduler's and printers' own
// CPU is not counted. Needs root.
// Usage: medic_bench_printers [--benchmark_min_time=N]

#include <unistd.h>

#include <cstdio>
#include <memory>

#include "agent/probes/printers/printer_probe.h"
#include "benchmark/benchmark.h"
#include "common/fs/file_system.h"
#include "common/process/command_runner.h"
#include "common/time/clock.h"
#include "medic/v1/config.pb.h"
#include "tests/support/cups_fixture.h"

namespace medic::bench {
namespace {

// Started once for the whole run; nullptr (with a message) when it cannot be.
test::CupsFixture* Fixture() {
  static test::CupsFixture* const kFixture = []() -> test::CupsFixture* {
    auto cups = test::CupsFixture::Start();
    if (!cups.ok()) {
      std::fprintf(stderr, "cannot start the print system: %s\n",
                   std::string(cups.status().message()).c_str());
      return nullptr;
    }
    auto a = (*cups)->StartPrinter("Office");
    auto b = (*cups)->StartPrinter("Hall");
    if (!a.ok() || !b.ok() || !(*cups)->AddQueue("office", *a).ok() ||
        !(*cups)->AddQueue("office-duplex", *a).ok() || !(*cups)->AddQueue("hall", *b).ok() ||
        !(*cups)->Print("office").ok() ||
        !(*cups)->WaitForNoJobs("office", absl::Seconds(10)).ok()) {
      std::fprintf(stderr, "cannot set up the printers\n");
      return nullptr;
    }
    return cups->release();
  }();
  return kFixture;
}

void BM_PrintersCycle(benchmark::State& state) {
  test::CupsFixture* cups = Fixture();
  if (cups == nullptr) {
    state.SkipWithError("no print system (needs root, cups, cups-ipp-utils, dbus-daemon)");
    return;
  }
  medic::v1::AgentConfig config;
  config.mutable_printers()->set_cups_server(cups->server());
  common::RootedFileSystem fs("/");
  common::NoCommandRunner commands;
  common::RealClock clock;
  std::vector<medic::v1::Finding> standing;
  auto probe = agent::NewPrintersProbe();
  size_t devices = 0, queues = 0;
  for (auto _ : state) {
    agent::ProbeContext ctx{fs, commands, clock, config, clock.Now() + absl::Seconds(10), standing};
    auto out = probe->Collect(ctx);
    if (!out.ok()) {
      state.SkipWithError(std::string(out.status().message()).c_str());
      return;
    }
    queues = out->report.printers().queues_size();
    devices = out->report.printers().devices_size();
    benchmark::DoNotOptimize(out);
  }
  state.counters["queues"] = static_cast<double>(queues);
  state.counters["devices"] = static_cast<double>(devices);
}
BENCHMARK(BM_PrintersCycle)->MeasureProcessCPUTime()->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace medic::bench

BENCHMARK_MAIN();
