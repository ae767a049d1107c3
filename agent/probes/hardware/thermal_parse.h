#pragma once

// Pure logic of the thermal probe: hwmon and thermal-zone readings, throttle counters, and the
// cpu.overheat judgement. No I/O; builds on every platform.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/probes/hardware/hardware_thresholds.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

// A sysfs temperature in millidegrees Celsius ("54000\n") as °C; nullopt when it is not an
// integer (a sensor that failed to read gives an error, not a number).
std::optional<double> ParseMilliCelsius(std::string_view text);

// Whether a chip (hwmon name or thermal zone type) measures the CPU: coretemp, k10temp,
// zenpower, x86_pkg_temp, or any name containing "cpu" (cpu_thermal on ARM boards).
bool IsCpuChip(std::string_view chip);

// One temperature as read from sysfs, before it becomes a report entry.
struct TemperatureReading {
  std::string chip;   // hwmon "name" or thermal zone "type"
  std::string label;  // temp*_label, else "temp1"; the zone's folder for thermal zones
  std::optional<std::string> input, crit, max;  // raw file contents, nullopt when absent
};

// The report entries for `readings`, in order: name "<chip>/<label>" (a name seen before gets
// " #2", " #3"...), °C from millidegrees; readings whose input is missing or not a number are
// dropped, and so are unparseable crit/max (left 0).
std::vector<medic::v1::TemperatureSensor> ToSensors(
    const std::vector<TemperatureReading>& readings);

// One logical CPU's thermal_throttle counters.
struct CpuThrottle {
  std::string package_id;  // topology/physical_package_id; "" when unknown
  std::string core_id;     // topology/core_id; "" when unknown (then each CPU counts alone)
  std::optional<uint64_t> core_count;     // core_throttle_count
  std::optional<uint64_t> package_count;  // package_throttle_count
};

// Sets status->core_throttle_count (summed over physical cores: hyperthread siblings show the
// same core's count) and package_throttle_count (summed over distinct package ids; every CPU of
// a package shows the same count) when any CPU has them.
void SetThrottleCounts(const std::vector<CpuThrottle>& cpus, medic::v1::ThermalStatus* status);

inline constexpr std::string_view kCpuOverheat = "cpu.overheat";

// The cpu.overheat findings standing after this collection, given the previous collection's
// status (nullptr on the first) and the findings standing before (other codes ignored).
//  - A CPU sensor raises one (resource = its name; on a chip with "Package…" sensors only those
//    are judged, a package being as hot as its hottest core) at cpu_overheat_celsius, or within
//    cpu_overheat_margin_celsius of its crit mark (its max when it has no crit); critical at or
//    above that crit/max, warning below. A standing one holds until the sensor is
//    kOverheatClearCelsius below the mark that raised it.
//  - Throttle counters that rose since `previous` raise it on the CPU package sensor (the first
//    CPU sensor labelled "Package…", else the hottest CPU sensor, else resource "cpu"), warning
//    at least.
// Non-CPU sensors (disks, Wi-Fi, ACPI zones) are reported but never judged. Summary:
// "CPU sensor coretemp/Package id 0 at 97 °C (crit 100 °C), throttled 1,204 times since boot";
// evidence: celsius, crit_celsius, max_celsius, threshold_celsius, margin_celsius,
// core_throttle_count, package_throttle_count, throttled_since_last (those that apply).
std::vector<medic::v1::Finding> JudgeThermal(const medic::v1::ThermalStatus& status,
                                             const medic::v1::ThermalStatus* previous,
                                             const HardwareThresholds& thresholds,
                                             const std::vector<medic::v1::Finding>& standing);

// `value` with thousands separators: 1204 → "1,204".
std::string GroupThousands(uint64_t value);

}  // namespace medic::agent
