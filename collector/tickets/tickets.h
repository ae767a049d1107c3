#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "collector/engine/runner.h"
#include "collector/store/store.h"
#include "collector/tickets/kb.h"
#include "common/time/clock.h"
#include "medic/v1/fleet.pb.h"
#include "medic/v1/technician.pb.h"

namespace medic::collector::tickets {

// Where ticket events go besides the database.
struct OutboundTargets {
  bool webhook = false;
  bool helpdesk = false;
};

// 1 (highest) … 4, from the severity and how many hosts are affected: a critical fault on
// three or more hosts is 1, on one host 2; a warning on one host 3, on three or more 2, on
// ten or more 1; info is 4 (3 from ten hosts).
uint32_t Priority(medic::v1::Severity severity, size_t hosts);

// "I-12" -> "MED-12".
std::string TicketIdFor(const std::string& incident_id);

// The ticket layer: one ticket per incident, kept in the store with its history; ticket events
// are queued in the outbox in the same transaction. Thread-safe: the engine thread applies
// incident changes, technicians update tickets from gRPC threads.
class Tickets final : public engine::IncidentSink {
 public:
  Tickets(Store& store, const common::Clock& clock, KnowledgeBase kb, OutboundTargets targets);

  // Engine thread. A change the store cannot take is logged and kept, with the later changes
  // of its incident, to be applied again (in order) before the changes of the next call: a lost
  // "opened" must not leave the helpdesk an update of a ticket it never saw created.
  void Apply(const std::vector<engine::IncidentChange>& changes) override;

  // A technician acknowledges or resolves a ticket. NotFound for an unknown id;
  // FailedPrecondition for a change its state does not allow; InvalidArgument for a state
  // other than ACKNOWLEDGED or RESOLVED.
  absl::StatusOr<medic::v1::Ticket> Update(const medic::v1::UpdateTicketRequest& request);

  // Called (outside any lock) after outbox events were queued, to wake the sender.
  void SetOutboxListener(std::function<void()> listener) { listener_ = std::move(listener); }

  // The ticket's content from its incident: title, priority, hosts, diagnosis, runbook,
  // evidence. Keeps `ticket`'s id, state and history.
  void Render(const medic::v1::Incident& incident, medic::v1::Ticket* ticket) const;

 private:
  std::vector<Store::OutboxEvent> Events(const medic::v1::Ticket& ticket, std::string_view kind);
  void AddHistory(medic::v1::Ticket* ticket, std::string actor, std::string what);

  Store& store_;
  const common::Clock& clock_;
  const KnowledgeBase kb_;
  const OutboundTargets targets_;
  std::function<void()> listener_;
  std::mutex mu_;                              // one read-modify-write of a ticket at a time
  std::vector<engine::IncidentChange> retry_;  // engine thread only
};

}  // namespace medic::collector::tickets
