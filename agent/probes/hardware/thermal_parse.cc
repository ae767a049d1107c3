#include "agent/probes/hardware/thermal_parse.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/str_format.h"
#include "agent/probes/hardware/hardware_util.h"
#include "agent/probes/text.h"

namespace medic::agent {
namespace {

// "97" or "97.5": temperatures as summaries show them.
std::string Celsius(double value) { return absl::StrFormat("%g", std::round(value * 10) / 10); }

uint64_t TotalThrottles(const medic::v1::ThermalStatus& status) {
  return status.core_throttle_count() + status.package_throttle_count();
}

// "coretemp" of "coretemp/Package id 0"; the label after the first slash.
std::string_view ChipOf(std::string_view name) { return name.substr(0, name.find('/')); }
std::string_view LabelOf(std::string_view name) {
  const size_t slash = name.find('/');
  return slash == std::string_view::npos ? std::string_view() : name.substr(slash + 1);
}

// The sensor the throttle counters are pinned on.
std::string PackageSensor(const medic::v1::ThermalStatus& status) {
  const medic::v1::TemperatureSensor* hottest = nullptr;
  for (const medic::v1::TemperatureSensor& sensor : status.sensors()) {
    if (!sensor.cpu()) continue;
    const size_t slash = sensor.name().find('/');
    if (slash != std::string::npos && StartsWith(sensor.name().substr(slash + 1), "Package")) {
      return sensor.name();
    }
    if (hottest == nullptr || sensor.celsius() > hottest->celsius()) hottest = &sensor;
  }
  return hottest != nullptr ? hottest->name() : "cpu";
}

}  // namespace

std::optional<double> ParseMilliCelsius(std::string_view text) {
  int64_t millis = 0;
  if (!ParseInt(Trim(text), &millis)) return std::nullopt;
  return static_cast<double>(millis) / 1000.0;
}

bool IsCpuChip(std::string_view chip) {
  return chip == "coretemp" || chip == "k10temp" || chip == "zenpower" || chip == "x86_pkg_temp" ||
         Contains(chip, "cpu");
}

std::vector<medic::v1::TemperatureSensor> ToSensors(
    const std::vector<TemperatureReading>& readings) {
  std::vector<medic::v1::TemperatureSensor> sensors;
  std::map<std::string, int> seen;
  for (const TemperatureReading& reading : readings) {
    if (!reading.input) continue;
    std::optional<double> celsius = ParseMilliCelsius(*reading.input);
    if (!celsius) continue;
    medic::v1::TemperatureSensor& sensor = sensors.emplace_back();
    std::string name = common::StrCat(reading.chip, "/", reading.label);
    const int count = ++seen[name];
    if (count > 1) common::StrAppend(&name, " #", count);
    sensor.set_name(name);
    sensor.set_celsius(*celsius);
    if (reading.crit) sensor.set_crit_celsius(ParseMilliCelsius(*reading.crit).value_or(0));
    if (reading.max) sensor.set_max_celsius(ParseMilliCelsius(*reading.max).value_or(0));
    sensor.set_cpu(IsCpuChip(reading.chip));
  }
  return sensors;
}

void SetThrottleCounts(const std::vector<CpuThrottle>& cpus, medic::v1::ThermalStatus* status) {
  std::map<std::string, uint64_t> cores;  // "package/core" → count
  std::map<std::string, uint64_t> packages;
  for (size_t i = 0; i < cpus.size(); ++i) {
    const CpuThrottle& cpu = cpus[i];
    if (cpu.core_count) {
      const std::string key = cpu.core_id.empty()
                                  ? common::StrCat("cpu", i)
                                  : common::StrCat(cpu.package_id, "/", cpu.core_id);
      uint64_t& core = cores[key];
      core = std::max(core, *cpu.core_count);
    }
    if (cpu.package_count) {
      uint64_t& package = packages[cpu.package_id];
      package = std::max(package, *cpu.package_count);
    }
  }
  if (!cores.empty()) {
    uint64_t total = 0;
    for (const auto& [key, count] : cores) total += count;
    status->set_core_throttle_count(total);
  }
  if (!packages.empty()) {
    uint64_t total = 0;
    for (const auto& [id, count] : packages) total += count;
    status->set_package_throttle_count(total);
  }
}

std::vector<medic::v1::Finding> JudgeThermal(const medic::v1::ThermalStatus& status,
                                             const medic::v1::ThermalStatus* previous,
                                             const HardwareThresholds& thresholds,
                                             const std::vector<medic::v1::Finding>& standing) {
  const bool has_throttle = status.has_core_throttle_count() || status.has_package_throttle_count();
  uint64_t throttled_since_last = 0;
  if (has_throttle && previous != nullptr &&
      (previous->has_core_throttle_count() || previous->has_package_throttle_count()) &&
      TotalThrottles(status) > TotalThrottles(*previous)) {
    throttled_since_last = TotalThrottles(status) - TotalThrottles(*previous);
  }
  const std::string throttle_sensor = throttled_since_last > 0 ? PackageSensor(status) : "";

  std::vector<medic::v1::Finding> findings;
  auto add = [&](const std::string& resource, medic::v1::Severity severity,
                 const medic::v1::TemperatureSensor* sensor) {
    medic::v1::Finding& finding = findings.emplace_back();
    finding.set_code(std::string(kCpuOverheat));
    finding.set_severity(severity);
    finding.set_resource(resource);
    auto& evidence = *finding.mutable_evidence();
    std::string summary;
    if (sensor != nullptr) {
      summary =
          common::StrCat("CPU sensor ", sensor->name(), " at ", Celsius(sensor->celsius()), " °C");
      if (sensor->crit_celsius() > 0) {
        common::StrAppend(&summary, " (crit ", Celsius(sensor->crit_celsius()), " °C)");
      } else if (sensor->max_celsius() > 0) {
        common::StrAppend(&summary, " (max ", Celsius(sensor->max_celsius()), " °C)");
      }
      evidence["celsius"] = Celsius(sensor->celsius());
      if (sensor->crit_celsius() > 0) evidence["crit_celsius"] = Celsius(sensor->crit_celsius());
      if (sensor->max_celsius() > 0) evidence["max_celsius"] = Celsius(sensor->max_celsius());
      evidence["threshold_celsius"] = Celsius(thresholds.cpu_overheat_celsius);
      evidence["margin_celsius"] = Celsius(thresholds.cpu_overheat_margin_celsius);
    } else {
      summary = "CPU throttled for heat";
    }
    if (has_throttle) {
      if (throttled_since_last > 0) {
        common::StrAppend(&summary, sensor != nullptr ? ", " : " ", "throttled ",
                          GroupThousands(throttled_since_last), " times since the last check (",
                          GroupThousands(TotalThrottles(status)), " since boot)");
        evidence["throttled_since_last"] = common::StrCat(throttled_since_last);
      } else if (TotalThrottles(status) > 0) {
        common::StrAppend(&summary, ", throttled ", GroupThousands(TotalThrottles(status)),
                          " times since boot");
      }
      if (status.has_core_throttle_count()) {
        evidence["core_throttle_count"] = common::StrCat(status.core_throttle_count());
      }
      if (status.has_package_throttle_count()) {
        evidence["package_throttle_count"] = common::StrCat(status.package_throttle_count());
      }
    }
    finding.set_summary(summary);
  };

  std::set<std::string_view> chips_with_package;
  for (const medic::v1::TemperatureSensor& sensor : status.sensors()) {
    if (sensor.cpu() && StartsWith(LabelOf(sensor.name()), "Package")) {
      chips_with_package.insert(ChipOf(sensor.name()));
    }
  }
  bool throttle_reported = false;
  for (const medic::v1::TemperatureSensor& sensor : status.sensors()) {
    if (!sensor.cpu()) continue;
    if (chips_with_package.contains(ChipOf(sensor.name())) &&
        !StartsWith(LabelOf(sensor.name()), "Package")) {
      continue;
    }
    const double limit = sensor.crit_celsius() > 0 ? sensor.crit_celsius() : sensor.max_celsius();
    double mark = thresholds.cpu_overheat_celsius;
    if (limit > 0) mark = std::min(mark, limit - thresholds.cpu_overheat_margin_celsius);
    if (IsStanding(standing, kCpuOverheat, sensor.name())) mark -= kOverheatClearCelsius;
    const bool hot = sensor.celsius() >= mark;
    const bool throttled = sensor.name() == throttle_sensor;
    if (!hot && !throttled) continue;
    const bool critical = limit > 0 && sensor.celsius() >= limit;
    add(sensor.name(), critical ? medic::v1::SEVERITY_CRITICAL : medic::v1::SEVERITY_WARNING,
        &sensor);
    throttle_reported = throttle_reported || throttled;
  }
  if (throttled_since_last > 0 && !throttle_reported) {
    add(throttle_sensor, medic::v1::SEVERITY_WARNING, nullptr);
  }
  return findings;
}

std::string GroupThousands(uint64_t value) {
  std::string digits = common::StrCat(value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

}  // namespace medic::agent
