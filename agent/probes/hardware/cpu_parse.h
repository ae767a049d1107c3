#pragma once

// Pure parsers for the kernel's CPU sources. No I/O; they build on every platform.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/probes/hardware/hardware_thresholds.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

// One "cpu" line of /proc/stat, in jiffies (USER_HZ ticks) since boot. Kernels older than
// 2.6.33 print fewer columns; the missing ones are 0.
struct CpuTimes {
  uint64_t user = 0;
  uint64_t nice = 0;
  uint64_t system = 0;
  uint64_t idle = 0;
  uint64_t iowait = 0;
  uint64_t irq = 0;
  uint64_t softirq = 0;
  uint64_t steal = 0;
  uint64_t guest = 0;       // already counted in user
  uint64_t guest_nice = 0;  // already counted in nice

  // Every tick, guest time not counted twice.
  uint64_t Total() const { return user + nice + system + idle + iowait + irq + softirq + steal; }
  // Ticks the CPU had nothing to run (idle, and idle waiting for I/O).
  uint64_t Idle() const { return idle + iowait; }
};

struct ProcStat {
  CpuTimes total;               // the aggregate "cpu" line
  std::vector<CpuTimes> cores;  // "cpuN" lines in file order: one per online logical CPU
};

// Parses /proc/stat. Lines other than cpu* are ignored. InvalidArgument when the aggregate "cpu"
// line is missing, or a cpu line has fewer than 4 numeric columns or a non-numeric one.
absl::StatusOr<ProcStat> ParseProcStat(std::string_view text);

struct LoadAvg {
  double load1 = 0;
  double load5 = 0;
  double load15 = 0;
  uint32_t running_tasks = 0;  // runnable scheduling entities now
  uint32_t total_tasks = 0;    // scheduling entities that exist
};

// Parses /proc/loadavg ("0.02 0.10 0.06 1/82 3691"). InvalidArgument when a load average or the
// running/total pair is missing or not a number.
absl::StatusOr<LoadAvg> ParseLoadAvg(std::string_view text);

struct CpuInfo {
  std::string model;        // "model name" (x86), "Processor" (old ARM), "cpu model" (MIPS),
                            // "cpu" (POWER); empty when the kernel names none (arm64)
  uint32_t processors = 0;  // "processor" entries
};

// Parses /proc/cpuinfo. InvalidArgument when there is no "processor" entry at all (the text is
// not a cpuinfo).
absl::StatusOr<CpuInfo> ParseCpuInfo(std::string_view text);

struct CpuUsage {
  double usage_pct = 0;   // busy share of all ticks
  double iowait_pct = 0;  // idle waiting for I/O
  double steal_pct = 0;   // taken by the hypervisor for other guests
};

// CPU usage between two samples of the same line. With `previous` all zero it is the usage since
// boot. When no tick passed, or a counter went backwards (a CPU went offline between samples),
// the result is that of `current` alone, i.e. since boot.
CpuUsage ComputeCpuUsage(const CpuTimes& previous, const CpuTimes& current);

inline constexpr std::string_view kCpuLoadHigh = "cpu.load_high";

// The cpu.load_high finding standing after this collection (warning, empty resource), given
// those standing before (other codes ignored): raised when load15 per logical core is above
// load_per_core_high, held by a standing one until it falls below load_per_core_clear. The
// 15-minute average makes it "sustained": a burst does not raise it. Nothing without a core
// count. Evidence: load15, load15_per_core, logical_cores, threshold_per_core, and
// psi_some_avg60 when cpu.pressure is set.
std::vector<medic::v1::Finding> JudgeCpuLoad(const medic::v1::CpuStatus& cpu,
                                             const HardwareThresholds& thresholds,
                                             const std::vector<medic::v1::Finding>& standing);

}  // namespace medic::agent
