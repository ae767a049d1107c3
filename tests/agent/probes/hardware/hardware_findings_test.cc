// The memory, cpu and filesystem findings added for hardware health: PSI and vmstat parsing,
// memory.pressure, swap.exhausted, cpu.load_high (with their hysteresis), /etc/fstab and
// disk.readonly.

#include <optional>
#include <string>
#include <vector>

#include "agent/probes/hardware/cpu_parse.h"
#include "agent/probes/hardware/filesystem_parse.h"
#include "agent/probes/hardware/hardware_thresholds.h"
#include "agent/probes/hardware/memory_parse.h"
#include "agent/probes/text.h"
#include "common/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr uint64_t kGiB = uint64_t{1} << 30;

std::vector<std::string> Codes(const std::vector<medic::v1::Finding>& findings) {
  std::vector<std::string> codes;
  for (const auto& f : findings) codes.push_back(f.code() + "@" + f.resource());
  return codes;
}

medic::v1::Finding Standing(std::string_view code, std::string_view resource = "",
                            medic::v1::Severity severity = medic::v1::SEVERITY_WARNING) {
  medic::v1::Finding f;
  f.set_code(std::string(code));
  f.set_resource(std::string(resource));
  f.set_severity(severity);
  return f;
}

// ---- PSI ------------------------------------------------------------------------------------

struct PressureCase {
  std::string name;
  std::string text;
  bool ok;
  double some10 = 0, some60 = 0, full10 = 0, full60 = 0;
};

class PressureTest : public ::testing::TestWithParam<PressureCase> {};

TEST_P(PressureTest, Parses) {
  const PressureCase& c = GetParam();
  absl::StatusOr<medic::v1::Pressure> p = ParsePressure(c.text);
  ASSERT_EQ(p.ok(), c.ok) << p.status();
  if (!c.ok) {
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    return;
  }
  EXPECT_DOUBLE_EQ(p->some_avg10(), c.some10);
  EXPECT_DOUBLE_EQ(p->some_avg60(), c.some60);
  EXPECT_DOUBLE_EQ(p->full_avg10(), c.full10);
  EXPECT_DOUBLE_EQ(p->full_avg60(), c.full60);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, PressureTest,
    ::testing::Values(
        // /proc/pressure/memory on 5.x: a "some" and a "full" line.
        PressureCase{"memory",
                     "some avg10=41.17 avg60=38.52 avg300=24.10 total=912345678\n"
                     "full avg10=24.88 avg60=22.03 avg300=13.57 total=512345678\n",
                     true, 41.17, 38.52, 24.88, 22.03},
        // /proc/pressure/cpu before 5.13 has no "full" line: it stays 0.
        PressureCase{"cpu_without_full", "some avg10=3.50 avg60=1.25 avg300=0.40 total=123\n", true,
                     3.5, 1.25, 0, 0},
        // No "some" line: not a pressure file.
        PressureCase{"no_some", "full avg10=1.00 avg60=1.00 avg300=1.00 total=1\n", false},
        // A value that is not a number.
        PressureCase{"garbage", "some avg10=x avg60=1.00 avg300=1.00 total=1\n", false},
        // Empty file.
        PressureCase{"empty", "", false}),
    [](const auto& info) { return info.param.name; });

// ---- vmstat ---------------------------------------------------------------------------------

TEST(OomKillsTest, ReadsTheCounter) {
  // Among other counters, as in /proc/vmstat.
  EXPECT_EQ(ParseOomKills("pgmajfault 9120334\noom_kill 3\ncompact_stall 2311\n"), 3u);
  // Kernels before 4.13 have no oom_kill line.
  EXPECT_EQ(ParseOomKills("pgmajfault 9120334\ncompact_stall 2311\n"), std::nullopt);
  // A value that is not a number is not a count.
  EXPECT_EQ(ParseOomKills("oom_kill many\n"), std::nullopt);
  // A key that merely starts with oom_kill is another counter.
  EXPECT_EQ(ParseOomKills("oom_kill_total 9\n"), std::nullopt);
}

// ---- memory.pressure / swap.exhausted ---------------------------------------------------------

medic::v1::MemoryStatus Memory(double available_pct, std::optional<double> psi_full60 = {},
                               uint64_t swap_total = 0, double swap_free_pct = 0) {
  medic::v1::MemoryStatus m;
  m.set_total_bytes(16 * kGiB);
  m.set_available_bytes(static_cast<uint64_t>(16 * kGiB * available_pct / 100));
  m.set_used_bytes(m.total_bytes() - m.available_bytes());
  if (psi_full60) m.mutable_pressure()->set_full_avg60(*psi_full60);
  m.set_swap_total_bytes(swap_total);
  m.set_swap_free_bytes(static_cast<uint64_t>(swap_total * swap_free_pct / 100));
  return m;
}

TEST(JudgeMemoryTest, RaisesAndSaysWhy) {
  const HardwareThresholds t;
  // Plenty available, no PSI, no swap: nothing.
  EXPECT_THAT(JudgeMemory(Memory(40), t, {}), IsEmpty());
  // Available below 5%: memory.pressure for that reason only.
  std::vector<medic::v1::Finding> low = JudgeMemory(Memory(3), t, {});
  ASSERT_THAT(Codes(low), ElementsAre("memory.pressure@"));
  EXPECT_EQ(low[0].evidence().at("reason"), "available_low");
  EXPECT_EQ(low[0].severity(), medic::v1::SEVERITY_WARNING);
  // PSI full avg60 above 10 with memory available (thrashing on file pages).
  std::vector<medic::v1::Finding> psi = JudgeMemory(Memory(30, 12.5), t, {});
  ASSERT_THAT(Codes(psi), ElementsAre("memory.pressure@"));
  EXPECT_EQ(psi[0].evidence().at("reason"), "psi_full");
  EXPECT_THAT(psi[0].summary(), HasSubstr("stalled on memory 12.5%"));
  // PSI exactly at the mark is not above it.
  EXPECT_THAT(JudgeMemory(Memory(30, 10), t, {}), IsEmpty());
  // Swap 2% free of 2 GiB: swap.exhausted; no swap configured never raises it.
  EXPECT_THAT(Codes(JudgeMemory(Memory(30, {}, 2 * kGiB, 2), t, {})),
              ElementsAre("swap.exhausted@"));
  EXPECT_THAT(JudgeMemory(Memory(30, {}, 0, 0), t, {}), IsEmpty());
}

TEST(JudgeMemoryTest, ConfiguredMarks) {
  medic::v1::HardwareConfig config;
  config.set_memory_available_low_pct(20);
  config.set_memory_psi_full_avg60(0);  // 0 keeps the default 10
  const HardwareThresholds t = HardwareThresholds::FromConfig(config);
  EXPECT_DOUBLE_EQ(t.memory_psi_full_avg60, 10);
  EXPECT_THAT(Codes(JudgeMemory(Memory(15), t, {})), ElementsAre("memory.pressure@"));
}

TEST(JudgeMemoryTest, PressureHysteresis) {
  const HardwareThresholds t;
  const std::vector<medic::v1::Finding> standing = {Standing(kMemoryPressure)};
  // Standing: 6% available is between the raise (5) and clear (7) marks: it holds.
  EXPECT_THAT(Codes(JudgeMemory(Memory(6), t, standing)), ElementsAre("memory.pressure@"));
  // Not standing, 6% raises nothing.
  EXPECT_THAT(JudgeMemory(Memory(6), t, {}), IsEmpty());
  // Standing, back to 8%: clears.
  EXPECT_THAT(JudgeMemory(Memory(8), t, standing), IsEmpty());
  // PSI: standing holds at 6 (above half the mark), clears at 4.
  EXPECT_THAT(Codes(JudgeMemory(Memory(30, 6), t, standing)), ElementsAre("memory.pressure@"));
  EXPECT_THAT(JudgeMemory(Memory(30, 4), t, standing), IsEmpty());
}

TEST(JudgeMemoryTest, SwapHysteresis) {
  const HardwareThresholds t;
  const std::vector<medic::v1::Finding> standing = {Standing(kSwapExhausted)};
  // 6% free: holds when standing, nothing when not; 8% clears.
  EXPECT_THAT(Codes(JudgeMemory(Memory(30, {}, 2 * kGiB, 6), t, standing)),
              ElementsAre("swap.exhausted@"));
  EXPECT_THAT(JudgeMemory(Memory(30, {}, 2 * kGiB, 6), t, {}), IsEmpty());
  EXPECT_THAT(JudgeMemory(Memory(30, {}, 2 * kGiB, 8), t, standing), IsEmpty());
}

// ---- cpu.load_high ----------------------------------------------------------------------------

medic::v1::CpuStatus Cpu(uint32_t cores, double load15, std::optional<double> psi_some60 = {}) {
  medic::v1::CpuStatus c;
  c.set_logical_cores(cores);
  c.set_load15(load15);
  if (psi_some60) c.mutable_pressure()->set_some_avg60(*psi_some60);
  return c;
}

TEST(JudgeCpuLoadTest, RaisesOnSustainedLoadPerCore) {
  const HardwareThresholds t;
  // 11 on 4 cores = 2.75 per core: raised, with PSI as evidence.
  std::vector<medic::v1::Finding> high = JudgeCpuLoad(Cpu(4, 11, 58.12), t, {});
  ASSERT_THAT(Codes(high), ElementsAre("cpu.load_high@"));
  EXPECT_EQ(high[0].evidence().at("load15_per_core"), "2.75");
  EXPECT_EQ(high[0].evidence().at("psi_some_avg60"), "58.1");
  // 8 on 4 cores is exactly 2.0: not above the mark.
  EXPECT_THAT(JudgeCpuLoad(Cpu(4, 8), t, {}), IsEmpty());
  // The same load on 16 cores is nothing.
  EXPECT_THAT(JudgeCpuLoad(Cpu(16, 11), t, {}), IsEmpty());
  // No core count: not judged.
  EXPECT_THAT(JudgeCpuLoad(Cpu(0, 11), t, {}), IsEmpty());
}

TEST(JudgeCpuLoadTest, Hysteresis) {
  const HardwareThresholds t;
  const std::vector<medic::v1::Finding> standing = {Standing(kCpuLoadHigh)};
  // 7 on 4 cores = 1.75: holds when standing (above 1.5), nothing when not.
  EXPECT_THAT(Codes(JudgeCpuLoad(Cpu(4, 7), t, standing)), ElementsAre("cpu.load_high@"));
  EXPECT_THAT(JudgeCpuLoad(Cpu(4, 7), t, {}), IsEmpty());
  // 5.6 on 4 cores = 1.4: clears.
  EXPECT_THAT(JudgeCpuLoad(Cpu(4, 5.6), t, standing), IsEmpty());
}

TEST(HardwareThresholdsTest, ClearMarkNeverAboveRaiseMark) {
  medic::v1::HardwareConfig config;
  config.set_load_per_core_high(1.0);  // below the default clear mark 1.5
  const HardwareThresholds t = HardwareThresholds::FromConfig(config);
  EXPECT_DOUBLE_EQ(t.load_per_core_clear, 1.0);
  *config.mutable_errors_quiet_period() = common::ToProtoDuration(absl::Hours(2));
  EXPECT_EQ(HardwareThresholds::FromConfig(config).errors_quiet_period, absl::Hours(2));
  EXPECT_EQ(HardwareThresholds::FromConfig({}).errors_quiet_period, absl::Hours(24));
}

// ---- fstab / disk.readonly --------------------------------------------------------------------

TEST(FstabTest, Parses) {
  std::vector<FstabEntry> entries = ParseFstab(
      "# <file system> <mount point> <type> <options> <dump> <pass>\n"
      "UUID=3f1c / ext4 errors=remount-ro 0 1\n"
      "\n"
      "  /dev/sdb1\t/media/My\\040Disk  vfat  ro,noauto 0 0\n"
      "/swapfile none swap\n");  // too few fields: skipped
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].mount_point, "/");
  EXPECT_EQ(entries[0].options, "errors=remount-ro");
  EXPECT_EQ(entries[1].mount_point, "/media/My Disk");
  EXPECT_EQ(entries[1].type, "vfat");
}

MountEntry Mount(std::string point, std::string type, std::string options) {
  MountEntry m;
  m.device = "/dev/sda2";
  m.mount_point = std::move(point);
  m.type = std::move(type);
  m.options = std::move(options);
  m.read_only = StartsWith(m.options, "ro");
  return m;
}

struct ReadOnlyCase {
  std::string name;
  std::vector<MountEntry> mounts;
  std::optional<std::string> fstab;
  std::vector<std::string> expected;  // code@resource
};

class ReadOnlyTest : public ::testing::TestWithParam<ReadOnlyCase> {};

TEST_P(ReadOnlyTest, Judges) {
  const ReadOnlyCase& c = GetParam();
  std::optional<std::vector<FstabEntry>> fstab;
  if (c.fstab) fstab = ParseFstab(*c.fstab);
  EXPECT_EQ(Codes(JudgeReadOnly(c.mounts, fstab)), c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, ReadOnlyTest,
    ::testing::Values(
        // / remounted ro after errors while fstab says errors=remount-ro: flagged.
        ReadOnlyCase{"root_remounted",
                     {Mount("/", "ext4", "ro,relatime,errors=remount-ro")},
                     "/dev/sda2 / ext4 errors=remount-ro 0 1\n",
                     {"disk.readonly@/"}},
        // fstab asks for ro itself: intended.
        ReadOnlyCase{"fstab_wants_ro",
                     {Mount("/data", "xfs", "ro,relatime")},
                     "/dev/sdb1 /data xfs ro,noatime 0 2\n",
                     {}},
        // A USB stick mounted ro that fstab does not list: not ours to judge.
        ReadOnlyCase{"not_in_fstab",
                     {Mount("/media/usb", "vfat", "ro")},
                     "/dev/sda2 / ext4 defaults 0 1\n",
                     {}},
        // Not a disk filesystem (a squashfs snap, an ISO): never flagged.
        ReadOnlyCase{"squashfs",
                     {Mount("/snap/core/1", "squashfs", "ro,nodev")},
                     "/dev/loop0 /snap/core/1 squashfs defaults 0 0\n",
                     {}},
        // Read-write: nothing.
        ReadOnlyCase{
            "rw", {Mount("/", "ext4", "rw,relatime")}, "/dev/sda2 / ext4 defaults 0 1\n", {}},
        // No fstab: only a ro "/" is flagged.
        ReadOnlyCase{"no_fstab",
                     {Mount("/", "btrfs", "ro,relatime"), Mount("/home", "ext4", "ro")},
                     std::nullopt,
                     {"disk.readonly@/"}}),
    [](const auto& info) { return info.param.name; });

TEST(ReadOnlyTest, EvidenceHasTheOptions) {
  std::vector<medic::v1::Finding> f =
      JudgeReadOnly({Mount("/", "ext4", "ro,relatime,errors=remount-ro")},
                    ParseFstab("/dev/sda2 / ext4 errors=remount-ro 0 1\n"));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity(), medic::v1::SEVERITY_CRITICAL);
  EXPECT_EQ(f[0].evidence().at("options"), "ro,relatime,errors=remount-ro");
  EXPECT_EQ(f[0].evidence().at("fstab_options"), "errors=remount-ro");
}

}  // namespace
}  // namespace medic::agent
