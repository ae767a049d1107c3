#include "agent/probes/hardware/smart_parse.h"

#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace medic::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(ClassifyBlockDeviceTest, AsksOnlyRealDisks) {
  struct Row {
    const char* name;
    SmartCandidate kind;
  };
  const Row rows[] = {
      {"sda", SmartCandidate::kAsk},       // SATA or USB disk
      {"nvme0n1", SmartCandidate::kAsk},   // NVMe namespace
      {"mmcblk0", SmartCandidate::kAsk},   // eMMC: smartctl says what it can
      {"vda", SmartCandidate::kNoSmart},   // virtio
      {"xvda", SmartCandidate::kNoSmart},  // Xen
      {"loop3", SmartCandidate::kSkip},    // image files
      {"ram0", SmartCandidate::kSkip},     // RAM disk
      {"zram0", SmartCandidate::kSkip},    // compressed swap
      {"dm-0", SmartCandidate::kSkip},     // LVM / LUKS over a real disk
      {"md127", SmartCandidate::kSkip},    // software RAID over real disks
      {"sr0", SmartCandidate::kSkip},      // optical drive
      {"fd0", SmartCandidate::kSkip},      // floppy
  };
  for (const Row& row : rows) EXPECT_EQ(ClassifyBlockDevice(row.name), row.kind) << row.name;
}

// An ATA disk as smartctl 7.3 prints it, cut to what the parser reads and a little more.
constexpr char kAtaPassed[] = R"({
  "smartctl": {"version": [7, 3], "exit_status": 0},
  "device": {"name": "/dev/sda", "info_name": "/dev/sda [SAT]", "type": "sat", "protocol": "ATA"},
  "model_name": "WDC WD10EZEX-08WN4A0",
  "serial_number": "WD-WCC6Y0000001",
  "smart_support": {"available": true, "enabled": true},
  "smart_status": {"passed": true},
  "ata_smart_attributes": {"revision": 16, "table": [
    {"id": 1, "name": "Raw_Read_Error_Rate", "raw": {"value": 38, "string": "38"}},
    {"id": 5, "name": "Reallocated_Sector_Ct", "raw": {"value": 16, "string": "16"}},
    {"id": 197, "name": "Current_Pending_Sector", "raw": {"value": 24, "string": "24"}},
    {"id": 198, "name": "Offline_Uncorrectable", "raw": {"value": 0, "string": "0"}}
  ]},
  "power_on_time": {"hours": 33012},
  "temperature": {"current": 35}
})";

medic::v1::SmartDisk Disk(const char* text) {
  medic::v1::SmartDisk disk;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &disk)) << text;
  return disk;
}

TEST(ParseSmartctlJsonTest, Table) {
  struct Row {
    const char* what;
    std::string json;
    uint32_t exit_status;
    const char* expected;  // SmartDisk in text format
  };
  const Row rows[] = {
      {"ATA disk, verdict passed, the three sector counters", kAtaPassed, 0,
       R"(protocol: "ATA" model: "WDC WD10EZEX-08WN4A0" serial: "WD-WCC6Y0000001" passed: true
          temperature_celsius: 35 power_on_hours: 33012 reallocated_sectors: 16
          pending_sectors: 24 offline_uncorrectable: 0)"},
      {"ATA disk failing: smartctl says FAILED and sets bit 3",
       R"({"device": {"protocol": "ATA"}, "model_name": "ST2000DM001",
           "smart_status": {"passed": false},
           "ata_smart_attributes": {"table": [{"id": 5, "raw": {"value": 2008}}]}})",
       8,
       R"(protocol: "ATA" model: "ST2000DM001" exit_status: 8 passed: false
          reallocated_sectors: 2008)"},
      {"old drive: no temperature, no power-on time, no pending or uncorrectable attributes",
       R"({"device": {"protocol": "ATA"}, "smart_status": {"passed": true},
           "ata_smart_attributes": {"table": [{"id": 5, "raw": {"value": 0}}]}})",
       0, R"(protocol: "ATA" passed: true reallocated_sectors: 0)"},
      {"NVMe: the health log, its temperature and hours when the top level has none",
       R"({"device": {"protocol": "NVMe"}, "model_name": "Samsung SSD 970 EVO Plus 500GB",
           "smart_status": {"passed": true, "nvme": {"value": 0}},
           "nvme_smart_health_information_log": {"critical_warning": 0, "temperature": 38,
             "available_spare": 100, "available_spare_threshold": 10, "percentage_used": 93,
             "power_on_hours": 21873, "media_errors": 0, "num_err_log_entries": 2874}})",
       0,
       R"(protocol: "NVMe" model: "Samsung SSD 970 EVO Plus 500GB" passed: true
          temperature_celsius: 38 power_on_hours: 21873 critical_warning: 0 percentage_used: 93
          media_errors: 0 available_spare: 100 available_spare_threshold: 10)"},
      {"USB bridge smartctl does not know: exit 1, its error message is the note",
       R"({"smartctl": {"messages": [
             {"string": "/dev/sdb: Unknown USB bridge [0x0bc2:0x231a (0x100)]",
              "severity": "error"},
             {"string": "Please specify device type with the -d option.",
              "severity": "information"}], "exit_status": 1}})",
       1, R"(exit_status: 1 note: "/dev/sdb: Unknown USB bridge [0x0bc2:0x231a (0x100)]")"},
      {"disk spun down: --nocheck=standby left it asleep",
       R"json({"smartctl": {"messages": [{"string": "Device is in STANDBY mode, exit(2)",
             "severity": "information"}], "exit_status": 2},
           "device": {"name": "/dev/sdb", "protocol": "ATA"}})json",
       2,
       R"(protocol: "ATA" exit_status: 2 asleep: true
          note: "asleep (standby): not woken just to read SMART")"},
      {"device open failed without a message",
       R"({"smartctl": {"exit_status": 2}, "device": {"name": "/dev/sdc"}})", 2,
       R"(exit_status: 2 note: "smartctl could not open the device")"},
      {"SCSI device without SMART support",
       R"({"device": {"protocol": "SCSI"}, "scsi_model_name": "Virtual disk",
           "smart_support": {"available": false}})",
       4,
       R"(protocol: "SCSI" model: "Virtual disk" exit_status: 4 note: "no SMART on this device")"},
      {"a SMART command failed and no verdict came back",
       R"({"device": {"protocol": "ATA"}, "smart_support": {"available": true}})", 4,
       R"(protocol: "ATA" exit_status: 4 note: "a SMART command failed")"},
      {"fields of the wrong type are left out, not misread",
       R"({"device": {"protocol": 3}, "smart_status": {"passed": "yes"},
           "temperature": {"current": "hot"}, "power_on_time": {"hours": -5},
           "ata_smart_attributes": {"table": [{"id": 197, "raw": {"value": 1.5}}, "x"]}})",
       0, R"(note: "smartctl gave no health verdict")"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.what);
    absl::StatusOr<medic::v1::SmartDisk> disk = ParseSmartctlJson(row.json, row.exit_status);
    ASSERT_TRUE(disk.ok()) << disk.status();
    google::protobuf::util::MessageDifferencer differencer;
    std::string differences;
    differencer.ReportDifferencesToString(&differences);
    EXPECT_TRUE(differencer.Compare(Disk(row.expected), *disk)) << differences;
  }
}

TEST(ParseSmartctlJsonTest, GarbageIsInvalidArgument) {
  // Nothing at all (smartctl killed before it printed), text output of an old smartctl without
  // --json, a JSON array, cut-off JSON.
  for (const char* text : {"", "  \n", "smartctl 6.2 2013-07-26 r3841\n=== START OF INFORMATION",
                           "[1, 2]", R"({"smart_status": {"passed": tr)"}) {
    absl::StatusOr<medic::v1::SmartDisk> disk = ParseSmartctlJson(text, 0);
    EXPECT_EQ(disk.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

medic::v1::SmartStatus Status(const char* text) {
  medic::v1::SmartStatus status;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &status)) << text;
  return status;
}

std::vector<std::string> Keys(const std::vector<medic::v1::Finding>& findings) {
  std::vector<std::string> out;
  for (const auto& f : findings) {
    out.push_back(f.resource() +
                  (f.severity() == medic::v1::SEVERITY_CRITICAL ? " critical" : " warning"));
  }
  return out;
}

const absl::Time kNow = absl::FromUnixSeconds(1700000000);
constexpr absl::Duration kQuiet = absl::Hours(24);

TEST(JudgeSmartTest, VerdictsAndMarks) {
  struct Row {
    const char* what;
    const char* status;
    std::vector<std::string> expected;
  };
  const Row rows[] = {
      {"healthy ATA and NVMe disks",
       R"(disks { device: "/dev/sda" passed: true reallocated_sectors: 0 pending_sectors: 0 }
          disks { device: "/dev/nvme0n1" passed: true critical_warning: 0 percentage_used: 3
                  available_spare: 100 available_spare_threshold: 10 media_errors: 0 })",
       {}},
      {"overall verdict failed",
       R"(disks { device: "/dev/sda" passed: false exit_status: 8 })",
       {"/dev/sda critical"}},
      {"exit bit 3 without a parsed verdict",
       R"(disks { device: "/dev/sda" exit_status: 8 })",
       {"/dev/sda critical"}},
      {"NVMe critical warning",
       R"(disks { device: "/dev/nvme0n1" passed: true critical_warning: 2 })",
       {"/dev/nvme0n1 critical"}},
      {"NVMe spare below its threshold",
       R"(disks { device: "/dev/nvme0n1" passed: true available_spare: 5
                  available_spare_threshold: 10 })",
       {"/dev/nvme0n1 critical"}},
      {"NVMe spare at its threshold is not below it",
       R"(disks { device: "/dev/nvme0n1" passed: true available_spare: 10
                  available_spare_threshold: 10 })",
       {}},
      {"wear at the mark",
       R"(disks { device: "/dev/nvme0n1" passed: true percentage_used: 90 })",
       {"/dev/nvme0n1 warning"}},
      {"wear just below the mark",
       R"(disks { device: "/dev/nvme0n1" passed: true percentage_used: 89 })",
       {}},
      {"counters non-zero at first sight: no rise seen, no finding",
       R"(disks { device: "/dev/sda" passed: true reallocated_sectors: 16 pending_sectors: 8 })",
       {}},
      {"a disk smartctl could not read",
       R"(disks { device: "/dev/sdb" exit_status: 1 note: "Unknown USB bridge" })",
       {}},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.what);
    ErrorHistory history;
    EXPECT_EQ(Keys(JudgeSmart(Status(row.status), kNow, kQuiet, {}, history)), row.expected);
  }
}

TEST(JudgeSmartTest, RisingCountWarnsThenHoldsForTheQuietPeriod) {
  ErrorHistory history;
  std::vector<medic::v1::Finding> standing =
      JudgeSmart(Status(R"(disks { device: "/dev/sda" model: "WDC WD10EZEX" passed: true
                                   reallocated_sectors: 16 pending_sectors: 8 })"),
                 kNow, kQuiet, {}, history);
  EXPECT_THAT(standing, IsEmpty());

  absl::Time now = kNow + absl::Hours(1);
  const medic::v1::SmartStatus risen = Status(R"(disks { device: "/dev/sda" model: "WDC WD10EZEX"
      passed: true serial: "WD-1" reallocated_sectors: 16 pending_sectors: 24 })");
  standing = JudgeSmart(risen, now, kQuiet, standing, history);
  ASSERT_THAT(Keys(standing), ElementsAre("/dev/sda warning"));
  EXPECT_EQ(standing[0].code(), "disk.smart_failing");
  EXPECT_EQ(standing[0].summary(),
            "Disk /dev/sda (WDC WD10EZEX): pending sectors rose by 16 to 24");
  EXPECT_EQ(standing[0].evidence().at("pending_sectors"), "24");
  EXPECT_EQ(standing[0].evidence().at("new_pending_sectors"), "16");
  EXPECT_EQ(standing[0].evidence().at("reallocated_sectors"), "16");
  EXPECT_FALSE(standing[0].evidence().contains("new_reallocated_sectors"));
  EXPECT_EQ(standing[0].evidence().at("serial"), "WD-1");
  EXPECT_EQ(standing[0].evidence().at("quiet_period"), "1d");

  // No new pending sector for 23h: the warning holds.
  now += absl::Hours(23);
  standing = JudgeSmart(risen, now, kQuiet, standing, history);
  ASSERT_THAT(Keys(standing), ElementsAre("/dev/sda warning"));
  EXPECT_THAT(standing[0].summary(), HasSubstr("24 pending sectors, none new"));

  // A full day after the rise it clears.
  now += absl::Hours(1);
  EXPECT_THAT(JudgeSmart(risen, now, kQuiet, standing, history), IsEmpty());
}

TEST(JudgeSmartTest, StandingAfterRestartHoldsFromNow) {
  // The agent restarted: its history is empty, the collector still has the finding standing.
  medic::v1::Finding was;
  was.set_code("disk.smart_failing");
  was.set_resource("/dev/sda");
  (*was.mutable_evidence())["new_pending_sectors"] = "16";
  const medic::v1::SmartStatus status =
      Status(R"(disks { device: "/dev/sda" passed: true pending_sectors: 24 })");
  ErrorHistory history;
  EXPECT_THAT(Keys(JudgeSmart(status, kNow, kQuiet, {was}, history)),
              ElementsAre("/dev/sda warning"));
  EXPECT_THAT(JudgeSmart(status, kNow + kQuiet, kQuiet, {was}, history), IsEmpty());
}

// A finding cannot clear while the disk sleeps: the probe did not see it heal.
TEST(JudgeSmartTest, AsleepDiskKeepsItsFinding) {
  medic::v1::Finding was;
  was.set_code("disk.smart_failing");
  was.set_resource("/dev/sda");
  was.set_severity(medic::v1::SEVERITY_CRITICAL);
  const medic::v1::SmartStatus asleep = Status(
      R"(disks { device: "/dev/sda" asleep: true note: "asleep (standby): not woken just to read SMART" })");
  ErrorHistory history;
  EXPECT_THAT(Keys(JudgeSmart(asleep, kNow, kQuiet, {was}, history)),
              ElementsAre("/dev/sda critical"));
  EXPECT_THAT(JudgeSmart(asleep, kNow, kQuiet, {}, history), IsEmpty());
}

TEST(JudgeSmartTest, WearDoesNotHoldOldCounters) {
  // Standing for wear only: the reallocated sectors that never rose are not a reason.
  medic::v1::Finding was;
  was.set_code("disk.smart_failing");
  was.set_resource("/dev/nvme0n1");
  (*was.mutable_evidence())["percentage_used"] = "93";
  ErrorHistory history;
  std::vector<medic::v1::Finding> findings = JudgeSmart(
      Status(
          R"(disks { device: "/dev/nvme0n1" passed: true percentage_used: 93 media_errors: 4 })"),
      kNow, kQuiet, {was}, history);
  ASSERT_THAT(Keys(findings), ElementsAre("/dev/nvme0n1 warning"));
  EXPECT_EQ(findings[0].summary(), "Disk /dev/nvme0n1: 93% of its rated endurance used");
  EXPECT_FALSE(findings[0].evidence().contains("quiet_period"));
}

TEST(JudgeSmartTest, CriticalSummaryNamesTheWarningBits) {
  ErrorHistory history;
  std::vector<medic::v1::Finding> findings =
      JudgeSmart(Status(R"(disks { device: "/dev/nvme0n1" model: "INTEL SSDPEKNW512G8" passed: false
                        exit_status: 8 critical_warning: 4 available_spare: 100
                        available_spare_threshold: 10 })"),
                 kNow, kQuiet, {}, history);
  ASSERT_THAT(Keys(findings), ElementsAre("/dev/nvme0n1 critical"));
  EXPECT_EQ(findings[0].summary(),
            "Disk /dev/nvme0n1 (INTEL SSDPEKNW512G8): SMART overall health self-assessment "
            "failed; NVMe critical warning 0x04 (NVM subsystem reliability degraded)");
  EXPECT_EQ(findings[0].evidence().at("critical_warning"), "0x04");
  EXPECT_EQ(findings[0].evidence().at("passed"), "false");
}

}  // namespace
}  // namespace medic::agent
