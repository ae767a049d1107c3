#pragma once

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "agent/probes/registry.h"
#include "agent/scheduler/finding_tracker.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/steady_timer.hpp"
#include "common/fs/file_system.h"
#include "common/time/clock.h"
#include "medic/v1/config.pb.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

// Runs the probes on their own intervals, with jitter so that a fleet started together does
// not collect in lockstep. Each run's report (with outcome, time taken and collection time)
// and the finding changes it caused go to the sink. A probe that fails keeps its findings
// standing (it cannot see them clear); one that overruns its deadline is reported TIMED_OUT.
// Runs on the io_context's thread; not thread-safe.
class Scheduler {
 public:
  using Sink = std::function<void(const medic::v1::ProbeReport& report,
                                  const std::vector<medic::v1::FindingEvent>& events)>;

  Scheduler(boost::asio::io_context& io, std::vector<ProbeEntry> probes,
            const common::FileSystem& fs, const common::Clock& clock,
            const medic::v1::AgentConfig& config, FindingTracker& tracker, Sink sink);

  // Schedules every probe: a first run within the first second, then every interval ±10%.
  void Start();
  // Cancels every timer; runs in progress finish.
  void Stop();
  // Runs every probe once, now, on the calling thread.
  void RunAllOnce();

 private:
  struct Scheduled {
    ProbeEntry entry;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  void RunProbe(ProbeEntry& entry);
  void Arm(Scheduled& scheduled, absl::Duration delay);

  boost::asio::io_context& io_;
  std::vector<Scheduled> probes_;
  const common::FileSystem& fs_;
  const common::Clock& clock_;
  const medic::v1::AgentConfig& config_;
  FindingTracker& tracker_;
  Sink sink_;
  std::mt19937_64 random_;
  bool stopped_ = false;
};

}  // namespace medic::agent
