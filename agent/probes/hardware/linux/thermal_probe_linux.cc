// The thermal probe on Linux: hwmon temperatures, thermal zones no hwmon chip reports, and the
// x86 thermal_throttle counters.

#include <optional>
#include <set>

#include "agent/probes/hardware/hardware_probes.h"
#include "agent/probes/hardware/thermal_parse.h"
#include "agent/probes/probe_util.h"
#include "agent/probes/text.h"

namespace medic::agent {
namespace {

constexpr std::string_view kHwmon = "/sys/class/hwmon";
constexpr std::string_view kThermal = "/sys/class/thermal";
constexpr std::string_view kCpus = "/sys/devices/system/cpu";

// The temperatures of every hwmon chip, and the chip names (for thermal-zone de-duplication).
std::vector<TemperatureReading> ReadHwmon(const common::FileSystem& fs,
                                          std::set<std::string>* chips) {
  std::vector<TemperatureReading> readings;
  for (const std::string& hwmon : NumberedEntries(fs, kHwmon, "hwmon")) {
    const std::string dir = common::StrCat(kHwmon, "/", hwmon);
    const std::string chip = ReadAttribute(fs, dir + "/name").value_or(hwmon);
    chips->insert(chip);
    absl::StatusOr<std::vector<std::string>> files = fs.ListDir(dir);
    if (!files.ok()) continue;
    for (const std::string& file : *files) {
      std::string_view sensor = file;
      if (!StartsWith(sensor, "temp") || !ConsumeSuffix(&sensor, "_input")) continue;
      const std::string base = common::StrCat(dir, "/", sensor);
      TemperatureReading& reading = readings.emplace_back();
      reading.chip = chip;
      reading.label = ReadAttribute(fs, base + "_label").value_or(std::string(sensor));
      reading.input = ReadOptional(fs, base + "_input");
      reading.crit = ReadOptional(fs, base + "_crit");
      reading.max = ReadOptional(fs, base + "_max");
    }
  }
  return readings;
}

// Thermal zones whose type no hwmon chip already reported (the kernel registers most zones as
// hwmon chips of the same name, '-' becoming '_'). x86_pkg_temp is not, but it repeats coretemp's
// "Package id N" sensors and is skipped when coretemp is there.
std::vector<TemperatureReading> ReadThermalZones(const common::FileSystem& fs,
                                                 const std::set<std::string>& chips) {
  std::vector<TemperatureReading> readings;
  for (const std::string& zone : NumberedEntries(fs, kThermal, "thermal_zone")) {
    const std::string dir = common::StrCat(kThermal, "/", zone);
    const std::optional<std::string> type = ReadAttribute(fs, dir + "/type");
    if (!type) continue;
    std::string hwmon_name = *type;
    for (char& c : hwmon_name) c = c == '-' ? '_' : c;
    if (chips.contains(*type) || chips.contains(hwmon_name)) continue;
    if (*type == "x86_pkg_temp" && chips.contains("coretemp")) continue;
    TemperatureReading& reading = readings.emplace_back();
    reading.chip = *type;
    reading.label = zone;
    reading.input = ReadOptional(fs, dir + "/temp");
    for (int trip = 0; trip < 32; ++trip) {
      const std::string base = common::StrCat(dir, "/trip_point_", trip);
      const std::optional<std::string> trip_type = ReadAttribute(fs, base + "_type");
      if (!trip_type) break;
      if (*trip_type == "critical") {
        reading.crit = ReadOptional(fs, base + "_temp");
        break;
      }
    }
  }
  return readings;
}

std::vector<CpuThrottle> ReadThrottle(const common::FileSystem& fs) {
  std::vector<CpuThrottle> cpus;
  for (const std::string& cpu : NumberedEntries(fs, kCpus, "cpu")) {
    const std::string dir = common::StrCat(kCpus, "/", cpu);
    CpuThrottle throttle;
    auto count = [&fs](const std::string& path) -> std::optional<uint64_t> {
      std::optional<std::string> text = ReadAttribute(fs, path);
      uint64_t value = 0;
      if (text && ParseInt(*text, &value)) return value;
      return std::nullopt;
    };
    throttle.core_count = count(dir + "/thermal_throttle/core_throttle_count");
    throttle.package_count = count(dir + "/thermal_throttle/package_throttle_count");
    if (!throttle.core_count && !throttle.package_count) continue;
    throttle.package_id = ReadAttribute(fs, dir + "/topology/physical_package_id").value_or("");
    throttle.core_id = ReadAttribute(fs, dir + "/topology/core_id").value_or("");
    cpus.push_back(std::move(throttle));
  }
  return cpus;
}

class ThermalProbe : public Probe {
 public:
  std::string_view name() const override { return "thermal"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    ProbeOutput output;
    output.report.set_probe(std::string(name()));
    medic::v1::ThermalStatus& body = *output.report.mutable_thermal();
    std::set<std::string> chips;
    std::vector<TemperatureReading> readings = ReadHwmon(ctx.fs, &chips);
    for (TemperatureReading& zone : ReadThermalZones(ctx.fs, chips)) {
      readings.push_back(std::move(zone));
    }
    for (medic::v1::TemperatureSensor& sensor : ToSensors(readings)) {
      AddObservation(output.report, "thermal.celsius", sensor.name(), sensor.celsius(), "celsius");
      *body.add_sensors() = std::move(sensor);
    }
    body.set_sensors_present(body.sensors_size() > 0);
    SetThrottleCounts(ReadThrottle(ctx.fs), &body);
    if (body.has_core_throttle_count() || body.has_package_throttle_count()) {
      AddObservation(
          output.report, "thermal.throttle_count", "",
          static_cast<double>(body.core_throttle_count() + body.package_throttle_count()), "count");
    }
    output.findings =
        JudgeThermal(body, previous_ ? &*previous_ : nullptr,
                     HardwareThresholds::FromConfig(ctx.config.hardware()), ctx.standing);
    previous_ = body;
    return output;
  }

 private:
  std::optional<medic::v1::ThermalStatus> previous_;  // the previous collection's body
};

}  // namespace

std::unique_ptr<Probe> NewThermalProbe() { return std::make_unique<ThermalProbe>(); }

}  // namespace medic::agent
