#pragma once

// The os probe: what system the machine runs.

#include <functional>
#include <memory>
#include <string>

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

}  // namespace medic::agent
