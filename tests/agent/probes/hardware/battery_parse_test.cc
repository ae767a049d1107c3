#include "agent/probes/hardware/battery_parse.h"

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

using Files = std::map<std::string, std::string>;

struct BatteryCase {
  std::string name;
  Files files;
  bool is_battery;
  std::string unit = {};
  double health_pct = 0;
  uint32_t cycles = 0;
};

class ParseBatteryTest : public ::testing::TestWithParam<BatteryCase> {};

TEST_P(ParseBatteryTest, Parses) {
  const BatteryCase& c = GetParam();
  std::optional<medic::v1::Battery> battery = ParseBattery("BAT0", c.files);
  ASSERT_EQ(battery.has_value(), c.is_battery);
  if (!battery) return;
  EXPECT_EQ(battery->name(), "BAT0");
  EXPECT_EQ(battery->unit(), c.unit);
  EXPECT_NEAR(battery->health_pct(), c.health_pct, 0.01);
  EXPECT_EQ(battery->cycle_count(), c.cycles);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, ParseBatteryTest,
    ::testing::Values(
        // ThinkPad: energy_* in µWh, with newlines; 35.34 of 57 Wh is 62%.
        BatteryCase{"energy",
                    {{"type", "Battery\n"},
                     {"present", "1\n"},
                     {"status", "Discharging\n"},
                     {"capacity", "71\n"},
                     {"energy_full", "35340000\n"},
                     {"energy_full_design", "57000000\n"},
                     {"cycle_count", "412\n"}},
                    true,
                    "uWh",
                    62.0,
                    412},
        // Dell/HP: charge_* in µAh, no cycle_count.
        BatteryCase{
            "charge",
            {{"type", "Battery"}, {"charge_full", "3100000"}, {"charge_full_design", "4400000"}},
            true,
            "uAh",
            70.45,
            0},
        // A battery that reports no design capacity: health unknown (0), still reported.
        BatteryCase{
            "no_design", {{"type", "Battery"}, {"energy_full", "50000000"}}, true, "uWh", 0, 0},
        // Some firmwares report full above design on a new pack: more than 100% is kept.
        BatteryCase{
            "above_design",
            {{"type", "Battery"}, {"energy_full", "58000000"}, {"energy_full_design", "57000000"}},
            true,
            "uWh",
            101.75,
            0},
        // The AC adapter.
        BatteryCase{"mains", {{"type", "Mains"}, {"online", "1"}}, false},
        // A wireless mouse's battery (scope Device) is not the machine's.
        BatteryCase{"device_scope", {{"type", "Battery"}, {"scope", "Device\n"}}, false},
        // An empty second bay.
        BatteryCase{"not_present", {{"type", "Battery"}, {"present", "0\n"}}, false}),
    [](const auto& info) { return info.param.name; });

medic::v1::BatteryStatus WithHealth(double pct) {
  medic::v1::BatteryStatus status;
  status.set_battery_present(true);
  medic::v1::Battery& b = *status.add_batteries();
  b.set_name("BAT0");
  b.set_unit("uWh");
  b.set_full_design(57000000);
  b.set_full(static_cast<uint64_t>(57000000 * pct / 100));
  b.set_health_pct(pct);
  b.set_cycle_count(412);
  return status;
}

std::vector<medic::v1::Severity> Severities(const std::vector<medic::v1::Finding>& findings) {
  std::vector<medic::v1::Severity> out;
  for (const auto& f : findings) {
    EXPECT_EQ(f.code(), kBatteryDegraded);
    EXPECT_EQ(f.resource(), "BAT0");
    out.push_back(f.severity());
  }
  return out;
}

TEST(JudgeBatteriesTest, Marks) {
  const HardwareThresholds t;
  // 62%: warning, with a summary a technician reads.
  std::vector<medic::v1::Finding> worn = JudgeBatteries(WithHealth(62), t, {});
  EXPECT_THAT(Severities(worn), ElementsAre(medic::v1::SEVERITY_WARNING));
  EXPECT_EQ(worn[0].summary(),
            "Battery BAT0 holds 62.0% of its design capacity (35.3 of 57 Wh), 412 cycles");
  // 45%: critical.
  EXPECT_THAT(Severities(JudgeBatteries(WithHealth(45), t, {})),
              ElementsAre(medic::v1::SEVERITY_CRITICAL));
  // 85%: healthy.
  EXPECT_THAT(JudgeBatteries(WithHealth(85), t, {}), IsEmpty());
  // No battery: nothing.
  EXPECT_THAT(JudgeBatteries({}, t, {}), IsEmpty());
}

TEST(JudgeBatteriesTest, Hysteresis) {
  const HardwareThresholds t;
  std::vector<medic::v1::Finding> warning(1), critical(1);
  warning[0].set_code(std::string(kBatteryDegraded));
  warning[0].set_resource("BAT0");
  warning[0].set_severity(medic::v1::SEVERITY_WARNING);
  critical[0] = warning[0];
  critical[0].set_severity(medic::v1::SEVERITY_CRITICAL);
  // 71% (between 70 and 72): a standing warning holds; nothing new is raised.
  EXPECT_THAT(Severities(JudgeBatteries(WithHealth(71), t, warning)),
              ElementsAre(medic::v1::SEVERITY_WARNING));
  EXPECT_THAT(JudgeBatteries(WithHealth(71), t, {}), IsEmpty());
  // 73%: clears.
  EXPECT_THAT(JudgeBatteries(WithHealth(73), t, warning), IsEmpty());
  // 51% (between 50 and 52): a standing critical stays critical; from warning it is a warning.
  EXPECT_THAT(Severities(JudgeBatteries(WithHealth(51), t, critical)),
              ElementsAre(medic::v1::SEVERITY_CRITICAL));
  EXPECT_THAT(Severities(JudgeBatteries(WithHealth(51), t, warning)),
              ElementsAre(medic::v1::SEVERITY_WARNING));
  // Recalibrated to 80%: a standing critical clears altogether.
  EXPECT_THAT(JudgeBatteries(WithHealth(80), t, critical), IsEmpty());
}

}  // namespace
}  // namespace medic::agent
