#pragma once

// Pure logic of the battery probe: one power_supply folder's attributes, and the
// battery.degraded judgement. No I/O; builds on every platform.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/probes/hardware/hardware_thresholds.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

// The attribute files of /sys/class/power_supply/<name>/ the battery probe reads.
inline constexpr std::string_view kBatteryAttributes[] = {"type",        "present",
                                                          "status",      "capacity",
                                                          "energy_full", "energy_full_design",
                                                          "charge_full", "charge_full_design",
                                                          "cycle_count", "manufacturer",
                                                          "model_name",  "scope"};

// The battery a power_supply folder describes, from its attribute files' contents (missing
// files absent from the map; values may end in a newline). nullopt when it is not the machine's
// battery: type other than "Battery" (AC adapters, USB ports), scope "Device" (a wireless
// mouse's or headset's battery), or present=0 (an empty bay). energy_* (µWh) is preferred over
// charge_* (µAh); health_pct = full / full_design when both are known and the design is
// non-zero. Unparseable numbers are left 0.
std::optional<medic::v1::Battery> ParseBattery(std::string_view name,
                                               const std::map<std::string, std::string>& files);

inline constexpr std::string_view kBatteryDegraded = "battery.degraded";

// The battery.degraded findings standing after this collection (resource = battery name), given
// those standing before (other codes ignored): warning below battery_degraded_pct of design,
// critical below battery_critical_pct; a standing one holds, with its severity, until health is
// kHardwareClearMarginPct above the mark that raised it. Batteries without a known health are
// not judged. Summary: "Battery BAT0 holds 62.0% of its design capacity (35.3 of 57 Wh), 412
// cycles"; evidence: health_pct, full, full_design, unit, cycle_count, threshold_pct.
std::vector<medic::v1::Finding> JudgeBatteries(const medic::v1::BatteryStatus& status,
                                               const HardwareThresholds& thresholds,
                                               const std::vector<medic::v1::Finding>& standing);

}  // namespace medic::agent
