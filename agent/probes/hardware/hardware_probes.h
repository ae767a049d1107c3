#pragma once

// The hardware probes: "cpu", "memory" and "filesystems". Each factory returns a new probe that
// reads its sources only through ProbeContext::fs.

#include <memory>

#include "agent/probes/probe.h"

namespace medic::agent {

// "cpu": CpuStatus from /proc/stat, /proc/loadavg and /proc/cpuinfo. Usage is over the time
// since the probe's previous collection (since boot on the first). Fails when /proc/stat or
// /proc/loadavg cannot be read or parsed; a cpuinfo that names no model leaves it empty.
// Observations: cpu.usage_pct, cpu.iowait_pct (pct), cpu.load1 (count).
std::unique_ptr<Probe> NewCpuProbe();

// "memory": MemoryStatus from /proc/meminfo. Fails when it cannot be read or parsed.
// Observations: memory.available_bytes, memory.swap_free_bytes (bytes; the latter only when the
// machine has swap).
std::unique_ptr<Probe> NewMemoryProbe();

// "filesystems": FilesystemsStatus for the mounts SelectMounts() keeps from /proc/self/mounts
// (/proc/mounts when that cannot be read), each with statvfs; a mount whose statvfs fails is
// reported with its error. Findings: disk.space_low and disk.inodes_low (JudgeFilesystems with
// config.filesystems and the standing findings). Fails when neither mount table can be read or
// parsed, and with DeadlineExceeded naming the mount when ctx.deadline passes between mounts.
// Observations per mount point: fs.free_bytes (bytes), fs.free_pct (pct).
std::unique_ptr<Probe> NewFilesystemsProbe();

}  // namespace medic::agent
