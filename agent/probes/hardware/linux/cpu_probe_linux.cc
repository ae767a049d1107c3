// The cpu probe on Linux: /proc/stat, /proc/loadavg, /proc/cpuinfo, /proc/pressure/cpu.

#include <optional>

#include "agent/probes/hardware/cpu_parse.h"
#include "agent/probes/hardware/hardware_probes.h"
#include "agent/probes/hardware/memory_parse.h"
#include "agent/probes/probe_util.h"
#include "common/status/status_macros.h"

namespace medic::agent {
namespace {

constexpr std::string_view kProcStat = "/proc/stat";
constexpr std::string_view kLoadAvg = "/proc/loadavg";
constexpr std::string_view kCpuInfo = "/proc/cpuinfo";
constexpr std::string_view kPressure = "/proc/pressure/cpu";

class CpuProbe : public Probe {
 public:
  std::string_view name() const override { return "cpu"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    ASSIGN_OR_RETURN(const ProcStat stat, ReadAndParse(ctx.fs, kProcStat, ParseProcStat));
    ASSIGN_OR_RETURN(const LoadAvg load, ReadAndParse(ctx.fs, kLoadAvg, ParseLoadAvg));
    ASSIGN_OR_RETURN(std::optional<medic::v1::Pressure> pressure,
                     ReadAndParseOptional(ctx.fs, kPressure, ParsePressure));

    ProbeOutput output;
    output.report.set_probe(std::string(name()));
    medic::v1::CpuStatus& cpu = *output.report.mutable_cpu();
    cpu.set_logical_cores(static_cast<uint32_t>(stat.cores.size()));
    // The model cannot change while the machine runs, and /proc/cpuinfo is long and costly for
    // the kernel to write (a block per CPU): read it until it parses once, and after that only
    // when the cores have to be counted there.
    if (!model_ || cpu.logical_cores() == 0) {
      if (std::optional<std::string> info_text = ReadOptional(ctx.fs, kCpuInfo)) {
        if (absl::StatusOr<CpuInfo> info = ParseCpuInfo(*info_text); info.ok()) {
          model_ = std::move(info->model);
          // Kernels built without per-cpu lines in /proc/stat are rare; count cpuinfo then.
          if (cpu.logical_cores() == 0) cpu.set_logical_cores(info->processors);
        }
      }
    }
    if (model_) cpu.set_model(*model_);
    const CpuUsage usage = ComputeCpuUsage(previous_.value_or(CpuTimes{}), stat.total);
    previous_ = stat.total;
    cpu.set_usage_pct(usage.usage_pct);
    cpu.set_iowait_pct(usage.iowait_pct);
    cpu.set_steal_pct(usage.steal_pct);
    cpu.set_load1(load.load1);
    cpu.set_load5(load.load5);
    cpu.set_load15(load.load15);
    cpu.set_running_tasks(load.running_tasks);
    cpu.set_total_tasks(load.total_tasks);

    AddObservation(output.report, "cpu.usage_pct", "", usage.usage_pct, "pct");
    AddObservation(output.report, "cpu.iowait_pct", "", usage.iowait_pct, "pct");
    AddObservation(output.report, "cpu.load1", "", load.load1, "count");
    if (pressure) {
      *cpu.mutable_pressure() = *std::move(pressure);
      AddObservation(output.report, "cpu.psi_some_avg60", "", cpu.pressure().some_avg60(), "pct");
    }
    output.findings =
        JudgeCpuLoad(cpu, HardwareThresholds::FromConfig(ctx.config.hardware()), ctx.standing);
    return output;
  }

 private:
  std::optional<CpuTimes> previous_;  // the aggregate line of the previous collection
  std::optional<std::string> model_;  // from the first /proc/cpuinfo that parsed
};

}  // namespace

std::unique_ptr<Probe> NewCpuProbe() { return std::make_unique<CpuProbe>(); }

}  // namespace medic::agent
