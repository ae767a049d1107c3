#pragma once

// Pure logic of the crashes probe: apport crash reports, systemd-coredump file names, kernel
// oopses in kern.log and the os.crash_recent judgement. No I/O.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

inline constexpr std::string_view kOsCrashRecent = "os.crash_recent";

// What the head of an apport report (/var/crash/*.crash, "Key: value" lines) says.
struct ApportReport {
  std::string executable_path;  // ExecutablePath: "/usr/bin/evince"; empty when absent
  std::string problem_type;     // ProblemType: "Crash", "KernelOops"
  std::string signal;           // Signal: "11"
};

// Parses the "Key: value" header lines of an apport report; continuation lines (starting with a
// space) and unknown keys are skipped. Never fails: missing keys stay empty.
ApportReport ParseApportReport(std::string_view text);

// The program an apport file name is about: "_usr_bin_evince.1000.crash" → "evince" (the part
// after the last "_" of the path, without the uid). Used when the report has no ExecutablePath.
std::string ProgramFromCrashName(std::string_view name);

// The program of a systemd-coredump file name "core.COMM.UID.BOOT_ID.PID.USEC[.zst]": COMM
// ("core.evince.1000.….zst" → "evince"); nullopt when the name is not of that shape.
std::optional<std::string> ProgramFromCoredumpName(std::string_view name);

// The kernel's oopses in kern.log text newer than `since` (and not after now + 1 day): lines
// holding "Oops:", "BUG:", "general protection fault" or "Kernel panic". A line's time is its
// leading RFC 3339 stamp ("2023-11-14T06:12:44.123456+00:00 host kernel: …") or syslog stamp
// ("Nov 14 06:12:44 host kernel: …", in `zone`, in the year that puts it at most a day after
// `now`). Lines without a readable time are skipped. program "kernel", path `path`, detail the
// text after "kernel: " (without a "[ 1234.5678]" uptime stamp).
std::vector<medic::v1::CrashReport> FindKernelOopses(std::string_view text, std::string_view path,
                                                     absl::Time since, absl::Time now,
                                                     absl::TimeZone zone);

// One os.crash_recent (warning) per program among status.crashes(): resource the program
// ("evince", "kernel"); summary "evince crashed once in the last 1d" ("2 times") or "Kernel oops in
// the last 1d: BUG: kernel NULL pointer dereference, …"; evidence count, latest (its time), path
// and detail of the latest.
std::vector<medic::v1::Finding> JudgeCrashes(const medic::v1::CrashesStatus& status);

}  // namespace medic::agent
