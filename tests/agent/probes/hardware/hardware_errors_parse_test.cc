#include "agent/probes/hardware/hardware_errors_parse.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(ParseCounterTest, DecimalAndHex) {
  EXPECT_EQ(ParseCounter("15\n"), 15u);    // EDAC ce_count
  EXPECT_EQ(ParseCounter("0x1a\n"), 26u);  // ioerr_cnt
  EXPECT_EQ(ParseCounter("0x0"), 0u);      // ioerr_cnt of a healthy disk
  EXPECT_EQ(ParseCounter("0xzz"), std::nullopt);
  EXPECT_EQ(ParseCounter(""), std::nullopt);
}

TEST(ParseMachineChecksTest, SumsCpus) {
  // Two CPUs, then the description.
  EXPECT_EQ(ParseMachineChecks("           CPU0       CPU1\n"
                               " NMI:          1          1   Non-maskable interrupts\n"
                               " MCE:          2          1   Machine check exceptions\n"
                               " MCP:        611        611   Machine check polls\n"),
            3u);
  // A healthy machine.
  EXPECT_EQ(ParseMachineChecks(" MCE:          0          0   Machine check exceptions\n"), 0u);
  // Not x86: no MCE line.
  EXPECT_EQ(ParseMachineChecks("           CPU0\n 11:     12345     GICv3  27 Level  arch_timer\n"),
            std::nullopt);
}

TEST(DimmsWithErrorsTest, ListsOnlyFaultyOnes) {
  EXPECT_THAT(DimmsWithErrors({{"DIMM_A1", 3, 0}, {"DIMM_A2", 0, 0}, {"csrow1/ch0", 0, 1}}),
              ElementsAre("DIMM_A1 (ce 3, ue 0)", "csrow1/ch0 (ce 0, ue 1)"));
}

medic::v1::HardwareErrorsStatus Status(uint64_t ce, uint64_t ue, uint64_t disk_errors,
                                       std::optional<uint64_t> mce = 0) {
  medic::v1::HardwareErrorsStatus s;
  s.set_edac_present(true);
  medic::v1::MemoryControllerErrors& mc = *s.add_memory_controllers();
  mc.set_name("mc0");
  mc.set_corrected(ce);
  mc.set_uncorrected(ue);
  medic::v1::DiskErrors& disk = *s.add_disks();
  disk.set_device("sdb");
  disk.set_io_errors(disk_errors);
  if (mce) s.set_machine_checks(*mce);
  return s;
}

std::vector<std::string> Keys(const std::vector<medic::v1::Finding>& findings) {
  std::vector<std::string> out;
  for (const auto& f : findings) {
    out.push_back(f.code() + "@" + f.resource() +
                  (f.severity() == medic::v1::SEVERITY_CRITICAL ? " critical" : " warning"));
  }
  return out;
}

TEST(JudgeHardwareErrorsTest, FirstSight) {
  const HardwareThresholds t;
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  ErrorHistory history;
  // Old corrected errors are not judged at first sight; disk errors are; no MCE.
  EXPECT_THAT(Keys(JudgeHardwareErrors(Status(5, 0, 2), now, t, {}, history)),
              ElementsAre("disk.io_errors@sdb warning"));
  // An uncorrected error and machine checks are critical at once.
  ErrorHistory fresh;
  EXPECT_THAT(Keys(JudgeHardwareErrors(Status(5, 1, 0, 2), now, t, {}, fresh)),
              ElementsAre("hardware.errors@mc0 critical", "hardware.errors@mce critical"));
  // A healthy machine.
  ErrorHistory healthy;
  EXPECT_THAT(JudgeHardwareErrors(Status(0, 0, 0), now, t, {}, healthy), IsEmpty());
}

// Counter findings: raised when the count rises, held through the quiet period (standing),
// cleared after it.
TEST(JudgeHardwareErrorsTest, RiseHoldsForTheQuietPeriodThenClears) {
  const HardwareThresholds t;  // quiet period 24h
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  ErrorHistory history;
  EXPECT_THAT(JudgeHardwareErrors(Status(5, 0, 0), now, t, {}, history), IsEmpty());

  now += absl::Minutes(1);
  std::vector<medic::v1::Finding> raised =
      JudgeHardwareErrors(Status(8, 0, 3), now, t, {}, history);
  EXPECT_THAT(Keys(raised),
              ElementsAre("hardware.errors@mc0 warning", "disk.io_errors@sdb warning"));
  EXPECT_EQ(raised[0].evidence().at("new_corrected"), "3");
  EXPECT_EQ(raised[1].evidence().at("new_io_errors"), "3");

  // No new errors, 23 hours later: both hold (between the marks).
  now += absl::Hours(23);
  EXPECT_THAT(Keys(JudgeHardwareErrors(Status(8, 0, 3), now, t, raised, history)),
              ElementsAre("hardware.errors@mc0 warning", "disk.io_errors@sdb warning"));
  // Without them standing, the same quiet counters raise nothing.
  ErrorHistory copy = history;
  EXPECT_THAT(JudgeHardwareErrors(Status(8, 0, 3), now, t, {}, copy), IsEmpty());
  // A day after the last rise: both clear.
  now += absl::Hours(1);
  EXPECT_THAT(JudgeHardwareErrors(Status(8, 0, 3), now, t, raised, history), IsEmpty());
}

TEST(JudgeHardwareErrorsTest, StandingAfterRestartStartsItsQuietPeriodNow) {
  const HardwareThresholds t;
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  std::vector<medic::v1::Finding> standing(1);
  standing[0].set_code(std::string(kDiskIoErrors));
  standing[0].set_resource("sdb");
  ErrorHistory history;  // a new agent process: counters unknown
  // ioerr_cnt is non-zero at first sight anyway: holds.
  EXPECT_THAT(Keys(JudgeHardwareErrors(Status(0, 0, 3), now, t, standing, history)),
              ElementsAre("disk.io_errors@sdb warning"));
  now += absl::Hours(12);
  EXPECT_THAT(Keys(JudgeHardwareErrors(Status(0, 0, 3), now, t, standing, history)),
              ElementsAre("disk.io_errors@sdb warning"));
  now += absl::Hours(13);
  EXPECT_THAT(JudgeHardwareErrors(Status(0, 0, 3), now, t, standing, history), IsEmpty());
}

}  // namespace
}  // namespace medic::agent
