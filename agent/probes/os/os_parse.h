#pragma once

// Pure parsers for the os probe's sources. No I/O; they build on every platform.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

// What os-release(5) says of the distribution. Missing keys take the defaults os-release(5)
// gives them: ID "linux", NAME "Linux", PRETTY_NAME "Linux".
struct OsRelease {
  std::string id;
  std::string name;
  std::string pretty_name;
  std::string version_id;                     // empty on rolling releases (Arch)
  std::map<std::string, std::string> fields;  // every KEY=value, unquoted
};

// Parses os-release(5): KEY=value lines, values bare or in single or double quotes (with the
// shell escapes \" \\ \$ \` inside double quotes); blank lines and "#" comments are skipped.
// InvalidArgument naming the line for a line without "=" or with an unterminated quote.
absl::StatusOr<OsRelease> ParseOsRelease(std::string_view text);

// Parses /proc/uptime ("317.92 575.11"): seconds since boot. InvalidArgument when the first
// field is missing, not a number or negative.
absl::StatusOr<absl::Duration> ParseUptime(std::string_view text);

// Parses a one-value proc file such as /proc/sys/kernel/osrelease or /proc/sys/kernel/hostname:
// the text without surrounding whitespace. InvalidArgument naming `what` when it is empty or
// spans several lines.
absl::StatusOr<std::string> ParseSingleValue(std::string_view text, std::string_view what);

struct KernelVersion {
  std::string release;  // "6.1.0-18-amd64"
  std::string build;    // "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)", as uname -v
};

// Parses /proc/version ("Linux version RELEASE (builder) (compiler) #BUILD"). InvalidArgument
// when it does not start with "Linux version" followed by a release. The build is empty when no
// "#N" part is found.
absl::StatusOr<KernelVersion> ParseProcVersion(std::string_view text);

// Parses /etc/machine-id: 32 lowercase hex digits. InvalidArgument for anything else (systemd
// writes "uninitialized" until first boot completes).
absl::StatusOr<std::string> ParseMachineId(std::string_view text);

inline constexpr std::string_view kOsUptimeLong = "os.uptime_long";

// The os.uptime_long finding (warning, resource empty) when `uptime` is above `limit`: "Up 45d
// without a reboot (over 30d)", evidence uptime and limit as HumanDuration text. Uptime only
// drops at a reboot, so the finding clears as soon as uptime is at or below the limit.
std::optional<medic::v1::Finding> JudgeUptime(absl::Duration uptime, absl::Duration limit);

}  // namespace medic::agent
