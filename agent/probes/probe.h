#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/fs/file_system.h"
#include "common/process/command_runner.h"
#include "common/time/clock.h"
#include "medic/v1/config.pb.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

// What a probe gets for one collection.
struct ProbeContext {
  const common::FileSystem& fs;           // every file read goes through here (root prefix)
  const common::CommandRunner& commands;  // every program run goes through here
  const common::Clock& clock;
  const medic::v1::AgentConfig& config;
  absl::Time deadline;  // return by then; check it between slow steps
  // Findings of this probe standing before this collection, so a probe can apply hysteresis
  // (a standing finding clears at a lower mark than the one that raised it).
  const std::vector<medic::v1::Finding>& standing;

  bool IsStanding(std::string_view code, std::string_view resource) const {
    for (const auto& f : standing) {
      if (f.code() == code && f.resource() == resource) return true;
    }
    return false;
  }
};

// One collection: the report, and the full set of findings the probe judges standing now.
// The agent diffs that set against the previous one to raise and clear findings, so a probe
// never tracks raise/clear itself. Findings need code, severity, resource, summary, evidence;
// the agent stamps raised_at and probe.
struct ProbeOutput {
  medic::v1::ProbeReport report;  // probe name, body and observations; times set by the caller
  std::vector<medic::v1::Finding> findings;
  // Set only by the probe that judges the agent's own CPU budget: every other probe should
  // run this many times less often until its next run says otherwise (1: at their intervals).
  double slow_down = 0;
};

// Collects one area of the machine's health. Collect() is called from one thread at a time
// (the scheduler's) and may keep state between calls (CPU usage is a difference of samples).
// A missing source the machine simply does not have (no battery, no swap) is data in the
// report; an error Status means the probe could not do its job at all (its sources could not
// be read), and names what failed.
class Probe {
 public:
  virtual ~Probe() = default;
  virtual std::string_view name() const = 0;
  virtual absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) = 0;
};

}  // namespace medic::agent
