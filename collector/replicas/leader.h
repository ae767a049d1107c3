#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "collector/engine/runner.h"
#include "collector/replicas/coordinator.h"
#include "collector/store/store.h"
#include "collector/tickets/outbound.h"
#include "common/time/clock.h"

namespace medic::collector {

// What only the leading replica does: correlate every replica's machines in one fault engine
// (so one outage is one incident and one ticket), and deliver the outbox (so a webhook event
// is sent by one replica). Built anew each time this replica takes the lead, from the store,
// as a restarted single collector does.
class LeaderDuties {
 public:
  LeaderDuties(Store& store, const common::Clock& clock, engine::EngineOptions options,
               engine::IncidentSink& sink, absl::Duration tick,
               std::optional<medic::v1::OutboundConfig> outbound)
      : store_(store),
        clock_(clock),
        options_(std::move(options)),
        sink_(sink),
        tick_(tick),
        outbound_(std::move(outbound)) {}
  ~LeaderDuties() { Follow(); }

  // Coordinator thread.
  absl::Status Lead();
  void Follow();
  void Changed(const std::vector<MachineState>& machines);
  void Seen(const std::vector<std::string>& machine_ids);
  // Any thread: ticket events were queued.
  void WakeOutbox();

 private:
  Store& store_;
  const common::Clock& clock_;
  const engine::EngineOptions options_;
  engine::IncidentSink& sink_;
  const absl::Duration tick_;
  const std::optional<medic::v1::OutboundConfig> outbound_;
  std::mutex mu_;
  std::unique_ptr<engine::EngineRunner> engine_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<tickets::OutboxSender> outbox_ ABSL_GUARDED_BY(mu_);
};

}  // namespace medic::collector
