#pragma once

// The probes this agent runs, in one explicit list.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/probes/probe.h"
#include "medic/v1/config.pb.h"

namespace medic::agent {

// A probe and when to run it.
struct ProbeEntry {
  std::unique_ptr<Probe> probe;
  absl::Duration interval;  // between the starts of two collections
  absl::Duration deadline;  // a collection's budget, from its start
  // Runs on the scheduler's slow thread so it never delays the fast cycle: set for probes
  // that run commands or wait on other machines.
  bool slow = false;
};

inline constexpr absl::Duration kDefaultProbeDeadline = absl::Seconds(2);
// apt-get -s upgrade takes seconds, more on a slow disk.
inline constexpr absl::Duration kDefaultUpdatesDeadline = absl::Seconds(30);
// smartctl wakes sleeping disks and reads their logs, a few seconds each.
inline constexpr absl::Duration kDefaultSmartDeadline = absl::Seconds(30);
// The scheduler plus devices asked in parallel, each within its own timeout (default 3s).
inline constexpr absl::Duration kDefaultPrintersDeadline = absl::Seconds(10);

// Every active network check waits at most a few seconds, concurrently.
inline constexpr absl::Duration kDefaultConnectivityDeadline = absl::Seconds(5);

// New instances of every probe not disabled in config.probes(), in the order cpu, memory,
// filesystems, os, network, thermal, battery, hardware_errors. Default intervals: cpu 15s,
// memory 15s, filesystems 60s, os 300s, network 60s, thermal 60s, battery 300s,
// hardware_errors 60s; deadline kDefaultProbeDeadline. A schedule's interval or deadline replaces
// the default when it is set and positive. Then the OS checks: reboot 300s, updates 3600s (deadline
// kDefaultUpdatesDeadline), services 60s, time 300s, crashes 300s; last smart 3600s (deadline
// kDefaultSmartDeadline, slow), inventory 3600s, connectivity 60s (deadline
// kDefaultConnectivityDeadline, slow), printers 60s (deadline kDefaultPrintersDeadline,
// slow) and agent 60s (the agent's own cost). The caller owns the probes.
std::vector<ProbeEntry> NewProbes(const medic::v1::AgentConfig& config);

// Disables every probe of `probes` not named in `names` (`medic-agent --probes printers,network`):
// a technician's focused look, and tests that must not wake other probes. InvalidArgument naming
// the known probes when a name is not one of them.
absl::Status KeepOnlyProbes(const std::vector<std::string>& names, medic::v1::ProbesConfig* probes);

}  // namespace medic::agent
