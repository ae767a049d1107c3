// The OS check probes when their programs fail, are missing or answer oddly, and with configured
// marks: what becomes data, what becomes an error, and what the config changes.

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/probes/os/os_probes.h"
#include "common/process/command_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/faulty_file_system.h"
#include "tests/support/fixture_command_runner.h"
#include "tests/support/fixture_file_system.h"
#include "tests/support/probe_harness.h"

namespace medic::agent {
namespace {

using medic::testing::CollectWithCommands;
using ::testing::HasSubstr;

// Answers each command (by CommandText) with what it was told; anything else is NotFound.
class ScriptedCommandRunner : public common::CommandRunner {
 public:
  void Answer(std::string command, absl::StatusOr<common::CommandResult> result) {
    answers_.insert_or_assign(std::move(command), std::move(result));
  }
  absl::StatusOr<common::CommandResult> Run(const std::vector<std::string>& argv,
                                            absl::Duration /*timeout*/,
                                            size_t /*max_output*/) const override {
    auto it = answers_.find(common::CommandText(argv));
    if (it == answers_.end()) return absl::NotFoundError(argv[0] + ": no such program");
    return it->second;
  }

 private:
  std::map<std::string, absl::StatusOr<common::CommandResult>> answers_;
};

common::CommandResult Exited(int code, std::string out, std::string err = "") {
  common::CommandResult result;
  result.exit_code = code;
  result.std_out = std::move(out);
  result.std_err = std::move(err);
  return result;
}

constexpr char kApt[] = "apt-get -s -o Debug::NoLocking=1 upgrade";
constexpr char kSystemctl[] = "systemctl list-units --failed --plain --no-legend --no-pager";

std::string CaseDir(const std::string& name) { return std::string(MEDIC_FIXTURES) + "/os/" + name; }

std::vector<std::string> Codes(const ProbeOutput& output) {
  std::vector<std::string> codes;
  for (const auto& f : output.findings) codes.push_back(f.code() + "@" + f.resource());
  return codes;
}

class OsChecksTest : public ::testing::Test {
 protected:
  common::RootedFileSystem root_{"/nonexistent-medic-root"};
  medic::testing::FaultyFileSystem fs_{root_};
  ScriptedCommandRunner commands_;
  common::FakeClock clock_;
};

TEST_F(OsChecksTest, AptFailingIsAnErrorNamingTheCommand) {
  commands_.Answer(kApt, Exited(100, "", "E: Could not open lock file /var/lib/dpkg/lock\n"));
  auto probe = NewUpdatesProbe();
  absl::StatusOr<ProbeOutput> output = CollectWithCommands(*probe, fs_, commands_, clock_);
  ASSERT_EQ(output.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(output.status().message()), HasSubstr(kApt));
  EXPECT_THAT(std::string(output.status().message()), HasSubstr("Could not open lock"));
}

TEST_F(OsChecksTest, AptOverrunningIsDeadlineExceeded) {
  commands_.Answer(kApt, absl::DeadlineExceededError("`apt-get …` did not finish within 30s"));
  auto probe = NewUpdatesProbe();
  EXPECT_EQ(CollectWithCommands(*probe, fs_, commands_, clock_).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST_F(OsChecksTest, WithoutAptOtherPackageManagersAreDataNotFindings) {
  auto probe = NewUpdatesProbe();
  absl::StatusOr<ProbeOutput> output = CollectWithCommands(*probe, fs_, commands_, clock_);
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_EQ(output->report.updates().note(), "no package manager known (apt-get not installed)");
  EXPECT_TRUE(output->findings.empty());

  fs_.SetFile("/usr/bin/dnf", "");
  output = CollectWithCommands(*probe, fs_, commands_, clock_);
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_EQ(output->report.updates().package_manager(), "dnf");
  EXPECT_FALSE(output->report.updates().supported());
  EXPECT_EQ(output->report.updates().note(), "dnf is not supported yet");
  EXPECT_TRUE(output->findings.empty());
}

TEST_F(OsChecksTest, SystemctlFailingIsData) {
  fs_.SetFile("/run/systemd/system", "");
  commands_.Answer(kSystemctl,
                   Exited(1, "", "Failed to connect to bus: No such file or directory\n"));
  auto probe = NewServicesProbe();
  absl::StatusOr<ProbeOutput> output = CollectWithCommands(*probe, fs_, commands_, clock_);
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_FALSE(output->report.services().systemd_running());
  EXPECT_EQ(output->report.services().note(),
            "systemd not running: systemctl exited with 1: Failed to connect to bus: No such file "
            "or directory");
  EXPECT_TRUE(output->findings.empty());
}

TEST_F(OsChecksTest, TimeFallsBackFromTimedatectlToChronyToTheKernel) {
  // timedatectl fails without D-Bus; chrony answers "not synchronised".
  commands_.Answer("timedatectl show", Exited(1, "", "System has not been booted with systemd"));
  commands_.Answer("chronyc -c tracking",
                   Exited(0,
                          "00000000,,0,0.000000000,2.315000000,0.0,0.0,0.000,0.000,0.000,"
                          "1.0,1.0,0.0,Not synchronised\n"));
  bool kernel_asked = false;
  auto probe = NewTimeProbe([&]() -> absl::StatusOr<KernelClock> {
    kernel_asked = true;
    return KernelClock{.unsynchronized = true};
  });
  absl::StatusOr<ProbeOutput> output = CollectWithCommands(*probe, fs_, commands_, clock_);
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_EQ(output->report.time().source(), "chrony");
  EXPECT_FALSE(kernel_asked);
  ASSERT_EQ(output->findings.size(), 1u);
  EXPECT_THAT(output->findings[0].summary(), HasSubstr("offset +2.315000s"));

  // chronyd not running either: the kernel says.
  commands_.Answer("chronyc -c tracking", Exited(1, "", "506 Cannot talk to daemon"));
  output = CollectWithCommands(*probe, fs_, commands_, clock_);
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_EQ(output->report.time().source(), "kernel");
  EXPECT_TRUE(kernel_asked);
  EXPECT_EQ(Codes(*output), std::vector<std::string>{"os.time_unsynced@"});

  // Nothing can tell: data, no finding.
  auto blind = NewTimeProbe(
      []() -> absl::StatusOr<KernelClock> { return absl::PermissionDeniedError("adjtimex"); });
  output = CollectWithCommands(*blind, fs_, commands_, clock_);
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_EQ(output->report.time().source(), "");
  EXPECT_THAT(output->report.time().detail(), HasSubstr("no time source could tell"));
  EXPECT_TRUE(output->findings.empty());
}

TEST_F(OsChecksTest, RebootNeedsTheRunningKernel) {
  auto probe = NewRebootProbe();
  absl::StatusOr<ProbeOutput> output = CollectWithCommands(*probe, fs_, commands_, clock_);
  EXPECT_EQ(output.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(output.status().message()), HasSubstr("/proc/sys/kernel/osrelease"));
}

// The configured marks, on the fixture cases.
TEST(OsChecksConfigTest, MarksComeFromConfig) {
  common::FakeClock clock;
  medic::v1::AgentConfig config;
  medic::v1::OsChecksConfig& marks = *config.mutable_os_checks();
  *marks.mutable_security_update_max_age() = common::ToProtoDuration(absl::Hours(24 * 30));
  marks.set_uptime_long_days(60);
  *marks.mutable_crash_window() = common::ToProtoDuration(absl::Hours(24 * 30));

  // Security updates 11 days old are within a 30-day mark: warning, not critical.
  {
    const std::string dir = CaseDir("workstation_reboot_and_updates");
    medic::testing::FixtureFileSystem fs(dir);
    medic::testing::FixtureCommandRunner commands(dir);
    auto probe = NewUpdatesProbe();
    absl::StatusOr<ProbeOutput> output = CollectWithCommands(*probe, fs, commands, clock, config);
    ASSERT_TRUE(output.ok()) << output.status();
    ASSERT_EQ(output->findings.size(), 1u);
    EXPECT_EQ(output->findings[0].severity(), medic::v1::SEVERITY_WARNING);
  }
  // 45 days up is below a 60-day mark.
  {
    medic::testing::FixtureFileSystem fs(CaseDir("server_failed_units_unsynced"));
    auto probe = NewOsProbe([] { return std::string(); });
    absl::StatusOr<ProbeOutput> output = medic::testing::Collect(*probe, fs, clock, config);
    ASSERT_TRUE(output.ok()) << output.status();
    EXPECT_TRUE(output->findings.empty());
  }
  // A 30-day window takes in the gnome-calculator report and the oops of Nov 10.
  {
    medic::testing::FixtureFileSystem fs(CaseDir("laptop_recent_crash"));
    auto probe = NewCrashesProbe(absl::UTCTimeZone());
    absl::StatusOr<ProbeOutput> output = medic::testing::Collect(*probe, fs, clock, config);
    ASSERT_TRUE(output.ok()) << output.status();
    EXPECT_EQ(Codes(*output), (std::vector<std::string>{"os.crash_recent@evince",
                                                        "os.crash_recent@gnome-calculator",
                                                        "os.crash_recent@kernel"}));
    EXPECT_EQ(output->report.crashes().crashes_size(), 5);  // 2 reports, 3 kernel lines
  }
}

}  // namespace
}  // namespace medic::agent
