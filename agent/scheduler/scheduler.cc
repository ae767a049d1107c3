#include "agent/scheduler/scheduler.h"

#include <algorithm>

#include "boost/asio/post.hpp"
#include "common/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace medic::agent {
namespace {

// Probes due this close to a wake-up join its cycle, so timer slack does not split a cycle.
constexpr std::chrono::milliseconds kCycleSlack(20);

// The slow probes the registry knows (updates, services, time, crashes, smart, connectivity,
// printers): one thread each, so none waits on another.
constexpr int kSlowProbeThreads = 7;

std::chrono::steady_clock::duration ToSteady(absl::Duration d) {
  return absl::ToChronoNanoseconds(d);
}

// One thread per slow probe (at least one, so the pool is valid with none).
// Every probe that may ever be slow gets one, so one turned on later by policy has its own.
std::size_t SlowThreads(const std::vector<ProbeEntry>&) {
  return static_cast<std::size_t>(kSlowProbeThreads);
}

}  // namespace

Scheduler::Scheduler(boost::asio::io_context& io, std::vector<ProbeEntry> probes,
                     const common::FileSystem& fs, const common::CommandRunner& commands,
                     const common::Clock& clock, const medic::v1::AgentConfig& config,
                     FindingTracker& tracker, Sink sink)
    : io_(io),
      timer_(io),
      fs_(fs),
      commands_(commands),
      clock_(clock),
      config_(std::make_shared<const medic::v1::AgentConfig>(config)),
      tracker_(tracker),
      sink_(std::move(sink)),
      random_(std::random_device{}()),
      slow_pool_(SlowThreads(probes)) {
  for (auto& entry : probes) probes_.push_back({std::move(entry), SteadyTime()});
}

void Scheduler::Start() {
  if (probes_.empty()) return;
  absl::Duration shortest = absl::InfiniteDuration();
  for (const auto& p : probes_) shortest = std::min(shortest, p.entry.interval);
  started_ = true;
  std::uniform_real_distribution<double> fraction(0.0, 1.0);
  const SteadyTime origin =
      std::chrono::steady_clock::now() + ToSteady(shortest * fraction(random_));
  for (auto& p : probes_) p.next_due = origin + ToSteady(p.entry.interval);
  Arm();
}

void Scheduler::Stop() {
  stopped_ = true;
  timer_.cancel();
}

void Scheduler::RunAllOnce(bool wait_for_slow) {
  std::vector<ProbeRun> cycle;
  for (auto& p : probes_) {
    if (!p.active) continue;
    if (p.entry.slow && !wait_for_slow) {
      Dispatch(p);
    } else {
      cycle.push_back(RunProbe(p.entry));
    }
  }
  sink_(std::move(cycle));
}

void Scheduler::Reconfigure(const medic::v1::AgentConfig& config, std::vector<ProbeEntry> probes) {
  config_ = std::make_shared<const medic::v1::AgentConfig>(config);
  const SteadyTime now = std::chrono::steady_clock::now();
  for (auto& p : probes_) p.active = false;
  for (ProbeEntry& fresh : probes) {
    auto it = std::find_if(probes_.begin(), probes_.end(), [&](const Scheduled& p) {
      return p.entry.probe->name() == fresh.probe->name();
    });
    if (it == probes_.end()) {
      spdlog::info("probe {} turned on, every {}", fresh.probe->name(),
                   common::HumanDuration(fresh.interval));
      const SteadyTime due = now + ToSteady(fresh.interval);
      probes_.push_back({std::move(fresh), due});
      continue;
    }
    // The probe object stays: a slow run in progress holds it.
    if (!it->active || it->entry.interval != fresh.interval) {
      spdlog::info("probe {} now runs every {}", fresh.probe->name(),
                   common::HumanDuration(fresh.interval));
      it->next_due = now + ToSteady(fresh.interval);
    }
    it->entry.interval = fresh.interval;
    it->entry.deadline = fresh.deadline;
    it->active = true;
  }
  if (started_ && !stopped_) Arm();
}

void Scheduler::Arm() {
  SteadyTime next = SteadyTime::max();
  for (const auto& p : probes_) {
    if (p.active) next = std::min(next, p.next_due);
  }
  timer_.expires_at(next);
  timer_.async_wait([this](const boost::system::error_code& error) {
    if (error || stopped_) return;
    RunDue();
    Arm();
  });
}

void Scheduler::RunDue() {
  const SteadyTime now = std::chrono::steady_clock::now();
  std::vector<ProbeRun> cycle;
  for (auto& p : probes_) {
    if (!p.active || p.next_due > now + kCycleSlack) continue;
    if (p.entry.slow) {
      Dispatch(p);
    } else {
      cycle.push_back(RunProbe(p.entry));
    }
    // Stay on the grid; after a stall, skip the runs that were missed rather than catch up.
    const double stretch = p.entry.probe->name() == slow_down_by_ ? 1 : slow_down_;
    const auto interval = ToSteady(p.entry.interval * stretch);
    while (p.next_due <= now + kCycleSlack) p.next_due += interval;
  }
  if (!cycle.empty()) sink_(std::move(cycle));
}

void Scheduler::Dispatch(Scheduled& p) {
  const std::string name(p.entry.probe->name());
  if (p.in_flight) {
    spdlog::warn("probe {} is still running from its last turn; skipping this one", name);
    return;
  }
  p.in_flight = true;
  // The probe object is used by one thread at a time (in_flight); the tracker stays on the
  // io thread, so the slow thread gets a copy of the standing findings.
  boost::asio::post(slow_pool_, [this, &p, standing = tracker_.Standing(name), config = config_] {
    Collected collected = Collect(p.entry, standing, config);
    boost::asio::post(io_, [this, &p, collected = std::move(collected)]() mutable {
      p.in_flight = false;
      if (stopped_) return;
      std::vector<ProbeRun> cycle;
      cycle.push_back(Judge(p.entry, std::move(collected)));
      sink_(std::move(cycle));
    });
  });
}

ProbeRun Scheduler::RunProbe(ProbeEntry& entry) {
  return Judge(entry, Collect(entry, tracker_.Standing(entry.probe->name()), config_));
}

Scheduler::Collected Scheduler::Collect(ProbeEntry& entry,
                                        const std::vector<medic::v1::Finding>& standing,
                                        std::shared_ptr<const medic::v1::AgentConfig> config) {
  Collected collected;
  collected.started = clock_.Now();
  const auto wall_start = std::chrono::steady_clock::now();
  ProbeContext ctx{fs_, commands_, clock_, *config, collected.started + entry.deadline, standing};
  collected.output = entry.probe->Collect(ctx);
  collected.took = absl::FromChrono(std::chrono::steady_clock::now() - wall_start);
  return collected;
}

ProbeRun Scheduler::Judge(ProbeEntry& entry, Collected collected) {
  const std::string name(entry.probe->name());
  const absl::Time started = collected.started;
  const absl::Duration took = collected.took;
  absl::StatusOr<ProbeOutput>& output = collected.output;

  ProbeRun run;
  medic::v1::ProbeReport& report = run.report;
  if (output.ok()) {
    if (output->slow_down > 0) SlowDown(name, output->slow_down);
    report = std::move(output->report);
    run.events = tracker_.Update(name, std::move(output->findings), clock_.Now());
    if (report.outcome() == medic::v1::PROBE_OUTCOME_UNSPECIFIED) {
      report.set_outcome(medic::v1::PROBE_OUTCOME_OK);
    }
    if (took > entry.deadline) {
      report.set_outcome(medic::v1::PROBE_OUTCOME_TIMED_OUT);
      report.set_error(common::StrCat("took ", common::HumanDuration(took),
                                      ", over its deadline of ",
                                      common::HumanDuration(entry.deadline)));
    }
  } else {
    report.set_outcome(absl::IsDeadlineExceeded(output.status())
                           ? medic::v1::PROBE_OUTCOME_TIMED_OUT
                           : medic::v1::PROBE_OUTCOME_FAILED);
    report.set_error(std::string(output.status().message()));
    spdlog::warn("probe {} failed: {}", name, output.status().message());
  }
  report.set_probe(name);
  *report.mutable_collected_at() = common::ToProtoTime(started);
  *report.mutable_took() = common::ToProtoDuration(took);
  for (auto& e : tracker_.Update(common::StrCat("agent/", name), JudgeSelf(report), clock_.Now())) {
    run.events.push_back(std::move(e));
  }
  return run;
}

void Scheduler::SlowDown(const std::string& by, double factor) {
  slow_down_by_ = by;
  if (factor == slow_down_) return;
  if (factor > 1) {
    spdlog::warn("the agent is over its CPU budget: its probes now run {:.1f} times less often",
                 factor);
  } else {
    spdlog::info("the agent is back under its CPU budget: its probes run at their intervals");
  }
  slow_down_ = factor;
}

std::vector<medic::v1::Finding> Scheduler::JudgeSelf(const medic::v1::ProbeReport& report) {
  const bool timed_out = report.outcome() == medic::v1::PROBE_OUTCOME_TIMED_OUT;
  if (!timed_out && report.outcome() != medic::v1::PROBE_OUTCOME_FAILED) return {};
  medic::v1::Finding f;
  f.set_code(timed_out ? "agent.probe_timeout" : "agent.probe_failed");
  f.set_severity(medic::v1::SEVERITY_WARNING);
  f.set_resource(report.probe());
  f.set_summary(common::StrCat("the agent's ", report.probe(), " probe ",
                               timed_out ? "timed out" : "failed", ": ", report.error()));
  (*f.mutable_evidence())["error"] = report.error();
  return {f};
}

}  // namespace medic::agent
