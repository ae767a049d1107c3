#include "agent/scheduler/scheduler.h"

#include <chrono>

#include "common/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace medic::agent {

Scheduler::Scheduler(boost::asio::io_context& io, std::vector<ProbeEntry> probes,
                     const common::FileSystem& fs, const common::Clock& clock,
                     const medic::v1::AgentConfig& config, FindingTracker& tracker, Sink sink)
    : io_(io),
      fs_(fs),
      clock_(clock),
      config_(config),
      tracker_(tracker),
      sink_(std::move(sink)),
      random_(std::random_device{}()) {
  for (auto& entry : probes) {
    probes_.push_back({std::move(entry), std::make_unique<boost::asio::steady_timer>(io_)});
  }
}

void Scheduler::Start() {
  std::uniform_int_distribution<int> first(0, 1000);
  for (auto& scheduled : probes_) Arm(scheduled, absl::Milliseconds(first(random_)));
}

void Scheduler::Stop() {
  stopped_ = true;
  for (auto& scheduled : probes_) scheduled.timer->cancel();
}

void Scheduler::RunAllOnce() {
  for (auto& scheduled : probes_) RunProbe(scheduled.entry);
}

void Scheduler::Arm(Scheduled& scheduled, absl::Duration delay) {
  scheduled.timer->expires_after(absl::ToChronoMilliseconds(delay));
  scheduled.timer->async_wait([this, &scheduled](const boost::system::error_code& error) {
    if (error || stopped_) return;
    RunProbe(scheduled.entry);
    std::uniform_real_distribution<double> jitter(0.9, 1.1);
    Arm(scheduled, scheduled.entry.interval * jitter(random_));
  });
}

void Scheduler::RunProbe(ProbeEntry& entry) {
  const std::string name(entry.probe->name());
  const absl::Time started = clock_.Now();
  const auto wall_start = std::chrono::steady_clock::now();
  ProbeContext ctx{fs_, clock_, config_, started + entry.deadline, tracker_.Standing(name)};
  absl::StatusOr<ProbeOutput> output = entry.probe->Collect(ctx);
  const absl::Duration took = absl::FromChrono(std::chrono::steady_clock::now() - wall_start);

  medic::v1::ProbeReport report;
  std::vector<medic::v1::FindingEvent> events;
  if (output.ok()) {
    report = std::move(output->report);
    events = tracker_.Update(name, std::move(output->findings), clock_.Now());
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
  sink_(report, events);
}

}  // namespace medic::agent
