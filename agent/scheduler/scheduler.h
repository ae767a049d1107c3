#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "agent/probes/registry.h"
#include "agent/scheduler/finding_tracker.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/thread_pool.hpp"
#include "common/fs/file_system.h"
#include "common/process/command_runner.h"
#include "common/time/clock.h"
#include "medic/v1/config.pb.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

// One probe's run: its report (outcome, time taken, collection time) and the finding changes
// it caused.
struct ProbeRun {
  medic::v1::ProbeReport report;
  std::vector<medic::v1::FindingEvent> events;
};

// Runs the probes in cycles. Each probe is due every `interval` on one grid; at each wake-up
// the scheduler runs every probe that is due and hands the whole cycle to the sink, so probes
// with equal intervals are collected, and sent, together. A fleet started together is spread
// by one random phase per agent (within the shortest interval) rather than by jitter on every
// probe, which would split each cycle into separate messages.
// Slow probes (those that run commands or wait on other machines) each run on a thread of the
// slow pool, one thread per slow probe, so they never delay the fast cycle nor each other (a
// printer that does not answer cannot hold up the network checks); each one's result arrives
// later as a cycle of its own, and a slow probe still running when it is due again skips that
// turn.
// A probe that fails keeps its findings standing (it cannot see them clear); one that overruns
// its deadline is reported TIMED_OUT; either raises a finding about the agent (JudgeSelf). Runs on
// the io_context's thread; not thread-safe. Destruction waits for a slow probe in progress (bounded
// by its deadline).
class Scheduler {
 public:
  using Sink = std::function<void(std::vector<ProbeRun> cycle)>;

  Scheduler(boost::asio::io_context& io, std::vector<ProbeEntry> probes,
            const common::FileSystem& fs, const common::CommandRunner& commands,
            const common::Clock& clock, const medic::v1::AgentConfig& config,
            FindingTracker& tracker, Sink sink);

  // Schedules the probes: each next due one random phase plus its interval from now.
  void Start();
  // Cancels the timer; a cycle in progress finishes.
  void Stop();
  // Runs every probe once, now, as one cycle on the calling thread. Slow probes join it when
  // `wait_for_slow`; otherwise they are sent to their thread and report on their own.
  void RunAllOnce(bool wait_for_slow);

  // Takes a new config without a restart (central policy): probes read it from their next
  // run; `probes` (NewProbes of it) gives each probe's interval, deadline and whether it runs.
  // A probe whose interval changed is next due one new interval from now; a probe turned on
  // joins, one turned off stops after a run in progress. Call on the io thread.
  void Reconfigure(const medic::v1::AgentConfig& config, std::vector<ProbeEntry> probes);

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;
  struct Scheduled {
    ProbeEntry entry;
    SteadyTime next_due;
    bool in_flight = false;  // a slow probe's run is on the slow thread
    bool active = true;      // false once turned off by Reconfigure
  };
  // What a probe's Collect() returned, and when; made on any thread.
  struct Collected {
    absl::StatusOr<ProbeOutput> output;
    absl::Time started;
    absl::Duration took;
  };
  void Arm();
  void RunDue();
  void Dispatch(Scheduled& p);
  ProbeRun RunProbe(ProbeEntry& entry);
  Collected Collect(ProbeEntry& entry, const std::vector<medic::v1::Finding>& standing,
                    std::shared_ptr<const medic::v1::AgentConfig> config);
  // On the io thread: the outcome, and the finding changes through the tracker.
  ProbeRun Judge(ProbeEntry& entry, Collected collected);
  // A finding about the agent itself when a probe timed out or failed, so the technician
  // sees which part of the machine the agent cannot see: agent.probe_timeout or
  // agent.probe_failed, resource = the probe. Cleared by the probe's next good run.
  void SlowDown(const std::string& by, double factor);
  static std::vector<medic::v1::Finding> JudgeSelf(const medic::v1::ProbeReport& report);

  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  // A deque: Reconfigure adds probes while slow runs hold references to others.
  std::deque<Scheduled> probes_;
  const common::FileSystem& fs_;
  const common::CommandRunner& commands_;
  const common::Clock& clock_;
  // Replaced whole by Reconfigure; a run in progress keeps the one it started with.
  std::shared_ptr<const medic::v1::AgentConfig> config_;
  FindingTracker& tracker_;
  Sink sink_;
  std::mt19937_64 random_;
  // From the probe that judges the agent's CPU budget (ProbeOutput::slow_down): every other
  // probe's interval is stretched by this much. That probe keeps its own pace, so it sees the
  // agent get back under.
  double slow_down_ = 1;
  std::string slow_down_by_;
  bool stopped_ = false;
  bool started_ = false;
  // Last, so it is joined before the members its handlers use go away.
  boost::asio::thread_pool slow_pool_;
};

}  // namespace medic::agent
