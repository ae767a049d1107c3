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
#include "common/status/status_macros.h"
#include "common/time/clock.h"
#include "medic/v1/config.pb.h"
#include "tests/support/cups_fixture.h"

namespace medic::bench {
namespace {

// The print system every iteration asks: started by main() before the benchmarks run and
// stopped after them, so no cupsd or printer outlives the run.
test::CupsFixture* g_cups = nullptr;

absl::StatusOr<std::unique_ptr<test::CupsFixture>> StartPrintSystem() {
  ASSIGN_OR_RETURN(std::unique_ptr<test::CupsFixture> cups, test::CupsFixture::Start());
  ASSIGN_OR_RETURN(std::string office, cups->StartPrinter("Office"));
  ASSIGN_OR_RETURN(std::string hall, cups->StartPrinter("Hall"));
  RETURN_IF_ERROR(cups->AddQueue("office", office));
  RETURN_IF_ERROR(cups->AddQueue("office-duplex", office));
  RETURN_IF_ERROR(cups->AddQueue("hall", hall));
  RETURN_IF_ERROR(cups->Print("office").status());
  RETURN_IF_ERROR(cups->WaitForNoJobs("office", absl::Seconds(10)));
  return cups;
}

void BM_PrintersCycle(benchmark::State& state) {
  test::CupsFixture* cups = g_cups;
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

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  absl::StatusOr<std::unique_ptr<medic::test::CupsFixture>> cups = medic::bench::StartPrintSystem();
  if (!cups.ok()) {
    std::fprintf(stderr, "cannot start the print system: %s\n",
                 std::string(cups.status().message()).c_str());
    return 1;
  }
  medic::bench::g_cups = cups->get();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;  // *cups stops cupsd, the printers and the bus
}
