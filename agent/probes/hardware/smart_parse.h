#pragma once

// Pure logic of the smart probe: which block devices to ask, what `smartctl --json --all` says of
// a disk, and the disk.smart_failing judgement over counters kept between collections. No I/O;
// builds on every platform.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/probes/hardware/hardware_errors_parse.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

inline constexpr std::string_view kDiskSmartFailing = "disk.smart_failing";

// disk.smart_failing (warning) once an NVMe drive has used this share of its rated endurance.
inline constexpr uint32_t kSmartWearWarningPct = 90;

// smartctl's exit status bits (smartctl(8), RETURN VALUES).
inline constexpr uint32_t kSmartctlBadCommandLine = 1 << 0;  // also: unknown USB bridge
inline constexpr uint32_t kSmartctlOpenFailed = 1 << 1;      // device open / IDENTIFY failed
inline constexpr uint32_t kSmartctlCommandFailed = 1 << 2;   // a SMART or other command failed
inline constexpr uint32_t kSmartctlDiskFailing = 1 << 3;     // SMART status: disk failing

// What to do with /sys/block/<name>.
enum class SmartCandidate {
  kSkip,     // not a disk of its own: loop, ram, zram, dm-, md, sr (optical), fd (floppy)
  kNoSmart,  // a disk without SMART: virtio (vd*) and Xen (xvd*) disks
  kAsk,      // ask smartctl
};
SmartCandidate ClassifyBlockDevice(std::string_view name);

// Parses the JSON that `smartctl --json --all /dev/X` printed and its exit status into a
// SmartDisk (device left empty for the caller). Fields smartctl left out stay unset. When
// smartctl could not use the device (exit bits 0 or 1) or gave no health verdict, `note` says
// why, with smartctl's own error message when it printed one; a device without SMART support
// notes "no SMART on this device". InvalidArgument when `json` is not a JSON object.
absl::StatusOr<medic::v1::SmartDisk> ParseSmartctlJson(std::string_view json, uint32_t exit_status);

// The disk.smart_failing findings standing after this collection, one per disk at most
// (resource "/dev/sda"), updating `history` with this collection's counters:
//  - critical when the overall verdict fails (passed false or exit bit 3), an NVMe critical
//    warning bit is set, or available spare is below its threshold;
//  - warning when reallocated, pending or offline-uncorrectable sectors, or NVMe media errors,
//    rose since the previous collection (not at first sight), held until `quiet` passes without
//    a new rise; or when percentage_used reaches kSmartWearWarningPct.
// Summary: "Disk /dev/sda (MODEL): pending sectors rose by 16 to 24". Evidence: the raw values
// smartctl gave, new_<counter> for each counter that rose or holds, quiet_period with those.
std::vector<medic::v1::Finding> JudgeSmart(const medic::v1::SmartStatus& status, absl::Time now,
                                           absl::Duration quiet,
                                           const std::vector<medic::v1::Finding>& standing,
                                           ErrorHistory& history);

}  // namespace medic::agent
