#include "collector/replicas/leader.h"

#include "common/status/status_macros.h"

namespace medic::collector {

absl::Status LeaderDuties::Lead() {
  auto engine = std::make_unique<engine::EngineRunner>(clock_, options_, sink_, tick_);
  // Everything the previous leader left: incidents, machines, standing findings. A replica
  // that died mid-correlation left its incidents and tickets committed (each change is one
  // transaction with its outbox events), so they continue rather than open again.
  RETURN_IF_ERROR(engine->Restore(store_, /*takeover=*/true));
  engine->Start();
  std::unique_ptr<tickets::OutboxSender> outbox;
  if (outbound_) {
    outbox = std::make_unique<tickets::OutboxSender>(store_, clock_, *outbound_);
    outbox->Start();
  }
  std::lock_guard lock(mu_);
  engine_ = std::move(engine);
  outbox_ = std::move(outbox);
  return absl::OkStatus();
}

void LeaderDuties::Follow() {
  std::unique_ptr<engine::EngineRunner> engine;
  std::unique_ptr<tickets::OutboxSender> outbox;
  {
    std::lock_guard lock(mu_);
    engine = std::move(engine_);
    outbox = std::move(outbox_);
  }
  // Outside the lock: the engine's thread may be waking the outbox.
  if (engine != nullptr) engine->Stop();
  if (outbox != nullptr) outbox->Stop();
}

void LeaderDuties::Changed(const std::vector<MachineState>& machines) {
  std::lock_guard lock(mu_);
  if (engine_ == nullptr) return;
  for (const MachineState& m : machines) {
    medic::v1::Hello hello;
    hello.set_hostname(m.hostname);
    for (const auto& label : m.labels) hello.add_labels(label);
    engine_->OnHello(m.machine_id, hello);
    // The machine's whole standing state, as a snapshot: the engine raises what is new and
    // clears what is gone, so a missed or repeated notification does no harm.
    medic::v1::AgentMessage state;
    *state.mutable_snapshot()->mutable_topology() = m.topology;
    for (const auto& f : m.standing) *state.mutable_snapshot()->add_findings() = f;
    engine_->OnRecord(m.machine_id, state);
  }
}

void LeaderDuties::Seen(const std::vector<std::string>& machine_ids) {
  std::lock_guard lock(mu_);
  if (engine_ == nullptr) return;
  for (const auto& id : machine_ids) engine_->OnSeen(id);
}

void LeaderDuties::WakeOutbox() {
  std::lock_guard lock(mu_);
  if (outbox_ != nullptr) outbox_->Wake();
}

}  // namespace medic::collector
