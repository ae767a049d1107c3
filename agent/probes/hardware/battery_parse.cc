#include "agent/probes/hardware/battery_parse.h"

#include <cmath>
#include <cstdint>

#include "absl/strings/str_format.h"
#include "agent/probes/hardware/hardware_util.h"
#include "agent/probes/text.h"

namespace medic::agent {
namespace {

std::string_view Get(const std::map<std::string, std::string>& files, std::string_view key) {
  auto it = files.find(std::string(key));
  return it == files.end() ? std::string_view() : Trim(it->second);
}

uint64_t Number(const std::map<std::string, std::string>& files, std::string_view key) {
  uint64_t value = 0;
  return ParseInt(Get(files, key), &value) ? value : 0;
}

// "35.3 of 57 Wh" from µWh, "3100 of 4400 mAh" from µAh.
std::string CapacityText(const medic::v1::Battery& battery) {
  if (battery.unit() == "uWh") {
    return absl::StrFormat("%g of %g Wh", std::round(battery.full() / 1e5) / 10,
                           std::round(battery.full_design() / 1e5) / 10);
  }
  return absl::StrFormat("%d of %d mAh", battery.full() / 1000, battery.full_design() / 1000);
}

}  // namespace

std::optional<medic::v1::Battery> ParseBattery(std::string_view name,
                                               const std::map<std::string, std::string>& files) {
  if (Get(files, "type") != "Battery" || Get(files, "scope") == "Device" ||
      Get(files, "present") == "0") {
    return std::nullopt;
  }
  medic::v1::Battery battery;
  battery.set_name(std::string(name));
  battery.set_manufacturer(std::string(Get(files, "manufacturer")));
  battery.set_model(std::string(Get(files, "model_name")));
  battery.set_status(std::string(Get(files, "status")));
  battery.set_capacity_pct(static_cast<uint32_t>(Number(files, "capacity")));
  battery.set_cycle_count(static_cast<uint32_t>(Number(files, "cycle_count")));
  if (files.contains("energy_full") || files.contains("energy_full_design")) {
    battery.set_unit("uWh");
    battery.set_full(Number(files, "energy_full"));
    battery.set_full_design(Number(files, "energy_full_design"));
  } else if (files.contains("charge_full") || files.contains("charge_full_design")) {
    battery.set_unit("uAh");
    battery.set_full(Number(files, "charge_full"));
    battery.set_full_design(Number(files, "charge_full_design"));
  }
  if (battery.full() > 0 && battery.full_design() > 0) {
    battery.set_health_pct(Pct(battery.full(), battery.full_design()));
  }
  return battery;
}

std::vector<medic::v1::Finding> JudgeBatteries(const medic::v1::BatteryStatus& status,
                                               const HardwareThresholds& thresholds,
                                               const std::vector<medic::v1::Finding>& standing) {
  std::vector<medic::v1::Finding> findings;
  for (const medic::v1::Battery& battery : status.batteries()) {
    if (battery.health_pct() <= 0) continue;
    const medic::v1::Finding* previous =
        StandingFinding(standing, kBatteryDegraded, battery.name());
    const bool was_critical =
        previous != nullptr && previous->severity() == medic::v1::SEVERITY_CRITICAL;
    const double health = battery.health_pct();
    medic::v1::Severity severity;
    double mark;
    if (health < thresholds.battery_critical_pct + (was_critical ? kHardwareClearMarginPct : 0)) {
      severity = medic::v1::SEVERITY_CRITICAL;
      mark = thresholds.battery_critical_pct;
    } else if (health < thresholds.battery_degraded_pct +
                            (previous != nullptr ? kHardwareClearMarginPct : 0)) {
      severity = medic::v1::SEVERITY_WARNING;
      mark = thresholds.battery_degraded_pct;
    } else {
      continue;
    }
    medic::v1::Finding& finding = findings.emplace_back();
    finding.set_code(std::string(kBatteryDegraded));
    finding.set_severity(severity);
    finding.set_resource(battery.name());
    std::string summary = common::StrCat("Battery ", battery.name(), " holds ", PctText(health),
                                         "% of its design capacity (", CapacityText(battery), ")");
    if (battery.cycle_count() > 0)
      common::StrAppend(&summary, ", ", battery.cycle_count(), " cycles");
    finding.set_summary(summary);
    auto& evidence = *finding.mutable_evidence();
    evidence["health_pct"] = PctText(health);
    evidence["full"] = common::StrCat(battery.full());
    evidence["full_design"] = common::StrCat(battery.full_design());
    evidence["unit"] = battery.unit();
    evidence["cycle_count"] = common::StrCat(battery.cycle_count());
    evidence["threshold_pct"] = absl::StrFormat("%g", mark);
  }
  return findings;
}

}  // namespace medic::agent
