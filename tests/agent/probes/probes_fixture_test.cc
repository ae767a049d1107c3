// Runs the Linux probes on the fixture trees under
// tests/fixtures/{hardware,os,network,inventory}/<case>/ and compares what they report with the
// case's expected.textproto (a medic.v1.Snapshot holding the expected reports and findings). A
// hardware case may hold standing.textproto: the findings standing before the collection
// (hysteresis). Programs the probes run answer from the case's commands/ folder
// (FixtureCommandRunner), modification times from its mtimes.txt; the kernel clock (adjtimex) of
// every os case says "synchronized", and syslog times are UTC. A case may also hold previous/: the
// files that differed one collection earlier (counters that have since risen); the probes then
// collect first on previous/ laid over the case (programs answering from previous/commands/ when it
// exists, else from none), and the findings of that collection stand for the second, a minute
// later, which is the one compared.
//
// After a deliberate change of output, MEDIC_UPDATE_FIXTURES=1 rewrites expected.textproto from
// what the probes report; review the diff before committing it.

#include <cstdlib>
#include <fstream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "agent/probes/hardware/hardware_probes.h"
#include "agent/probes/network/network_probes.h"
#include "agent/probes/os/os_probes.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/support/fixture_command_runner.h"
#include "tests/support/fixture_file_system.h"
#include "tests/support/probe_harness.h"

namespace medic::agent {
namespace {

using medic::testing::FixtureFileSystem;

// `upper` laid over `lower`: a file or folder upper has hides lower's; everything else, and
// statvfs and file times (the case's mtimes.txt: git keeps none), come from lower.
class OverlayFileSystem : public common::FileSystem {
 public:
  OverlayFileSystem(std::string upper_root, const common::FileSystem& lower)
      : upper_(std::move(upper_root)), lower_(lower) {}

  absl::StatusOr<std::string> ReadFile(std::string_view path, size_t max_bytes) const override {
    return upper_.Exists(path) ? upper_.ReadFile(path, max_bytes)
                               : lower_.ReadFile(path, max_bytes);
  }
  absl::StatusOr<std::vector<std::string>> ListDir(std::string_view path) const override {
    return upper_.Exists(path) ? upper_.ListDir(path) : lower_.ListDir(path);
  }
  absl::StatusOr<common::FsStats> StatFs(std::string_view path) const override {
    return lower_.StatFs(path);
  }
  absl::StatusOr<std::string> ReadLink(std::string_view path) const override {
    return upper_.Exists(path) ? upper_.ReadLink(path) : lower_.ReadLink(path);
  }
  bool Exists(std::string_view path) const override {
    return upper_.Exists(path) || lower_.Exists(path);
  }
  absl::StatusOr<common::FileInfo> Stat(std::string_view path) const override {
    return lower_.Stat(path);
  }
  absl::StatusOr<common::UniqueFd> OpenStream(std::string_view path) const override {
    return upper_.Exists(path) ? upper_.OpenStream(path) : lower_.OpenStream(path);
  }

 private:
  common::RootedFileSystem upper_;
  const common::FileSystem& lower_;
};

struct FixtureCase {
  std::string area;  // folder under tests/fixtures
  std::string name;  // the case's folder
};

void PrintTo(const FixtureCase& c, std::ostream* os) { *os << c.area << "/" << c.name; }

std::string CaseDir(const FixtureCase& c) {
  return std::string(MEDIC_FIXTURES) + "/" + c.area + "/" + c.name;
}

std::vector<std::unique_ptr<Probe>> ProbesFor(const std::string& area) {
  std::vector<std::unique_ptr<Probe>> probes;
  if (area == "hardware") {
    probes.push_back(NewCpuProbe());
    probes.push_back(NewMemoryProbe());
    probes.push_back(NewFilesystemsProbe());
    probes.push_back(NewThermalProbe());
    probes.push_back(NewBatteryProbe());
    probes.push_back(NewHardwareErrorsProbe());
    probes.push_back(NewSmartProbe());
  } else if (area == "os") {
    // Fixtures say nothing of uname(2): the architecture comes from /proc/sys/kernel/arch only.
    probes.push_back(NewOsProbe([] { return std::string(); }));
    probes.push_back(NewRebootProbe());
    probes.push_back(NewUpdatesProbe());
    probes.push_back(NewServicesProbe());
    probes.push_back(NewTimeProbe([]() -> absl::StatusOr<KernelClock> {
      return KernelClock{.unsynchronized = false, .est_error_seconds = 0.0005};
    }));
    probes.push_back(NewCrashesProbe(absl::UTCTimeZone()));
  } else if (area == "network") {
    probes.push_back(NewNetworkProbe());
  } else if (area == "inventory") {
    probes.push_back(NewInventoryProbe());
  }
  return probes;
}

class ProbeFixtureTest : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(ProbeFixtureTest, ReportsWhatTheTreeHolds) {
  const std::string dir = CaseDir(GetParam());
  FixtureFileSystem fs(dir);
  medic::testing::FixtureCommandRunner commands(dir);
  common::FakeClock clock;  // 2023-11-14T22:13:20Z
  medic::v1::Snapshot standing;
  medic::testing::ReadTextProto(dir + "/standing.textproto", &standing);
  std::vector<medic::v1::Finding> standing_findings(standing.findings().begin(),
                                                    standing.findings().end());

  std::vector<std::unique_ptr<Probe>> probes = ProbesFor(GetParam().area);
  if (fs.Exists("/previous")) {
    OverlayFileSystem previous(dir + "/previous", fs);
    medic::testing::FixtureCommandRunner previous_commands(dir + "/previous");
    std::vector<medic::v1::Finding> raised;
    for (std::unique_ptr<Probe>& probe : probes) {
      absl::StatusOr<ProbeOutput> output = medic::testing::CollectWithCommands(
          *probe, previous, previous_commands, clock, {}, standing_findings);
      ASSERT_TRUE(output.ok()) << "previous/ " << probe->name() << ": " << output.status();
      raised.insert(raised.end(), output->findings.begin(), output->findings.end());
    }
    standing_findings = std::move(raised);
    clock.Advance(absl::Minutes(1));
  }

  medic::v1::Snapshot actual;
  for (std::unique_ptr<Probe>& probe : probes) {
    absl::StatusOr<ProbeOutput> output =
        medic::testing::CollectWithCommands(*probe, fs, commands, clock, {}, standing_findings);
    ASSERT_TRUE(output.ok()) << probe->name() << ": " << output.status();
    EXPECT_EQ(output->report.probe(), probe->name());
    *actual.add_reports() = output->report;
    for (const medic::v1::Finding& finding : output->findings) *actual.add_findings() = finding;
  }

  const std::string expected_path = dir + "/expected.textproto";
  if (std::getenv("MEDIC_UPDATE_FIXTURES") != nullptr) {
    std::string text;
    google::protobuf::TextFormat::PrintToString(actual, &text);
    std::ofstream(expected_path) << "# What the probes report on this case: a medic.v1.Snapshot "
                                    "of their reports and findings.\n"
                                 << text;
    GTEST_SKIP() << "rewrote " << expected_path;
  }
  medic::v1::Snapshot expected;
  ASSERT_TRUE(medic::testing::ReadTextProto(expected_path, &expected)) << expected_path;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.set_float_comparison(google::protobuf::util::MessageDifferencer::APPROXIMATE);
  std::string differences;
  differencer.ReportDifferencesToString(&differences);
  EXPECT_TRUE(differencer.Compare(expected, actual)) << expected_path << " differs:\n"
                                                     << differences;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ProbeFixtureTest,
    ::testing::Values(
        // 8-thread laptop, snaps, gvfs/portal FUSE, an exFAT USB disk with a space in its label:
        // everything healthy, no findings.
        FixtureCase{"hardware", "laptop_healthy"},
        // Server: /home at 3.1% free (critical), /var at 7.5% (warning), a bind mount of /srv
        // reported once, docker overlays ignored, an NFS backup share.
        FixtureCase{"hardware", "server_disk_critical"},
        // CentOS 6: old /proc/stat and meminfo (no MemAvailable), rootfs under /, only
        // /proc/mounts readable, /var/spool at 2% of inodes free (disk.inodes_low).
        FixtureCase{"hardware", "centos6_inodes_low"},
        // Standing findings: / critical at 6% holds, /data warning at 11% holds, /scratch at
        // 12.5% clears, /var/mail inodes at 11.5% hold, /tmp at 9.5% is newly raised.
        FixtureCase{"hardware", "hysteresis_standing"},
        // arm64 container: no model name, no swap, overlay root, /etc/hosts bind mounts of the
        // host disk, /proc and /sys masks not reported.
        FixtureCase{"hardware", "minimal_container"},
        // Laptop (i7-1165G7): coretemp Package id 0 at 97 °C of crit 100 with cores 93–96 (not
        // judged beside the package), throttle counters up 28 since previous/ (1,204 since
        // boot) → cpu.overheat warning on "coretemp/Package id 0"; nvme, iwlwifi, acpitz and a
        // TSKN zone reported, x86_pkg_temp skipped as coretemp's duplicate; BAT0 at 62.0% of
        // design (35.34 of 57 Wh, 412 cycles) → battery.degraded warning; the mouse's battery
        // (scope Device) and the AC/USB-C supplies not reported. No other finding.
        FixtureCase{"hardware", "laptop_hot_worn_battery"},
        // Server: EDAC mc0 corrected 12 → 15 since previous/ and one uncorrected error →
        // hardware.errors critical on mc0; mc1's 3 old corrected errors raise nothing; MCE 0;
        // sdb ioerr_cnt 0x14 → 0x1a → disk.io_errors warning; / (ext4) mounted ro while fstab
        // mounts it errors=remount-ro → disk.readonly critical. No other finding.
        FixtureCase{"hardware", "server_edac_errors"},
        // Desktop, 4 cores: MemAvailable 3.0%, PSI memory full avg60 22.03, 3 OOM kills →
        // memory.pressure (available_low,psi_full); swap 2.0% free → swap.exhausted; load15
        // 11.00 (2.75 per core), PSI cpu some avg60 58.12 → cpu.load_high. No fstab, no
        // sensors, no battery. No other finding.
        FixtureCase{"hardware", "desktop_memory_pressure"},
        // Desktop: WD Blue (ATA) with 16 reallocated sectors (unchanged) and pending sectors
        // 8 → 24 since previous/ → disk.smart_failing warning on /dev/sda, its verdict still
        // PASSED (exit status 64: error log entries are no finding); a Samsung 970 EVO Plus at
        // 93% of its rated endurance → disk.smart_failing warning on /dev/nvme0n1; loop0, sr0
        // and dm-0 not asked. No other finding.
        FixtureCase{"hardware", "desktop_smart_failing"},
        // Laptop: the NVMe drive's critical warning 0x04 (reliability degraded; smartctl FAILED,
        // exit 8) → disk.smart_failing critical on /dev/nvme0n1; a USB disk behind a bridge
        // smartctl does not know (exit 1) is data with smartctl's message, no finding; zram0 and
        // loop0 not asked. No other finding.
        FixtureCase{"hardware", "laptop_nvme_critical"},
        // Debian 12 with /proc/sys/kernel/arch and a machine-id.
        FixtureCase{"os", "debian12_workstation"},
        // Ubuntu: only /usr/lib/os-release; kernel without the arch sysctl; up 45 days
        // (os.uptime_long).
        FixtureCase{"os", "ubuntu2204_arm64_server"},
        // Alpine container: unquoted values, no machine-id.
        FixtureCase{"os", "alpine_container"},
        // No os-release at all (os-release(5) defaults), hostname "(none)", machine-id
        // "uninitialized" (left empty).
        FixtureCase{"os", "busybox_no_os_release"},
        // Ubuntu desktop: reboot-required with packages, 5.15.0-89 installed beside the running
        // 5.15.0-88 (a DKMS leftover of -91 without modules.dep is no kernel), apt with 12
        // upgrades of which 3 security and lists last updated 11 days ago → os.reboot_pending,
        // os.updates_pending critical; timesyncd synchronized, no failed unit.
        FixtureCase{"os", "workstation_reboot_and_updates"},
        // Debian server up 45 days, two failed units, timesyncd not synchronized →
        // os.service_failed for backup-nightly.service and nginx.service, os.time_unsynced,
        // os.uptime_long; apt up to date.
        FixtureCase{"os", "server_failed_units_unsynced"},
        // Ubuntu laptop: evince crashed this morning (apport report; an older gnome-calculator
        // report is outside the 24h window) and an iwlmvm oops this evening in kern.log (one from
        // four days ago is not) → os.crash_recent for evince and for the kernel.
        FixtureCase{"os", "laptop_recent_crash"},
        // Laptop: wifi (phy80211) with IPv4 and SLAAC IPv6, unplugged ethernet (speed -1),
        // docker bridge with no carrier, systemd-resolved stub.
        FixtureCase{"network", "laptop_wifi_ethernet_docker"},
        // Server: 10G and 1G (jumbo) NICs, an administratively down port, bonding_masters,
        // static IPv6 with a router default, resolv.conf with comments and domain/search.
        FixtureCase{"network", "server_two_nics_ipv6"},
        // Container: a veth, IPv6 off (no /proc/net/if_inet6 or ipv6_route), docker's resolver.
        FixtureCase{"network", "minimal_container"},
        // Dell Latitude 7420 (DMI with service tag, BIOS 1.31.0): i7-1185G7, 8 threads on 4
        // cores in 1 socket, 16 GB; an NVMe disk (serial from device/serial) and a USB stick
        // (removable, vendor and model trimmed, serial from its WWID); loop0 and zram0 left out;
        // 6 PCI devices with hex ids without "0x"; USB root hubs, a Logitech receiver, a
        // Bluetooth adapter without strings and the stick listed, their interfaces not.
        FixtureCase{"inventory", "laptop_inventory"}),
    [](const auto& info) { return info.param.area + "_" + info.param.name; });

}  // namespace
}  // namespace medic::agent
