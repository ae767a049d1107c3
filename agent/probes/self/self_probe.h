#pragma once

// The `agent` probe: what the agent itself costs (CPU, memory, spool on disk), judged against
// its self_limits. Like osquery's watchdog, but reported: a technician sees an agent that costs
// too much as a finding about the agent, and the agent slows its other probes down until it is
// back under its CPU budget.

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/probes/probe.h"
#include "medic/v1/config.pb.h"

namespace medic::agent {

// One look at this process.
struct SelfSample {
  absl::Duration cpu;        // user + system time used since the process started
  uint64_t rss_bytes = 0;    // resident memory now
  uint64_t spool_bytes = 0;  // the spool directory's files
};

// Looks at this process itself, never through the probes' FileSystem: that may be rooted at
// a fixture, and the agent's own cost is always real.
using SelfSampler = std::function<absl::StatusOr<SelfSample>(const medic::v1::AgentConfig&)>;
absl::StatusOr<SelfSample> SampleThisProcess(const medic::v1::AgentConfig& config);

inline constexpr double kDefaultMaxCpuPct = 5;
inline constexpr uint32_t kDefaultMaxRssMib = 64;
inline constexpr double kMaxSlowDown = 8;

std::unique_ptr<Probe> NewSelfProbe(SelfSampler sampler = SampleThisProcess);

}  // namespace medic::agent
