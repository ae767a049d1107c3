#pragma once

// Pure parsers for /proc/meminfo, /proc/pressure/* and /proc/vmstat, and the memory.pressure /
// swap.exhausted judgement. No I/O; builds on every platform.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/probes/hardware/hardware_thresholds.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

// Parses /proc/meminfo into the memory probe's body, converting kB to bytes. Unknown keys are
// ignored. Kernels before 3.14 have no MemAvailable; then available is MemFree + Buffers +
// Cached. used = total - available. Swap fields stay 0 when the machine has no swap.
// InvalidArgument if MemTotal is missing, or a known key's value is not a number.
absl::StatusOr<medic::v1::MemoryStatus> ParseMemInfo(std::string_view text);

// Parses a /proc/pressure/{cpu,memory,io} file ("some avg10=0.00 avg60=0.00 avg300=0.00
// total=0" and a "full" line; kernels before 5.13 have no "full" line for cpu, which then stays
// 0). InvalidArgument when there is no "some" line or an avg10/avg60 value is not a number.
absl::StatusOr<medic::v1::Pressure> ParsePressure(std::string_view text);

// The oom_kill counter of /proc/vmstat (kills by the OOM killer since boot); nullopt when the
// kernel has none (before 4.13) or its value is not a number.
std::optional<uint64_t> ParseOomKills(std::string_view vmstat);

inline constexpr std::string_view kMemoryPressure = "memory.pressure";
inline constexpr std::string_view kSwapExhausted = "swap.exhausted";

// The memory findings standing after this collection, given those standing before (other codes
// ignored). Resource is empty (the machine). Warnings:
//  - memory.pressure when available is below memory_available_low_pct of total, or PSI full
//    avg60 is above memory_psi_full_avg60; a standing one holds until available is
//    kHardwareClearMarginPct above its mark and PSI full avg60 is below half its mark. Evidence:
//    reason ("available_low", "psi_full" or both, comma-separated), available_pct,
//    available_bytes, total_bytes, psi_full_avg60, psi_some_avg60 (with PSI), oom_kills (when
//    known), threshold_pct, threshold_psi_full_avg60;
//  - swap.exhausted when swap is configured and its free share is below swap_free_low_pct;
//    holds until it is kHardwareClearMarginPct above. Evidence: swap_free_pct, swap_free_bytes,
//    swap_total_bytes, threshold_pct.
std::vector<medic::v1::Finding> JudgeMemory(const medic::v1::MemoryStatus& memory,
                                            const HardwareThresholds& thresholds,
                                            const std::vector<medic::v1::Finding>& standing);

}  // namespace medic::agent
