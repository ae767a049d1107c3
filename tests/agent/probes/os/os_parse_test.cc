#include "agent/probes/os/os_parse.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::agent {
namespace {

using ::testing::HasSubstr;

struct OsReleaseCase {
  std::string name;
  std::string text;
  bool ok;
  std::string id, pretty_name, version_id;
  std::string error = {};
};

class OsReleaseTest : public ::testing::TestWithParam<OsReleaseCase> {};

TEST_P(OsReleaseTest, Parses) {
  const OsReleaseCase& c = GetParam();
  absl::StatusOr<OsRelease> release = ParseOsRelease(c.text);
  if (!c.ok) {
    ASSERT_FALSE(release.ok());
    EXPECT_EQ(release.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(release.status().message()), HasSubstr(c.error));
    return;
  }
  ASSERT_TRUE(release.ok()) << release.status();
  EXPECT_EQ(release->id, c.id);
  EXPECT_EQ(release->pretty_name, c.pretty_name);
  EXPECT_EQ(release->version_id, c.version_id);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, OsReleaseTest,
    ::testing::Values(
        // Debian 12: double-quoted values, a bare ID.
        OsReleaseCase{"debian12",
                      "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n"
                      "VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\n"
                      "ID=debian\nHOME_URL=\"https://www.debian.org/\"\n",
                      true, "debian", "Debian GNU/Linux 12 (bookworm)", "12"},
        // Alpine: nothing quoted except PRETTY_NAME.
        OsReleaseCase{"alpine",
                      "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n"
                      "PRETTY_NAME=\"Alpine Linux v3.19\"\n",
                      true, "alpine", "Alpine Linux v3.19", "3.19.1"},
        // Single quotes, comments, blank lines and indentation.
        OsReleaseCase{"single_quotes_and_comments",
                      "# written by the image builder\n\n  ID='rocky'\n"
                      "PRETTY_NAME='Rocky Linux 9.3 (Blue Onyx)'\n# VERSION_ID=\"8\"\n"
                      "VERSION_ID='9.3'\n",
                      true, "rocky", "Rocky Linux 9.3 (Blue Onyx)", "9.3"},
        // Shell escapes inside double quotes.
        OsReleaseCase{"escapes",
                      "ID=custom\nPRETTY_NAME=\"Lab \\\"Gold\\\" image \\$HOME \\\\ 2\"\n", true,
                      "custom", "Lab \"Gold\" image $HOME \\ 2", ""},
        // Arch is rolling: no VERSION_ID.
        OsReleaseCase{"rolling_no_version",
                      "NAME=\"Arch Linux\"\nPRETTY_NAME=\"Arch Linux\"\nID=arch\n", true, "arch",
                      "Arch Linux", ""},
        // An empty file: os-release(5)'s defaults.
        OsReleaseCase{"empty_defaults", "", true, "linux", "Linux", ""},
        // A line that is not KEY=value names its line.
        OsReleaseCase{"no_equals", "ID=debian\nthis is not valid\n", false, "", "", "", "line 2"},
        // An unterminated quote.
        OsReleaseCase{"unterminated_quote", "PRETTY_NAME=\"Debian\n", false, "", "", "",
                      "unterminated quote"},
        // Text after the closing quote.
        OsReleaseCase{"text_after_quote", "PRETTY_NAME=\"Debian\" 12\n", false, "", "", "",
                      "after the closing quote"}),
    [](const auto& info) { return info.param.name; });

TEST(OsReleaseTest, KeepsEveryField) {
  absl::StatusOr<OsRelease> release =
      ParseOsRelease("ID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=jammy\n");
  ASSERT_TRUE(release.ok());
  EXPECT_EQ(release->fields.at("ID_LIKE"), "debian");
  EXPECT_EQ(release->fields.at("VERSION_CODENAME"), "jammy");
}

struct UptimeCase {
  std::string name;
  std::string text;
  bool ok;
  absl::Duration uptime;
};

class UptimeTest : public ::testing::TestWithParam<UptimeCase> {};

TEST_P(UptimeTest, Parses) {
  const UptimeCase& c = GetParam();
  absl::StatusOr<absl::Duration> uptime = ParseUptime(c.text);
  if (!c.ok) {
    ASSERT_FALSE(uptime.ok());
    EXPECT_EQ(uptime.status().code(), absl::StatusCode::kInvalidArgument);
    return;
  }
  ASSERT_TRUE(uptime.ok()) << uptime.status();
  EXPECT_LT(absl::AbsDuration(*uptime - c.uptime), absl::Microseconds(1));
}

INSTANTIATE_TEST_SUITE_P(Rows, UptimeTest,
                         ::testing::Values(
                             // Uptime and idle time, as the kernel writes them.
                             UptimeCase{"normal", "317.92 575.11\n", true,
                                        absl::Milliseconds(317920)},
                             // A server up for 400 days.
                             UptimeCase{"long", "34560000.01 68000000.00\n", true,
                                        absl::Seconds(34560000) + absl::Milliseconds(10)},
                             // Not a number.
                             UptimeCase{"malformed", "up 3 days\n", false, {}},
                             // Negative.
                             UptimeCase{"negative", "-5.00 1.00\n", false, {}},
                             // Empty.
                             UptimeCase{"empty", "", false, {}}),
                         [](const auto& info) { return info.param.name; });

TEST(ParseSingleValueTest, TrimsAndRejectsEmptyOrSeveralLines) {
  EXPECT_EQ(*ParseSingleValue("6.1.0-18-amd64\n", "kernel release"), "6.1.0-18-amd64");
  EXPECT_EQ(*ParseSingleValue("ws-042\n", "hostname"), "ws-042");
  absl::StatusOr<std::string> empty = ParseSingleValue("\n", "hostname");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(std::string(empty.status().message()), "hostname is empty");
  EXPECT_FALSE(ParseSingleValue("a\nb\n", "hostname").ok());
}

struct ProcVersionCase {
  std::string name;
  std::string text;
  bool ok;
  std::string release, build;
};

class ProcVersionTest : public ::testing::TestWithParam<ProcVersionCase> {};

TEST_P(ProcVersionTest, Parses) {
  const ProcVersionCase& c = GetParam();
  absl::StatusOr<KernelVersion> version = ParseProcVersion(c.text);
  if (!c.ok) {
    ASSERT_FALSE(version.ok());
    EXPECT_EQ(version.status().code(), absl::StatusCode::kInvalidArgument);
    return;
  }
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->release, c.release);
  EXPECT_EQ(version->build, c.build);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, ProcVersionTest,
    ::testing::Values(
        // Debian 12: the compiler text has nested parentheses.
        ProcVersionCase{
            "debian12",
            "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian "
            "12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC "
            "Debian 6.1.76-1 (2024-02-01)\n",
            true, "6.1.0-18-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)"},
        // RHEL 7.
        ProcVersionCase{"rhel7",
                        "Linux version 3.10.0-1160.el7.x86_64 (mockbuild@kbuilder.bsys.centos.org) "
                        "(gcc version 4.8.5 20150623 (Red Hat 4.8.5-44) (GCC) ) #1 SMP Mon Oct 19 "
                        "16:18:59 UTC 2020\n",
                        true, "3.10.0-1160.el7.x86_64", "#1 SMP Mon Oct 19 16:18:59 UTC 2020"},
        // A custom VM kernel with an odd build stamp.
        ProcVersionCase{"custom_vm",
                        "Linux version 6.18.44-fc-v657 (builder@sandboxing) (gcc (GCC) 15.3.0, GNU "
                        "ld (GNU Binutils) 2.46) #1 SMP PREEMPT_DYNAMIC @0\n",
                        true, "6.18.44-fc-v657", "#1 SMP PREEMPT_DYNAMIC @0"},
        // No build part at all: the release still counts.
        ProcVersionCase{"no_build", "Linux version 5.4.0\n", true, "5.4.0", ""},
        // Not a Linux version string.
        ProcVersionCase{"not_linux", "FreeBSD 14.0-RELEASE\n", false, "", ""},
        // Empty.
        ProcVersionCase{"empty", "", false, "", ""}),
    [](const auto& info) { return info.param.name; });

TEST(ParseMachineIdTest, AcceptsOnlyAnInitialisedId) {
  EXPECT_EQ(*ParseMachineId("4f1a2b3c4d5e6f708192a3b4c5d6e7f8\n"),
            "4f1a2b3c4d5e6f708192a3b4c5d6e7f8");
  EXPECT_FALSE(ParseMachineId("uninitialized\n").ok());                     // systemd's first boot
  EXPECT_FALSE(ParseMachineId("4F1A2B3C4D5E6F708192A3B4C5D6E7F8\n").ok());  // not lowercase
  EXPECT_FALSE(ParseMachineId("").ok());
}

}  // namespace
}  // namespace medic::agent
