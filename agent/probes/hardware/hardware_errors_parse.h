#pragma once

// Pure logic of the hardware_errors probe: EDAC counters, machine checks from /proc/interrupts,
// SCSI disks' ioerr_cnt, and the hardware.errors / disk.io_errors judgement over counters kept
// between collections. No I/O; builds on every platform.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "agent/probes/hardware/hardware_thresholds.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

// A sysfs counter: decimal ("12\n"), or hexadecimal with "0x" (ioerr_cnt "0x1a"). nullopt when
// it is neither.
std::optional<uint64_t> ParseCounter(std::string_view text);

// The "MCE:" line of /proc/interrupts ("MCE:  0  2  Machine check exceptions"), summed over the
// per-CPU columns; nullopt when there is no such line (not x86).
std::optional<uint64_t> ParseMachineChecks(std::string_view interrupts);

// One DIMM (or csrow channel) under an EDAC memory controller.
struct DimmCounts {
  std::string label;  // dimm_label / chN_dimm_label, else the folder name ("dimm0", "csrow0/ch1")
  uint64_t corrected = 0;
  uint64_t uncorrected = 0;
};

// "DIMM_A1 (ce 3, ue 0)" for every DIMM with a non-zero count, in order.
std::vector<std::string> DimmsWithErrors(const std::vector<DimmCounts>& dimms);

// What a kernel log message reports, when it reports a fault.
struct KernelError {
  std::string device;  // the whole disk of an I/O error ("sdb" for "sdb1"); empty for hardware
};

// A disk I/O error ("blk_update_request: I/O error, dev sdb, sector 2048 op 0x0:(READ) …",
// "Buffer I/O error on dev sdb1, logical block 0", "critical medium error, dev sdb, …"), a
// hardware error ("mce: [Hardware Error]: …", "EDAC MC0: 1 CE memory read error …", "PCIe Bus
// Error: severity=Corrected, …", "AER: Uncorrected (Fatal) error received: …"), or nullopt.
// I/O errors of CD drives, floppies, loop, RAM and network block devices are not disk faults.
std::optional<KernelError> ClassifyKernelMessage(std::string_view message);

// The whole disk a partition belongs to: "sdb1" → "sdb", "nvme0n1p2" → "nvme0n1",
// "mmcblk0p1" → "mmcblk0"; other names ("dm-0", "sdb") as they are.
std::string WholeDisk(std::string_view device);

// Counts the faults `messages` report into `lines`, one entry per disk and one (device "") for
// hardware errors, keeping each one's latest message.
void CountKernelErrors(const std::vector<std::string>& messages,
                       std::map<std::string, medic::v1::KernelErrorLines>& lines);

inline constexpr std::string_view kHardwareErrors = "hardware.errors";
inline constexpr std::string_view kDiskIoErrors = "disk.io_errors";

// The counters seen at previous collections and when each last rose: the probe's memory.
struct ErrorHistory {
  std::map<std::string, uint64_t> counts;       // "mc0/ce", "mc0/ue", "mce", "disk/sdb"
  std::map<std::string, absl::Time> last_rise;  // same keys
};

// The increase of counter `key` since the previous collection (the whole count at first sight
// when `first_sight_counts`, else 0), recording `count` in `history` and `now` as its last rise
// when it rose.
uint64_t CounterRise(ErrorHistory& history, const std::string& key, uint64_t count, absl::Time now,
                     bool first_sight_counts);

// Whether a finding raised by counter `key` stands: it rose now (`rise` > 0), or it stands
// already (`was_standing`) and its last rise is less than `quiet` before `now`. A standing
// finding whose rise `history` never saw (an agent restart) starts its quiet period now.
bool CounterHolds(ErrorHistory& history, const std::string& key, uint64_t rise, bool was_standing,
                  absl::Time now, absl::Duration quiet);

// The findings standing after this collection, updating `history` with this one's counters.
//  - hardware.errors on a memory controller (resource "mc0"): critical while it has
//    uncorrected errors; warning when its corrected count rose since the previous collection
//    (not at first sight: a few corrected errors over a long uptime are normal), held until
//    errors_quiet_period passes without a new one.
//  - hardware.errors on "mce": critical while machine check exceptions (uncorrected CPU or
//    memory errors) have happened since boot.
//  - hardware.errors on "kernel": warning when the kernel logged hardware error lines (at first
//    sight too: they are rare), held until errors_quiet_period passes without a new one.
//  - disk.io_errors on a block device (resource "sdb"): warning when its ioerr_cnt or its count
//    of kernel I/O error lines rose, or is non-zero at first sight; held until
//    errors_quiet_period passes without a new one.
// A finding standing before (`standing`) whose rise this history never saw (an agent restart)
// holds for a quiet period from now. Evidence: corrected, uncorrected, new_corrected, dimms
// (controllers); machine_checks; kernel_lines, new_kernel_lines, latest_kernel_line (kernel
// lines); io_errors, new_io_errors (disks' ioerr_cnt); quiet_period.
std::vector<medic::v1::Finding> JudgeHardwareErrors(const medic::v1::HardwareErrorsStatus& status,
                                                    absl::Time now,
                                                    const HardwareThresholds& thresholds,
                                                    const std::vector<medic::v1::Finding>& standing,
                                                    ErrorHistory& history);

}  // namespace medic::agent
