// Table-driven tests of the OS checks' pure parsers and judgements: kernel versions, apt's
// simulated upgrade, systemctl's failed units, timedatectl and chronyc, kern.log oopses and
// crash file names.

#include <ostream>
#include <string>
#include <vector>

#include "agent/probes/os/crashes_parse.h"
#include "agent/probes/os/os_parse.h"
#include "agent/probes/os/reboot_parse.h"
#include "agent/probes/os/services_parse.h"
#include "agent/probes/os/time_parse.h"
#include "agent/probes/os/updates_parse.h"
#include "common/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ---- kernel versions --------------------------------------------------------------------------

struct VersionCase {
  std::string a, b;
  int sign;  // of CompareVersions(a, b)
};

void PrintTo(const VersionCase& c, std::ostream* os) { *os << c.a << " vs " << c.b; }

class CompareVersionsTest : public ::testing::TestWithParam<VersionCase> {};

TEST_P(CompareVersionsTest, OrdersAsDpkg) {
  const VersionCase& c = GetParam();
  const int result = CompareVersions(c.a, c.b);
  EXPECT_EQ((result > 0) - (result < 0), c.sign) << c.a << " vs " << c.b;
  const int reverse = CompareVersions(c.b, c.a);
  EXPECT_EQ((reverse > 0) - (reverse < 0), -c.sign) << c.b << " vs " << c.a;
}

INSTANTIATE_TEST_SUITE_P(Rows, CompareVersionsTest,
                         ::testing::Values(
                             // Debian ABI bump: 20 after 18.
                             VersionCase{"6.1.0-20-amd64", "6.1.0-18-amd64", 1},
                             // Numbers compare as numbers, not text: 10 after 9.
                             VersionCase{"5.15.0-10-generic", "5.15.0-9-generic", 1},
                             // Equal strings.
                             VersionCase{"6.1.0-18-amd64", "6.1.0-18-amd64", 0},
                             // Leading zeros do not count.
                             VersionCase{"1.01", "1.1", 0},
                             // A longer version after its prefix.
                             VersionCase{"6.1.0", "6.1", 1},
                             // "~" sorts before the end: a release candidate before the release.
                             VersionCase{"6.2~rc1", "6.2", -1},
                             // Letters before other characters ("a" < "+").
                             VersionCase{"1.0a", "1.0+", -1},
                             // Fedora: the release number, then the dist tag.
                             VersionCase{"6.5.12-300.fc39.x86_64", "6.5.6-300.fc39.x86_64", 1},
                             // Minor version dominates the ABI number.
                             VersionCase{"6.5.0-1-amd64", "6.1.0-99-amd64", 1}));

struct FlavourCase {
  std::string release, flavour;
};

void PrintTo(const FlavourCase& c, std::ostream* os) { *os << c.release; }

class KernelFlavourTest : public ::testing::TestWithParam<FlavourCase> {};

TEST_P(KernelFlavourTest, Extracts) {
  EXPECT_EQ(KernelFlavour(GetParam().release), GetParam().flavour);
}

INSTANTIATE_TEST_SUITE_P(Rows, KernelFlavourTest,
                         ::testing::Values(
                             // Debian standard kernel.
                             FlavourCase{"6.1.0-18-amd64", "amd64"},
                             // Debian realtime kernel: a flavour of its own.
                             FlavourCase{"6.1.0-18-rt-amd64", "rt-amd64"},
                             // Ubuntu.
                             FlavourCase{"5.15.0-91-generic", "generic"},
                             // Fedora: no flavour part.
                             FlavourCase{"6.5.6-300.fc39.x86_64", ""},
                             // Bare upstream version.
                             FlavourCase{"6.6.1", ""}));

TEST(NewestKernelTest, PicksTheNewestOfTheRunningFlavour) {
  // The -rt kernel and the rescue image are other flavours; 6.1.0-9 is older than 6.1.0-20.
  EXPECT_EQ(NewestKernel({"6.1.0-9-amd64", "6.1.0-20-amd64", "6.1.0-25-rt-amd64",
                          "0-rescue-0a1b2c3d", "6.1.0-18-amd64"},
                         "6.1.0-18-amd64"),
            "6.1.0-20-amd64");
  // Only other flavours installed.
  EXPECT_EQ(NewestKernel({"6.1.0-25-rt-amd64"}, "6.1.0-18-amd64"), std::nullopt);
}

TEST(RebootPackagesTest, OneALineWithoutRepeats) {
  // update-notifier appends a package each time one asks for a reboot, repeats included.
  EXPECT_THAT(ParseRebootPackages("linux-image-6.1.0-20-amd64\nlibc6\n\nlibc6\n  dbus \n"),
              ElementsAre("linux-image-6.1.0-20-amd64", "libc6", "dbus"));
  EXPECT_TRUE(ParseRebootPackages("").empty());
}

TEST(JudgeRebootTest, SaysWhyAndNamesThePackages) {
  medic::v1::RebootStatus status;
  status.set_running_kernel("6.1.0-18-amd64");
  EXPECT_EQ(JudgeReboot(status), std::nullopt);  // nothing pending

  status.set_reboot_required(true);
  status.add_packages("libc6");
  status.set_newest_kernel("6.1.0-20-amd64");
  status.set_newer_kernel_installed(true);
  std::optional<medic::v1::Finding> finding = JudgeReboot(status);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->code(), "os.reboot_pending");
  EXPECT_EQ(finding->severity(), medic::v1::SEVERITY_WARNING);
  EXPECT_EQ(finding->summary(),
            "Reboot required by libc6; kernel 6.1.0-20-amd64 installed, 6.1.0-18-amd64 running");
  EXPECT_EQ(finding->evidence().at("packages"), "libc6");

  // A newer kernel alone.
  status.set_reboot_required(false);
  finding = JudgeReboot(status);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->summary(),
            "Reboot pending: kernel 6.1.0-20-amd64 installed, 6.1.0-18-amd64 running");
}

// ---- apt ----------------------------------------------------------------------------------------

struct AptCase {
  std::string name;
  std::string text;
  std::vector<std::string> packages;
  std::vector<std::string> security;
  bool ok = true;
};

void PrintTo(const AptCase& c, std::ostream* os) { *os << c.name; }

class AptSimulationTest : public ::testing::TestWithParam<AptCase> {};

TEST_P(AptSimulationTest, Parses) {
  const AptCase& c = GetParam();
  absl::StatusOr<std::vector<PendingUpgrade>> upgrades = ParseAptSimulation(c.text);
  if (!c.ok) {
    EXPECT_EQ(upgrades.status().code(), absl::StatusCode::kInvalidArgument);
    return;
  }
  ASSERT_TRUE(upgrades.ok()) << upgrades.status();
  std::vector<std::string> packages, security;
  for (const PendingUpgrade& u : *upgrades) {
    packages.push_back(u.package);
    if (u.security) security.push_back(u.package);
  }
  EXPECT_EQ(packages, c.packages);
  EXPECT_EQ(security, c.security);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, AptSimulationTest,
    ::testing::Values(
        // Debian 12: one security upgrade, one point-release upgrade, Conf lines ignored.
        AptCase{"debian12",
                "Reading package lists...\nBuilding dependency tree...\n"
                "The following packages will be upgraded:\n  libssl3 tzdata\n"
                "2 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
                "Inst libssl3 [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 "
                "Debian-Security:12/stable-security [amd64])\n"
                "Inst tzdata [2023c-5] (2023c-5+deb12u1 Debian:12.4/stable [all])\n"
                "Conf libssl3 (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])\n"
                "Conf tzdata (2023c-5+deb12u1 Debian:12.4/stable [all])\n",
                {"libssl3", "tzdata"},
                {"libssl3"}},
        // Ubuntu: the security pocket is "jammy-security", several origins on one line.
        AptCase{"ubuntu",
                "Inst openssl [3.0.2-0ubuntu1.10] (3.0.2-0ubuntu1.12 "
                "Ubuntu:22.04/jammy-updates, Ubuntu:22.04/jammy-security [amd64]) []\n"
                "Inst snapd [2.58+22.04] (2.60.4+22.04 Ubuntu:22.04/jammy-updates [amd64])\n",
                {"openssl", "snapd"},
                {"openssl"}},
        // Nothing to upgrade.
        AptCase{"up_to_date",
                "Reading package lists...\n0 upgraded, 0 newly installed, 0 to remove and 0 not "
                "upgraded.\n",
                {},
                {}},
        // A package the "kept back" list names is not an upgrade.
        AptCase{"kept_back",
                "The following packages have been kept back:\n  linux-image-amd64\n"
                "0 upgraded, 0 newly installed, 0 to remove and 1 not upgraded.\n",
                {},
                {}},
        // An "Inst" line with nothing after it is malformed.
        AptCase{"malformed", "Inst \n", {}, {}, false}),
    [](const auto& info) { return info.param.name; });

TEST(JudgeUpdatesTest, WarningCriticalAndSummary) {
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  medic::v1::UpdatesStatus status;
  status.set_package_manager("apt");
  EXPECT_EQ(JudgeUpdates(status, {}, now), std::nullopt);  // nothing pending

  status.set_pending(7);
  status.set_security(2);
  for (const char* p : {"tzdata", "openssl", "libc6", "curl", "vim", "git", "bash"}) {
    status.add_packages(p);
  }
  status.add_security_packages("openssl");
  status.add_security_packages("libc6");
  // Lists updated 2 days ago: security updates known 2 days, under the 7-day mark.
  *status.mutable_last_update() = common::ToProtoTime(now - absl::Hours(48));
  std::optional<medic::v1::Finding> finding = JudgeUpdates(status, {}, now);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->severity(), medic::v1::SEVERITY_WARNING);
  EXPECT_EQ(finding->summary(),
            "7 updates pending, 2 of them security (openssl, libc6, tzdata, curl, vim, …) — last "
            "apt update 2d ago");

  // 8 days: critical.
  *status.mutable_last_update() = common::ToProtoTime(now - absl::Hours(24 * 8));
  finding = JudgeUpdates(status, {}, now);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->severity(), medic::v1::SEVERITY_CRITICAL);

  // Old lists but no security update: warning.
  status.set_security(0);
  status.clear_security_packages();
  EXPECT_EQ(JudgeUpdates(status, {}, now)->severity(), medic::v1::SEVERITY_WARNING);

  // Security updates with no known update time: only the count, warning.
  status.set_security(2);
  status.clear_last_update();
  finding = JudgeUpdates(status, {}, now);
  EXPECT_EQ(finding->severity(), medic::v1::SEVERITY_WARNING);
  EXPECT_THAT(finding->summary(), ::testing::Not(HasSubstr("last apt update")));
}

// ---- systemctl ----------------------------------------------------------------------------------

struct UnitsCase {
  std::string name;
  std::string text;
  std::vector<std::string> units;
  std::string first_description;
  bool ok = true;
};

void PrintTo(const UnitsCase& c, std::ostream* os) { *os << c.name; }

class FailedUnitsTest : public ::testing::TestWithParam<UnitsCase> {};

TEST_P(FailedUnitsTest, Parses) {
  const UnitsCase& c = GetParam();
  absl::StatusOr<std::vector<medic::v1::FailedUnit>> units = ParseFailedUnits(c.text);
  if (!c.ok) {
    EXPECT_EQ(units.status().code(), absl::StatusCode::kInvalidArgument);
    return;
  }
  ASSERT_TRUE(units.ok()) << units.status();
  std::vector<std::string> names;
  for (const auto& u : *units) names.push_back(u.unit());
  EXPECT_EQ(names, c.units);
  if (!units->empty()) {
    EXPECT_EQ(units->front().description(), c.first_description);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rows, FailedUnitsTest,
    ::testing::Values(
        // systemd 252 with --plain: aligned columns, descriptions with spaces.
        UnitsCase{"two_units",
                  "nginx.service          loaded failed failed A high performance web server\n"
                  "logrotate.service      loaded failed failed Rotate log files\n",
                  {"nginx.service", "logrotate.service"},
                  "A high performance web server"},
        // Older systemd prints a bullet even with --plain.
        UnitsCase{"bullet",
                  "● smartd.service loaded failed failed Self Monitoring and Reporting "
                  "Technology (SMART) Daemon\n",
                  {"smartd.service"},
                  "Self Monitoring and Reporting Technology (SMART) Daemon"},
        // A unit whose file is gone: "not-found", no description.
        UnitsCase{
            "not_found", "vboxadd.service not-found failed failed\n", {"vboxadd.service"}, ""},
        // Nothing failed: empty output.
        UnitsCase{"none", "", {}, ""},
        // A line with too few fields.
        UnitsCase{"malformed", "nginx.service loaded\n", {}, "", false}),
    [](const auto& info) { return info.param.name; });

TEST(JudgeServicesTest, OneFindingPerUnit) {
  medic::v1::ServicesStatus status;
  medic::v1::FailedUnit& unit = *status.add_failed_units();
  unit.set_unit("nginx.service");
  unit.set_load("loaded");
  unit.set_active("failed");
  unit.set_sub("failed");
  unit.set_description("A high performance web server");
  std::vector<medic::v1::Finding> findings = JudgeServices(status);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].code(), "os.service_failed");
  EXPECT_EQ(findings[0].resource(), "nginx.service");
  EXPECT_EQ(findings[0].summary(), "nginx.service has failed (A high performance web server)");
  EXPECT_EQ(findings[0].evidence().at("state"), "loaded failed failed");
}

// ---- time ---------------------------------------------------------------------------------------

struct TimedatectlCase {
  std::string name;
  std::string text;
  bool ok;
  bool synchronized = false;
  std::string detail = {};
};

void PrintTo(const TimedatectlCase& c, std::ostream* os) { *os << c.name; }

class TimedatectlTest : public ::testing::TestWithParam<TimedatectlCase> {};

TEST_P(TimedatectlTest, Parses) {
  const TimedatectlCase& c = GetParam();
  absl::StatusOr<medic::v1::TimeSyncStatus> status = ParseTimedatectl(c.text);
  if (!c.ok) {
    EXPECT_EQ(status.status().code(), absl::StatusCode::kInvalidArgument);
    return;
  }
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->source(), "timedatectl");
  EXPECT_EQ(status->synchronized(), c.synchronized);
  EXPECT_EQ(status->detail(), c.detail);
  EXPECT_FALSE(status->offset_known());
}

INSTANTIATE_TEST_SUITE_P(Rows, TimedatectlTest,
                         ::testing::Values(
                             // systemd-timesyncd running and synchronized.
                             TimedatectlCase{
                                 "synced",
                                 "Timezone=Europe/Berlin\nLocalRTC=no\nCanNTP=yes\nNTP=yes\n"
                                 "NTPSynchronized=yes\nTimeUSec=Tue 2023-11-14 23:13:20 CET\n",
                                 true, true, "NTP=yes"},
                             // NTP switched off: not synchronized.
                             TimedatectlCase{"ntp_off", "CanNTP=yes\nNTP=no\nNTPSynchronized=no\n",
                                             true, false, "NTP=no"},
                             // systemd < 239 has no `show`: no NTPSynchronized key.
                             TimedatectlCase{"old_systemd", "Timezone=UTC\nLocalRTC=no\n", false},
                             // A value other than yes/no.
                             TimedatectlCase{"garbage", "NTPSynchronized=maybe\n", false}),
                         [](const auto& info) { return info.param.name; });

struct ChronyCase {
  std::string name;
  std::string text;
  bool ok;
  bool synchronized = false;
  double offset = 0;
};

void PrintTo(const ChronyCase& c, std::ostream* os) { *os << c.name; }

class ChronyTrackingTest : public ::testing::TestWithParam<ChronyCase> {};

TEST_P(ChronyTrackingTest, Parses) {
  const ChronyCase& c = GetParam();
  absl::StatusOr<medic::v1::TimeSyncStatus> status = ParseChronyTracking(c.text);
  if (!c.ok) {
    EXPECT_EQ(status.status().code(), absl::StatusCode::kInvalidArgument);
    return;
  }
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->source(), "chrony");
  EXPECT_EQ(status->synchronized(), c.synchronized);
  EXPECT_TRUE(status->offset_known());
  EXPECT_DOUBLE_EQ(status->offset_seconds(), c.offset);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, ChronyTrackingTest,
    ::testing::Values(
        // Synchronized to a stratum-2 server, 12 µs off.
        ChronyCase{"synced",
                   "C0A80001,192.168.0.1,3,1699999990.123456789,-0.000012345,0.000023456,"
                   "0.000045678,-12.345,0.001,0.010,0.012345,0.001234,1025.5,Normal\n",
                   true, true, -0.000012345},
        // chronyd without a source: stratum 0, leap "Not synchronised".
        ChronyCase{"unsynced",
                   "00000000,,0,0.000000000,2.315000000,0.000000000,0.000000000,0.000,0.000,"
                   "0.000,1.000000000,1.000000000,0.0,Not synchronised\n",
                   true, false, 2.315},
        // Too few fields (a chronyc error message).
        ChronyCase{"error", "506 Cannot talk to daemon\n", false},
        // Non-numeric stratum.
        ChronyCase{"bad_stratum", "A,b,x,0,0,0,0,0,0,0,0,0,0,Normal\n", false}),
    [](const auto& info) { return info.param.name; });

TEST(JudgeTimeSyncTest, RaisesOnlyWhenASourceSaysUnsynced) {
  medic::v1::TimeSyncStatus status;
  EXPECT_EQ(JudgeTimeSync(status), std::nullopt);  // no source could tell
  status = FromKernelClock({.unsynchronized = false, .est_error_seconds = 0.0005});
  EXPECT_EQ(JudgeTimeSync(status), std::nullopt);
  status = FromKernelClock({.unsynchronized = true});
  std::optional<medic::v1::Finding> finding = JudgeTimeSync(status);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->code(), "os.time_unsynced");
  EXPECT_EQ(finding->summary(), "Clock not synchronised (kernel: adjtimex: STA_UNSYNC)");

  absl::StatusOr<medic::v1::TimeSyncStatus> chrony =
      ParseChronyTracking("00000000,,0,0.0,2.315,0,0,0,0,0,1,1,0.0,Not synchronised");
  ASSERT_TRUE(chrony.ok());
  finding = JudgeTimeSync(*chrony);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->summary(),
            "Clock not synchronised, offset +2.315000s (chrony: reference , stratum 0, Not "
            "synchronised)");
  EXPECT_EQ(finding->evidence().at("offset_seconds"), "+2.315000s");
}

// ---- crashes ------------------------------------------------------------------------------------

struct OopsCase {
  std::string name;
  std::string line;
  int found;  // 0 or 1
  std::string detail = {};
};

void PrintTo(const OopsCase& c, std::ostream* os) { *os << c.name; }

class KernelOopsTest : public ::testing::TestWithParam<OopsCase> {};

// now = 2023-11-14T22:13:20Z, window 24h.
TEST_P(KernelOopsTest, FindsOopsesInTheWindow) {
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  std::vector<medic::v1::CrashReport> oopses = FindKernelOopses(
      GetParam().line, "/var/log/kern.log", now - absl::Hours(24), now, absl::UTCTimeZone());
  ASSERT_EQ(static_cast<int>(oopses.size()), GetParam().found);
  if (GetParam().found == 1) {
    EXPECT_EQ(oopses[0].program(), "kernel");
    EXPECT_EQ(oopses[0].detail(), GetParam().detail);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rows, KernelOopsTest,
    ::testing::Values(
        // Syslog stamp within the window, uptime stamp stripped.
        OopsCase{"syslog_bug",
                 "Nov 14 06:12:44 laptop kernel: [ 8423.118230] BUG: kernel NULL pointer "
                 "dereference, address: 0000000000000008",
                 1, "BUG: kernel NULL pointer dereference, address: 0000000000000008"},
        // RFC 3339 stamp (rsyslog high precision), an Oops line.
        OopsCase{"rfc3339_oops",
                 "2023-11-14T06:12:44.118301+00:00 laptop kernel: Oops: 0002 [#1] PREEMPT SMP "
                 "NOPTI",
                 1, "Oops: 0002 [#1] PREEMPT SMP NOPTI"},
        // General protection fault.
        OopsCase{"gpf",
                 "Nov 14 20:01:02 srv kernel: [  77.1] general protection fault, probably for "
                 "non-canonical address 0xdead000000000122: 0000 [#1] SMP PTI",
                 1,
                 "general protection fault, probably for non-canonical address "
                 "0xdead000000000122: 0000 [#1] SMP PTI"},
        // Older than the window (two days ago).
        OopsCase{"too_old", "Nov 12 06:12:44 laptop kernel: [ 1.0] BUG: soft lockup", 0},
        // December stamp seen in November: last year, far outside the window.
        OopsCase{"last_year", "Dec 31 23:59:59 laptop kernel: Kernel panic - not syncing", 0},
        // An ordinary kernel line.
        OopsCase{"ordinary",
                 "Nov 14 06:12:44 laptop kernel: [ 8423.1] usb 1-2: new high-speed USB device", 0},
        // A marker without a readable time.
        OopsCase{"no_time", "BUG: scheduling while atomic", 0}),
    [](const auto& info) { return info.param.name; });

TEST(CrashNamesTest, ProgramFromFileNames) {
  // apport: path with "/" as "_", then the uid.
  EXPECT_EQ(ProgramFromCrashName("_usr_bin_evince.1000.crash"), "evince");
  EXPECT_EQ(ProgramFromCrashName("_usr_lib_firefox_firefox.1000.crash"), "firefox");
  // systemd-coredump: core.COMM.UID.BOOT_ID.PID.USEC.zst
  EXPECT_EQ(ProgramFromCoredumpName(
                "core.gnome-shell.1000.6f1c0a4e5d2b4c3aa1b2c3d4e5f60718.2211.1699941604000000.zst"),
            "gnome-shell");
  EXPECT_EQ(ProgramFromCoredumpName("core"), std::nullopt);
  EXPECT_EQ(ProgramFromCoredumpName("notes.txt"), std::nullopt);
}

TEST(ApportReportTest, ReadsHeaderKeys) {
  ApportReport report = ParseApportReport(
      "ProblemType: Crash\nArchitecture: amd64\nDate: Tue Nov 14 08:41:07 2023\n"
      "ExecutablePath: /usr/bin/evince\nProcMaps:\n 5581c3a00000-5581c3a4f000 r--p\n"
      "Signal: 11\n");
  EXPECT_EQ(report.problem_type, "Crash");
  EXPECT_EQ(report.executable_path, "/usr/bin/evince");
  EXPECT_EQ(report.signal, "11");
}

// ---- uptime -------------------------------------------------------------------------------------

TEST(JudgeUptimeTest, AboveTheLimitOnly) {
  EXPECT_EQ(JudgeUptime(absl::Hours(24 * 30), absl::Hours(24 * 30)), std::nullopt);
  std::optional<medic::v1::Finding> finding =
      JudgeUptime(absl::Hours(24 * 45) + absl::Minutes(17), absl::Hours(24 * 30));
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->code(), "os.uptime_long");
  EXPECT_EQ(finding->resource(), "");
  EXPECT_EQ(finding->summary(), "Up 45d without a reboot (over 30d)");
}

}  // namespace
}  // namespace medic::agent
