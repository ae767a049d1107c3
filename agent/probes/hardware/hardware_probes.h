#pragma once

// The hardware probes: "cpu", "memory", "filesystems", "thermal", "battery" and
// "hardware_errors", "smart" and "inventory". Each factory returns a new probe that
// reads its sources only through ProbeContext::fs.

#include <memory>

#include "agent/probes/probe.h"

namespace medic::agent {

// "cpu": CpuStatus from /proc/stat, /proc/loadavg and /proc/cpuinfo. Usage is over the time
// since the probe's previous collection (since boot on the first). Fails when /proc/stat or
// /proc/loadavg cannot be read or parsed; a cpuinfo that names no model leaves it empty.
// Observations: cpu.usage_pct, cpu.iowait_pct (pct), cpu.load1 (count), cpu.psi_some_avg60 (pct;
// with /proc/pressure/cpu, which must parse when present). Findings: cpu.load_high
// (JudgeCpuLoad with config.hardware).
std::unique_ptr<Probe> NewCpuProbe();

// "memory": MemoryStatus from /proc/meminfo, /proc/pressure/memory (PSI, when present) and
// /proc/vmstat (oom_kill, when present). Fails when meminfo cannot be read or parsed, or a PSI
// file that is there cannot be parsed. Observations: memory.available_bytes,
// memory.swap_free_bytes (bytes; the latter only when the machine has swap),
// memory.psi_some_avg60, memory.psi_full_avg60 (pct), memory.oom_kills (count). Findings:
// memory.pressure, swap.exhausted (JudgeMemory with config.hardware).
std::unique_ptr<Probe> NewMemoryProbe();

// "filesystems": FilesystemsStatus for the mounts SelectMounts() keeps from /proc/self/mounts
// (/proc/mounts when that cannot be read), each with statvfs; a mount whose statvfs fails is
// reported with its error. Findings: disk.space_low and disk.inodes_low (JudgeFilesystems with
// config.filesystems and the standing findings). Fails when neither mount table can be read or
// parsed, and with DeadlineExceeded naming the mount when ctx.deadline passes between mounts.
// Observations per mount point: fs.free_bytes (bytes), fs.free_pct (pct). Also disk.readonly
// (JudgeReadOnly over the reported mounts and /etc/fstab when it can be read).
std::unique_ptr<Probe> NewFilesystemsProbe();

// "thermal": ThermalStatus from /sys/class/hwmon/hwmon*/temp*_{input,label,crit,max}, thermal
// zones no hwmon chip reports (/sys/class/thermal/thermal_zone*/{type,temp,trip_point_*}) and
// /sys/devices/system/cpu/cpu*/thermal_throttle/*_throttle_count. No sensors is data
// (sensors_present false), never an error; the probe does not fail. Keeps the previous
// collection to see throttle counters rise. Observations: thermal.celsius per sensor (celsius),
// thermal.throttle_count (count). Findings: cpu.overheat (JudgeThermal).
std::unique_ptr<Probe> NewThermalProbe();

// "battery": BatteryStatus from /sys/class/power_supply/*/ of type Battery. No battery is data
// (battery_present false); the probe does not fail. Observations per battery:
// battery.capacity_pct, battery.health_pct (pct). Findings: battery.degraded (JudgeBatteries).
std::unique_ptr<Probe> NewBatteryProbe();

// "hardware_errors": HardwareErrorsStatus from EDAC (/sys/devices/system/edac/mc/mc*), the "MCE"
// line of /proc/interrupts and /sys/block/*/device/ioerr_cnt; a source the machine lacks is
// left out; the probe does not fail. Keeps counters between collections to see them rise.
// Observations: hw.edac_corrected, hw.edac_uncorrected (per controller), hw.machine_checks,
// disk.io_errors (per device) (count). Findings: hardware.errors, disk.io_errors
// (JudgeHardwareErrors).
std::unique_ptr<Probe> NewHardwareErrorsProbe();

// "smart": SmartStatus of the whole disks in /sys/block (loop, ram, zram, dm-, md, sr and fd
// devices skipped; virtio and Xen disks listed as "no SMART on this device"), each read with
// `smartctl --json --all /dev/NAME` through ProbeContext::commands. smartctl missing is data
// ("smartmontools not installed"), as is a device smartctl cannot open or that has no SMART (the
// disk's note). Fails when a smartctl run fails otherwise (it overran the deadline). Keeps
// counters between collections to see them rise. Observations per disk: smart.temperature
// (celsius), smart.reallocated_sectors, smart.pending_sectors, smart.offline_uncorrectable,
// smart.media_errors (count), smart.percentage_used (pct). Findings: disk.smart_failing
// (JudgeSmart, quiet period config.hardware.errors_quiet_period).
std::unique_ptr<Probe> NewSmartProbe();

// "inventory": InventoryStatus: the CPU of /proc/cpuinfo (model, logical and physical cores,
// sockets), MemTotal, the disks of /sys/block (model, vendor, serial or WWID, size; the kinds the
// smart probe skips left out), PCI devices (/sys/bus/pci/devices/*/{vendor,device,class}), USB
// devices (/sys/bus/usb/devices/*/{idVendor,idProduct,manufacturer,product}) and DMI
// (/sys/class/dmi/id). A source the machine lacks is left out; fails only when /proc/cpuinfo or
// /proc/meminfo cannot be read or parsed. No observations, no findings.
std::unique_ptr<Probe> NewInventoryProbe();

}  // namespace medic::agent
