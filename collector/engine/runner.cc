#include "collector/engine/runner.h"

#include <utility>

#include "common/status/status_macros.h"
#include "spdlog/spdlog.h"

namespace medic::collector::engine {
namespace {

// The agents' default longest reconnect backoff.
constexpr absl::Duration kReconnectGrace = absl::Seconds(60);
// Machines silent longer than this before a restart are not watched for host.offline again:
// they were retired or went offline long ago.
constexpr absl::Duration kWatchAfterRestart = absl::Hours(24);
constexpr absl::Duration kGather = absl::Milliseconds(20);
}  // namespace

EngineRunner::EngineRunner(const common::Clock& clock, EngineOptions options, IncidentSink& sink,
                           absl::Duration tick)
    : clock_(clock), sink_(sink), tick_(tick), engine_(clock, std::move(options)) {}

EngineRunner::~EngineRunner() { Stop(); }

absl::Status EngineRunner::Restore(Store& store, bool takeover) {
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(int64_t highest, store.HighestIncidentNumber());
  engine_.ReserveIds(highest);
  // Machines first: restored incidents name their hosts, the engine keys them by machine id.
  ASSIGN_OR_RETURN(std::vector<Store::KnownMachine> machines, store.KnownMachines());
  for (const auto& m : machines) {
    engine_.SetName(m.machine_id, m.hostname);
    engine_.SetTopology(m.machine_id, m.topology, m.labels);
    labels_[m.machine_id] = m.labels;
  }
  ASSIGN_OR_RETURN(std::vector<medic::v1::Incident> incidents, store.ListIncidents(true));
  for (const auto& incident : incidents) engine_.Restore(incident);
  for (const auto& m : machines) {
    // Its agent has had no chance to reconnect yet: it retries with backoff of up to a minute
    // (ReconnectConfig.max_backoff), so count from a minute from now, or a collector restart
    // after an outage would mark a quarter of the fleet offline.
    if (takeover && now - m.last_seen < kReconnectGrace) {
      engine_.Watch(m.machine_id, now);
    } else if (now - m.last_seen < kWatchAfterRestart) {
      engine_.Watch(m.machine_id, now + kReconnectGrace);
    }
    for (const auto& f : m.standing) engine_.Raise(m.machine_id, f);
  }
  std::vector<IncidentChange> changes = engine_.Tick();
  if (!changes.empty()) sink_.Apply(changes);
  spdlog::info("fault engine: {} incidents and {} machines taken back from the store",
               incidents.size(), machines.size());
  return absl::OkStatus();
}

void EngineRunner::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void EngineRunner::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EngineRunner::OnHello(const std::string& machine_id, const medic::v1::Hello& hello) {
  Input input;
  input.host = machine_id;
  input.hostname = hello.hostname();
  input.labels.emplace(hello.labels().begin(), hello.labels().end());
  Push(std::move(input));
}

void EngineRunner::OnSeen(const std::string& machine_id) {
  Input input;
  input.host = machine_id;
  Push(std::move(input));
}

void EngineRunner::OnRecord(const std::string& machine_id, const medic::v1::AgentMessage& record) {
  Input input;
  input.host = machine_id;
  switch (record.kind_case()) {
    case medic::v1::AgentMessage::kSnapshot:
      if (record.snapshot().has_topology()) input.topology = record.snapshot().topology();
      input.snapshot.emplace(record.snapshot().findings().begin(),
                             record.snapshot().findings().end());
      break;
    case medic::v1::AgentMessage::kDelta:
      input.events.assign(record.delta().findings().begin(), record.delta().findings().end());
      break;
    case medic::v1::AgentMessage::kTopology:
      input.topology = record.topology();
      break;
    default:
      break;
  }
  Push(std::move(input));
}

void EngineRunner::Push(Input input) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(input));
  }
  cv_.notify_one();
}

void EngineRunner::Apply(Input& input) {
  if (input.hostname) engine_.SetName(input.host, *input.hostname);
  engine_.Seen(input.host);
  if (input.labels) labels_[input.host] = *input.labels;
  if (input.topology) engine_.SetTopology(input.host, *input.topology, labels_[input.host]);
  if (input.snapshot) engine_.Snapshot(input.host, *input.snapshot);
  for (const auto& event : input.events) {
    if (event.has_raised()) engine_.Raise(input.host, event.raised());
    if (event.has_cleared()) {
      engine_.Clear(input.host, event.cleared().code(), event.cleared().resource());
    }
  }
}

void EngineRunner::Loop() {
  absl::Time next_tick = clock_.Now();
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait_for(
        lock, absl::ToChronoMilliseconds(std::max(absl::ZeroDuration(), next_tick - clock_.Now())),
        [this] { return stopping_ || !queue_.empty(); });
    if (!queue_.empty() && !stopping_) {
      // Records of one event reach us from many agents within milliseconds: take them as one
      // batch, so a fault on 25 hosts is one ticket event rather than 25.
      cv_.wait_for(lock, absl::ToChronoMilliseconds(kGather), [this] { return stopping_; });
    }
    std::deque<Input> batch = std::exchange(queue_, {});
    const bool stop = stopping_;
    lock.unlock();
    for (Input& input : batch) Apply(input);
    // New findings are judged at once; the time-based rules run on the tick.
    std::vector<IncidentChange> changes = engine_.Tick();
    if (clock_.Now() >= next_tick) next_tick = clock_.Now() + tick_;
    if (!changes.empty()) sink_.Apply(changes);
    if (stop) return;
    lock.lock();
  }
}

}  // namespace medic::collector::engine
