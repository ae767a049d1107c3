// The battery probe on Linux: /sys/class/power_supply/*/ of type Battery.

#include "agent/probes/hardware/battery_parse.h"
#include "agent/probes/hardware/hardware_probes.h"
#include "agent/probes/probe_util.h"
#include "agent/probes/text.h"

namespace medic::agent {
namespace {

constexpr std::string_view kPowerSupply = "/sys/class/power_supply";

class BatteryProbe : public Probe {
 public:
  std::string_view name() const override { return "battery"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    ProbeOutput output;
    output.report.set_probe(std::string(name()));
    medic::v1::BatteryStatus& body = *output.report.mutable_battery();
    // No power_supply class at all (a VM, a container) is a machine without a battery.
    absl::StatusOr<std::vector<std::string>> supplies = ctx.fs.ListDir(kPowerSupply);
    for (const std::string& supply : supplies.ok() ? *supplies : std::vector<std::string>{}) {
      std::map<std::string, std::string> files;
      for (std::string_view attribute : kBatteryAttributes) {
        std::optional<std::string> text =
            ReadOptional(ctx.fs, common::StrCat(kPowerSupply, "/", supply, "/", attribute));
        if (text) files.emplace(std::string(attribute), *std::move(text));
      }
      std::optional<medic::v1::Battery> battery = ParseBattery(supply, files);
      if (!battery) continue;
      AddObservation(output.report, "battery.capacity_pct", battery->name(),
                     battery->capacity_pct(), "pct");
      if (battery->health_pct() > 0) {
        AddObservation(output.report, "battery.health_pct", battery->name(), battery->health_pct(),
                       "pct");
      }
      *body.add_batteries() = *std::move(battery);
    }
    body.set_battery_present(body.batteries_size() > 0);
    output.findings =
        JudgeBatteries(body, HardwareThresholds::FromConfig(ctx.config.hardware()), ctx.standing);
    return output;
  }
};

}  // namespace

std::unique_ptr<Probe> NewBatteryProbe() { return std::make_unique<BatteryProbe>(); }

}  // namespace medic::agent
