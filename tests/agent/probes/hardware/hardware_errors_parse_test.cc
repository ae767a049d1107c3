#include "agent/probes/hardware/hardware_errors_parse.h"

#include <map>
#include <optional>
#include <string>
#include <utility>
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

TEST(WholeDiskTest, PartitionsMapToTheirDisk) {
  const std::pair<const char*, const char*> cases[] = {
      {"sdb1", "sdb"},          {"sdb", "sdb"},           {"vda2", "vda"},
      {"xvda1", "xvda"},        {"nvme0n1p2", "nvme0n1"}, {"nvme0n1", "nvme0n1"},
      {"mmcblk0p1", "mmcblk0"}, {"mmcblk0", "mmcblk0"},   {"dm-0", "dm-0"},
      {"md127", "md127"},
  };
  for (const auto& [partition, disk] : cases) EXPECT_EQ(WholeDisk(partition), disk) << partition;
}

TEST(ClassifyKernelMessageTest, DiskAndHardwareErrorLines) {
  // Lines as kernels 4.x–6.x print them; nullopt marks a line that is not a fault.
  const std::pair<const char*, std::optional<std::string>> cases[] = {
      {"blk_update_request: I/O error, dev sdb, sector 2048 op 0x0:(READ) flags 0x0 phys_seg 1 "
       "prio class 0",
       "sdb"},
      {"I/O error, dev nvme0n1, sector 1953525000 op 0x1:(WRITE) flags 0x800", "nvme0n1"},
      {"Buffer I/O error on dev sdb1, logical block 0, async page read", "sdb"},
      {"print_req_error: critical medium error, dev sda, sector 7814037000", "sda"},
      {"critical target error, dev sdc, sector 12 op 0x0:(READ)", "sdc"},
      {"mce: [Hardware Error]: Machine check events logged", ""},
      {"{1}[Hardware Error]: event severity: corrected", ""},
      {"EDAC MC0: 1 CE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0", ""},
      {"pcieport 0000:00:1c.5: AER: Corrected error received: 0000:03:00.0", ""},
      {"pcieport 0000:00:1c.5: PCIe Bus Error: severity=Corrected, type=Physical Layer", ""},
      {"EDAC MC: Ver: 3.0.0", std::nullopt},
      {"EXT4-fs (sda1): mounted filesystem with ordered data mode", std::nullopt},
      {"usb 1-4: new high-speed USB device number 3 using xhci_hcd", std::nullopt},
      {"I/O error without a device", std::nullopt},
      {"I/O error, dev fd0, sector 0 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2",
       std::nullopt},
      {"I/O error, dev sr0, sector 0 op 0x0:(READ) flags 0x80700", std::nullopt},
      {"Buffer I/O error on dev loop3, logical block 0, async page read", std::nullopt},
  };
  for (const auto& [message, device] : cases) {
    std::optional<KernelError> error = ClassifyKernelMessage(message);
    ASSERT_EQ(error.has_value(), device.has_value()) << message;
    if (error) {
      EXPECT_EQ(error->device, *device) << message;
    }
  }
}

TEST(CountKernelErrorsTest, CountsPerDiskAndKeepsTheLatest) {
  std::map<std::string, medic::v1::KernelErrorLines> lines;
  CountKernelErrors({"I/O error, dev sdb, sector 8 op 0x0:(READ)", "usb 1-4: new device",
                     "Buffer I/O error on dev sdb1, logical block 1",
                     "mce: [Hardware Error]: Machine check events logged"},
                    lines);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines.at("sdb").count(), 2u);
  EXPECT_EQ(lines.at("sdb").latest(), "Buffer I/O error on dev sdb1, logical block 1");
  EXPECT_EQ(lines.at("").count(), 1u);
}

medic::v1::HardwareErrorsStatus KernelLines(uint64_t disk_lines, uint64_t hardware_lines) {
  medic::v1::HardwareErrorsStatus s;
  if (hardware_lines > 0) {
    medic::v1::KernelErrorLines& hw = *s.add_kernel_errors();
    hw.set_count(hardware_lines);
    hw.set_latest("mce: [Hardware Error]: Machine check events logged");
  }
  if (disk_lines > 0) {
    medic::v1::KernelErrorLines& disk = *s.add_kernel_errors();
    disk.set_device("sdb");
    disk.set_count(disk_lines);
    disk.set_latest("I/O error, dev sdb, sector 8 op 0x0:(READ)");
  }
  return s;
}

// A disk without an ioerr_cnt (NVMe, virtio) still gets disk.io_errors from the kernel's lines.
TEST(JudgeHardwareErrorsTest, KernelLinesRaiseHoldAndClear) {
  const HardwareThresholds t;
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  ErrorHistory history;
  EXPECT_THAT(JudgeHardwareErrors(KernelLines(0, 0), now, t, {}, history), IsEmpty());

  now += absl::Minutes(1);
  std::vector<medic::v1::Finding> raised =
      JudgeHardwareErrors(KernelLines(2, 1), now, t, {}, history);
  ASSERT_THAT(Keys(raised),
              ElementsAre("hardware.errors@kernel warning", "disk.io_errors@sdb warning"));
  EXPECT_EQ(raised[1].evidence().at("new_kernel_lines"), "2");
  EXPECT_EQ(raised[1].evidence().at("latest_kernel_line"),
            "I/O error, dev sdb, sector 8 op 0x0:(READ)");
  EXPECT_EQ(raised[1].summary(),
            "Disk sdb: 2 I/O error lines in the kernel log (2 new); the latest: I/O error, dev "
            "sdb, sector 8 op 0x0:(READ)");
  EXPECT_EQ(raised[0].evidence().at("kernel_lines"), "1");

  // Quiet for 23 hours: both hold; a day after the last line: both clear.
  now += absl::Hours(23);
  EXPECT_THAT(JudgeHardwareErrors(KernelLines(2, 1), now, t, raised, history), testing::SizeIs(2));
  now += absl::Hours(1);
  EXPECT_THAT(JudgeHardwareErrors(KernelLines(2, 1), now, t, raised, history), IsEmpty());
}

// One disk.io_errors per disk, whether its ioerr_cnt, its kernel lines or both tell.
TEST(JudgeHardwareErrorsTest, CounterAndKernelLinesOfOneDiskAreOneFinding) {
  const HardwareThresholds t;
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  medic::v1::HardwareErrorsStatus status = KernelLines(1, 0);
  medic::v1::DiskErrors& disk = *status.add_disks();
  disk.set_device("sdb");
  disk.set_io_errors(4);
  ErrorHistory history;
  std::vector<medic::v1::Finding> findings = JudgeHardwareErrors(status, now, t, {}, history);
  ASSERT_THAT(Keys(findings), ElementsAre("disk.io_errors@sdb warning"));
  EXPECT_EQ(findings[0].evidence().at("io_errors"), "4");
  EXPECT_EQ(findings[0].evidence().at("kernel_lines"), "1");
  EXPECT_EQ(findings[0].summary(),
            "Disk sdb failed 4 new I/O requests (4 since boot); 1 I/O error line in the kernel "
            "log (1 new); the latest: I/O error, dev sdb, sector 8 op 0x0:(READ)");
}

}  // namespace
}  // namespace medic::agent
