// The memory probe on Linux: /proc/meminfo, /proc/pressure/memory, /proc/vmstat.

#include <optional>

#include "agent/probes/hardware/hardware_probes.h"
#include "agent/probes/hardware/memory_parse.h"
#include "agent/probes/probe_util.h"
#include "common/status/status_macros.h"

namespace medic::agent {
namespace {

constexpr std::string_view kMemInfo = "/proc/meminfo";
constexpr std::string_view kPressure = "/proc/pressure/memory";
constexpr std::string_view kVmstat = "/proc/vmstat";

class MemoryProbe : public Probe {
 public:
  std::string_view name() const override { return "memory"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    ASSIGN_OR_RETURN(medic::v1::MemoryStatus memory, ReadAndParse(ctx.fs, kMemInfo, ParseMemInfo));
    // PSI is absent before 5.2 and when booted with psi=0; a file that is there must parse.
    ASSIGN_OR_RETURN(std::optional<medic::v1::Pressure> pressure,
                     ReadAndParseOptional(ctx.fs, kPressure, ParsePressure));
    if (pressure) *memory.mutable_pressure() = *std::move(pressure);
    if (std::optional<std::string> vmstat = ReadOptional(ctx.fs, kVmstat)) {
      if (std::optional<uint64_t> kills = ParseOomKills(*vmstat)) memory.set_oom_kills(*kills);
    }

    ProbeOutput output;
    output.report.set_probe(std::string(name()));
    *output.report.mutable_memory() = std::move(memory);
    const medic::v1::MemoryStatus& body = output.report.memory();
    AddObservation(output.report, "memory.available_bytes", "",
                   static_cast<double>(body.available_bytes()), "bytes");
    if (body.swap_total_bytes() > 0) {
      AddObservation(output.report, "memory.swap_free_bytes", "",
                     static_cast<double>(body.swap_free_bytes()), "bytes");
    }
    if (body.has_pressure()) {
      AddObservation(output.report, "memory.psi_some_avg60", "", body.pressure().some_avg60(),
                     "pct");
      AddObservation(output.report, "memory.psi_full_avg60", "", body.pressure().full_avg60(),
                     "pct");
    }
    if (body.has_oom_kills()) {
      AddObservation(output.report, "memory.oom_kills", "", static_cast<double>(body.oom_kills()),
                     "count");
    }
    output.findings =
        JudgeMemory(body, HardwareThresholds::FromConfig(ctx.config.hardware()), ctx.standing);
    return output;
  }
};

}  // namespace

std::unique_ptr<Probe> NewMemoryProbe() { return std::make_unique<MemoryProbe>(); }

}  // namespace medic::agent
