#pragma once

// The os probes: what system the machine runs, and the checks a technician does first (pending
// reboot and updates, failed services, time sync, recent crashes).

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/probes/os/time_parse.h"
#include "agent/probes/probe.h"

namespace medic::agent {

// Names the machine's architecture ("x86_64", "aarch64"), or "" when it does not know.
using ArchitectureSource = std::function<std::string()>;

// The running kernel's machine name from uname(2); "" if uname fails.
std::string UnameArchitecture();

// "os": OsInfo from /proc/sys/kernel/{hostname,osrelease}, /proc/uptime, /proc/version,
// /etc/os-release (or /usr/lib/os-release; os-release(5)'s defaults when neither exists) and
// /etc/machine-id (left empty when unreadable or not yet initialised). The architecture is
// /proc/sys/kernel/arch when the kernel has it, else what `architecture` says. boot_time is
// ctx.clock's now minus the uptime, to the second. Fails when hostname, osrelease or uptime
// cannot be read or parsed, or an os-release file is malformed. No observations.
std::unique_ptr<Probe> NewOsProbe(ArchitectureSource architecture);

// NewOsProbe(UnameArchitecture).
std::unique_ptr<Probe> NewOsProbe();

// "reboot": RebootStatus from /run/reboot-required (or /var/run/…) and its .pkgs, the running
// kernel (/proc/sys/kernel/osrelease, required) and the installed ones (/lib/modules/<release>
// holding modules.dep, /boot/vmlinuz-<release>); os.reboot_pending per JudgeReboot.
std::unique_ptr<Probe> NewRebootProbe();

// "updates": UpdatesStatus from `apt-get -s -o Debug::NoLocking=1 upgrade` and the time of the
// last package list update (mtime of /var/lib/apt/periodic/update-success-stamp, else of
// /var/lib/apt/lists); os.updates_pending per JudgeUpdates with os_checks.security_update_max_age
// (default 7d). Without apt-get the report says which package manager is there and that it is
// not supported yet (dnf, zypper), or that none is known: data, no finding. Fails when apt-get
// exits non-zero, overruns the deadline or prints something unparseable.
std::unique_ptr<Probe> NewUpdatesProbe();

// "services": ServicesStatus from `systemctl list-units --failed --plain --no-legend --no-pager`;
// one os.service_failed per failed unit. Without /run/systemd/system (systemd is not PID 1), or
// when systemctl is missing or fails, the report says so: data, no finding.
std::unique_ptr<Probe> NewServicesProbe();

// What adjtimex(2) says of the kernel clock; an error when it cannot be asked.
using KernelClockSource = std::function<absl::StatusOr<KernelClock>()>;

// adjtimex(2) with no change requested.
absl::StatusOr<KernelClock> AdjtimexKernelClock();

// "time": TimeSyncStatus from `timedatectl show` when it answers, else `chronyc -c tracking`,
// else `kernel_clock`; os.time_unsynced per JudgeTimeSync. When none can tell, the report's
// source is empty and its detail says so: data, no finding.
std::unique_ptr<Probe> NewTimeProbe(KernelClockSource kernel_clock);

// NewTimeProbe(AdjtimexKernelClock).
std::unique_ptr<Probe> NewTimeProbe();

// "crashes": CrashesStatus of what crashed within os_checks.crash_window (default 24h) before
// now: apport reports /var/crash/*.crash and systemd-coredump's /var/lib/systemd/coredump/core.*
// by modification time, and kernel oopses in /var/log/kern.log (its first 16 MiB) with syslog
// times read in `zone`; os.crash_recent per JudgeCrashes. Missing directories and logs are
// nothing to report.
std::unique_ptr<Probe> NewCrashesProbe(absl::TimeZone zone);

// NewCrashesProbe(absl::LocalTimeZone()).
std::unique_ptr<Probe> NewCrashesProbe();

}  // namespace medic::agent
