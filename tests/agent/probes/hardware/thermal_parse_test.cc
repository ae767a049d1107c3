#include "agent/probes/hardware/thermal_parse.h"

#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> Resources(const std::vector<medic::v1::Finding>& findings) {
  std::vector<std::string> out;
  for (const auto& f : findings) out.push_back(f.code() + "@" + f.resource());
  return out;
}

TEST(MilliCelsiusTest, Parses) {
  // The usual sysfs form, with its newline.
  EXPECT_EQ(ParseMilliCelsius("54000\n"), 54.0);
  // Sub-degree precision (nvme).
  EXPECT_EQ(ParseMilliCelsius("44850"), 44.85);
  // Below zero (an outdoor sensor, nvme's temp1_min -273150).
  EXPECT_EQ(ParseMilliCelsius("-273150\n"), -273.15);
  // A sensor that failed to read is not a temperature.
  EXPECT_EQ(ParseMilliCelsius(""), std::nullopt);
  EXPECT_EQ(ParseMilliCelsius("N/A"), std::nullopt);
}

TEST(IsCpuChipTest, Classifies) {
  EXPECT_TRUE(IsCpuChip("coretemp"));      // Intel
  EXPECT_TRUE(IsCpuChip("k10temp"));       // AMD
  EXPECT_TRUE(IsCpuChip("cpu_thermal"));   // Raspberry Pi
  EXPECT_TRUE(IsCpuChip("x86_pkg_temp"));  // Intel package thermal zone
  EXPECT_FALSE(IsCpuChip("nvme"));
  EXPECT_FALSE(IsCpuChip("acpitz"));
  EXPECT_FALSE(IsCpuChip("iwlwifi_1"));
}

TEST(ToSensorsTest, NamesAndDropsUnreadable) {
  std::vector<TemperatureReading> readings = {
      {"coretemp", "Package id 0", "97000\n", "100000\n", "100000\n"},
      {"nvme", "Composite", "44850\n", std::nullopt, "81850\n"},
      // A second nvme drive: same name, so it gets " #2".
      {"nvme", "Composite", "39850\n", std::nullopt, std::nullopt},
      // No input file: dropped.
      {"acpitz", "temp1", std::nullopt, "128000", std::nullopt},
      // Unreadable input: dropped; an unreadable crit is left 0.
      {"k10temp", "Tctl", "garbage", std::nullopt, std::nullopt},
      {"k10temp", "Tccd1", "61250", "bad", std::nullopt},
  };
  std::vector<medic::v1::TemperatureSensor> sensors = ToSensors(readings);
  ASSERT_EQ(sensors.size(), 4u);
  EXPECT_EQ(sensors[0].name(), "coretemp/Package id 0");
  EXPECT_TRUE(sensors[0].cpu());
  EXPECT_DOUBLE_EQ(sensors[0].crit_celsius(), 100);
  EXPECT_EQ(sensors[1].name(), "nvme/Composite");
  EXPECT_FALSE(sensors[1].cpu());
  EXPECT_DOUBLE_EQ(sensors[1].max_celsius(), 81.85);
  EXPECT_EQ(sensors[2].name(), "nvme/Composite #2");
  EXPECT_EQ(sensors[3].name(), "k10temp/Tccd1");
  EXPECT_DOUBLE_EQ(sensors[3].crit_celsius(), 0);
}

TEST(ThrottleCountsTest, SumsCoresAndPackagesOnce) {
  medic::v1::ThermalStatus status;
  // Two hyperthreads of core 0 and one of core 1 in package 0; core 0 of package 1.
  SetThrottleCounts({{"0", "0", 10, 5}, {"0", "0", 10, 5}, {"0", "1", 7, 5}, {"1", "0", 3, 2}},
                    &status);
  EXPECT_EQ(status.core_throttle_count(), 20u);
  EXPECT_EQ(status.package_throttle_count(), 7u);
  // No thermal_throttle anywhere (AMD, ARM, VMs): both stay unset.
  medic::v1::ThermalStatus none;
  SetThrottleCounts({}, &none);
  EXPECT_FALSE(none.has_core_throttle_count());
  EXPECT_FALSE(none.has_package_throttle_count());
}

medic::v1::TemperatureSensor Sensor(std::string name, double celsius, double crit, double max,
                                    bool cpu = true) {
  medic::v1::TemperatureSensor s;
  s.set_name(std::move(name));
  s.set_celsius(celsius);
  s.set_crit_celsius(crit);
  s.set_max_celsius(max);
  s.set_cpu(cpu);
  return s;
}

medic::v1::ThermalStatus Status(std::vector<medic::v1::TemperatureSensor> sensors,
                                std::optional<uint64_t> cores = {}) {
  medic::v1::ThermalStatus status;
  status.set_sensors_present(!sensors.empty());
  for (auto& s : sensors) *status.add_sensors() = std::move(s);
  if (cores) status.set_core_throttle_count(*cores);
  return status;
}

struct ThermalCase {
  std::string name;
  medic::v1::ThermalStatus status;
  std::vector<std::string> expected;                               // code@resource
  medic::v1::Severity severity = medic::v1::SEVERITY_UNSPECIFIED;  // of the first finding
};

class JudgeThermalTest : public ::testing::TestWithParam<ThermalCase> {};

TEST_P(JudgeThermalTest, Judges) {
  const ThermalCase& c = GetParam();
  std::vector<medic::v1::Finding> findings = JudgeThermal(c.status, nullptr, {}, {});
  EXPECT_EQ(Resources(findings), c.expected);
  if (!findings.empty()) {
    EXPECT_EQ(findings[0].severity(), c.severity);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rows, JudgeThermalTest,
    ::testing::Values(
        // 97 °C with crit 100: within the 5 °C margin, warning; cores of a chip with a package
        // sensor are not judged on their own.
        ThermalCase{"package_near_crit",
                    Status({Sensor("coretemp/Package id 0", 97, 100, 100),
                            Sensor("coretemp/Core 0", 96, 100, 100)}),
                    {"cpu.overheat@coretemp/Package id 0"},
                    medic::v1::SEVERITY_WARNING},
        // At crit: critical.
        ThermalCase{"at_crit",
                    Status({Sensor("coretemp/Package id 0", 100, 100, 100)}),
                    {"cpu.overheat@coretemp/Package id 0"},
                    medic::v1::SEVERITY_CRITICAL},
        // No crit, max 70 (a small ARM board): 66 is within 5 of max.
        ThermalCase{"near_max_only",
                    Status({Sensor("cpu_thermal/temp1", 66, 0, 70)}),
                    {"cpu.overheat@cpu_thermal/temp1"},
                    medic::v1::SEVERITY_WARNING},
        // No marks at all: the absolute 90 °C applies.
        ThermalCase{"absolute_mark",
                    Status({Sensor("k10temp/Tctl", 91, 0, 0), Sensor("k10temp/Tccd1", 80, 0, 0)}),
                    {"cpu.overheat@k10temp/Tctl"},
                    medic::v1::SEVERITY_WARNING},
        // A hot disk is reported, not judged here.
        ThermalCase{
            "hot_nvme_not_cpu", Status({Sensor("nvme/Composite", 84, 84.85, 81.85, false)}), {}},
        // A cool CPU.
        ThermalCase{"cool", Status({Sensor("coretemp/Package id 0", 54, 100, 100)}), {}},
        // No sensors at all: nothing to judge.
        ThermalCase{"no_sensors", Status({}), {}}),
    [](const auto& info) { return info.param.name; });

TEST(JudgeThermalTest, ThrottleRiseRaisesOnThePackage) {
  const medic::v1::ThermalStatus before = Status(
      {Sensor("coretemp/Core 0", 70, 100, 100), Sensor("coretemp/Package id 0", 72, 100, 100)},
      1180);
  const medic::v1::ThermalStatus now = Status(
      {Sensor("coretemp/Core 0", 71, 100, 100), Sensor("coretemp/Package id 0", 73, 100, 100)},
      1204);
  // First collection: no previous, no rise.
  EXPECT_THAT(JudgeThermal(now, nullptr, {}, {}), IsEmpty());
  // Counters unchanged: nothing.
  EXPECT_THAT(JudgeThermal(now, &now, {}, {}), IsEmpty());
  std::vector<medic::v1::Finding> f = JudgeThermal(now, &before, {}, {});
  ASSERT_THAT(Resources(f), ElementsAre("cpu.overheat@coretemp/Package id 0"));
  EXPECT_THAT(f[0].summary(),
              HasSubstr("throttled 24 times since the last check (1,204 since boot)"));
  EXPECT_EQ(f[0].evidence().at("throttled_since_last"), "24");
  // Throttling without any CPU sensor: resource "cpu".
  const medic::v1::ThermalStatus no_sensors_before = Status({}, 4);
  EXPECT_THAT(Resources(JudgeThermal(Status({}, 10), &no_sensors_before, {}, {})),
              ElementsAre("cpu.overheat@cpu"));
}

TEST(JudgeThermalTest, Hysteresis) {
  std::vector<medic::v1::Finding> standing(1);
  standing[0].set_code(std::string(kCpuOverheat));
  standing[0].set_resource("coretemp/Package id 0");
  auto at = [](double celsius) {
    return Status({Sensor("coretemp/Package id 0", celsius, 100, 100)});
  };
  // The raise mark is the lower of 90 °C and crit 100 - margin 5, so 90; the clear mark 85.
  // 87 is between them: raises nothing new, holds a standing one.
  EXPECT_THAT(JudgeThermal(at(87), nullptr, {}, {}), IsEmpty());
  EXPECT_THAT(Resources(JudgeThermal(at(87), nullptr, {}, standing)),
              ElementsAre("cpu.overheat@coretemp/Package id 0"));
  // Below 85: clears.
  EXPECT_THAT(JudgeThermal(at(84), nullptr, {}, standing), IsEmpty());
}

TEST(GroupThousandsTest, Groups) {
  EXPECT_EQ(GroupThousands(0), "0");
  EXPECT_EQ(GroupThousands(999), "999");
  EXPECT_EQ(GroupThousands(1204), "1,204");
  EXPECT_EQ(GroupThousands(12345678), "12,345,678");
}

}  // namespace
}  // namespace medic::agent
