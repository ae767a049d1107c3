// The memory probe on Linux: /proc/meminfo.

#include "agent/probes/hardware/hardware_probes.h"
#include "agent/probes/hardware/memory_parse.h"
#include "agent/probes/probe_util.h"
#include "common/status/status_macros.h"

namespace medic::agent {
namespace {

constexpr std::string_view kMemInfo = "/proc/meminfo";

class MemoryProbe : public Probe {
 public:
  std::string_view name() const override { return "memory"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    ASSIGN_OR_RETURN(medic::v1::MemoryStatus memory, ReadAndParse(ctx.fs, kMemInfo, ParseMemInfo));

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
    return output;
  }
};

}  // namespace

std::unique_ptr<Probe> NewMemoryProbe() { return std::make_unique<MemoryProbe>(); }

}  // namespace medic::agent
