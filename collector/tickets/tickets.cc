#include "collector/tickets/tickets.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_join.h"
#include "collector/tickets/outbound.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "spdlog/spdlog.h"

namespace medic::collector::tickets {
namespace {

// Changes kept while the store refuses them; beyond this the oldest are kept, new ones dropped.
constexpr size_t kMaxRetry = 10000;

using medic::v1::Ticket;

std::string Where(const medic::v1::Incident& incident) {
  switch (incident.scope()) {
    case medic::v1::SCOPE_SUBNET:
      return common::StrCat("subnet ", incident.resource());
    case medic::v1::SCOPE_SITE:
      return common::StrCat("site ", incident.resource());
    case medic::v1::SCOPE_HOST:
      return incident.hosts().empty() ? incident.resource() : incident.hosts(0);
    default:
      return incident.resource();
  }
}

std::string CompactJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

}  // namespace

uint32_t Priority(medic::v1::Severity severity, size_t hosts) {
  int score = severity == medic::v1::SEVERITY_CRITICAL  ? 4
              : severity == medic::v1::SEVERITY_WARNING ? 3
                                                        : 1;
  score += hosts >= 10 ? 2 : hosts >= 3 ? 1 : 0;
  return static_cast<uint32_t>(std::clamp(6 - score, 1, 4));
}

std::string TicketIdFor(const std::string& incident_id) {
  const size_t dash = incident_id.rfind('-');
  return common::StrCat("MED-",
                        dash == std::string::npos ? incident_id : incident_id.substr(dash + 1));
}

Tickets::Tickets(Store& store, const common::Clock& clock, KnowledgeBase kb,
                 OutboundTargets targets)
    : store_(store), clock_(clock), kb_(std::move(kb)), targets_(targets) {}

void Tickets::Render(const medic::v1::Incident& incident, Ticket* ticket) const {
  const medic::v1::KnowledgeEntry& entry = kb_.Find(incident.code());
  const std::map<std::string, std::string> values = {
      {"host", incident.hosts().empty() ? "" : incident.hosts(0)},
      {"resource", incident.resource()},
      {"count", std::to_string(incident.hosts_size())},
      {"where", Where(incident)},
      {"code", incident.code()},
  };
  const bool one_host = incident.scope() == medic::v1::SCOPE_HOST || incident.hosts_size() == 1;
  ticket->set_title(
      Fill(one_host || entry.title_group().empty() ? entry.title() : entry.title_group(), values));
  ticket->set_code(incident.code());
  ticket->set_resource(incident.resource());
  ticket->set_scope(incident.scope());
  ticket->set_severity(incident.severity());
  ticket->set_priority(Priority(incident.severity(), incident.hosts_size()));
  *ticket->mutable_hosts() = incident.hosts();
  ticket->set_diagnosis(Fill(entry.diagnosis(), values));
  ticket->clear_runbook();
  for (const auto& step : entry.technician_steps()) ticket->add_runbook(Fill(step, values));
  for (const auto& step : entry.user_steps()) {
    ticket->add_runbook(common::StrCat("Tell the user: ", Fill(step, values)));
  }
  *ticket->mutable_evidence() = incident.evidence();
  ticket->set_incident_id(incident.incident_id());
  if (!ticket->has_opened_at()) *ticket->mutable_opened_at() = incident.opened_at();
}

void Tickets::AddHistory(Ticket* ticket, std::string actor, std::string what) {
  medic::v1::TicketEvent* event = ticket->add_history();
  *event->mutable_at() = common::ToProtoTime(clock_.Now());
  event->set_actor(std::move(actor));
  event->set_what(std::move(what));
  *ticket->mutable_updated_at() = event->at();
}

std::vector<Store::OutboxEvent> Tickets::Events(const Ticket& ticket, std::string_view kind) {
  std::vector<Store::OutboxEvent> events;
  // The key names the ticket event: the same event queued twice is one event.
  const std::string key = common::StrCat(ticket.ticket_id(), "/", ticket.history_size(), "/", kind);
  for (const auto& [enabled, target] :
       {std::pair{targets_.webhook, "webhook"}, std::pair{targets_.helpdesk, "helpdesk"}}) {
    if (!enabled) continue;
    Store::OutboxEvent& e = events.emplace_back();
    e.idempotency_key = key;
    e.ticket_id = ticket.ticket_id();
    e.kind = std::string(kind);
    e.target = target;
    e.payload = std::string_view(target) == "helpdesk"
                    ? HelpdeskBody(ticket, kind)
                    : common::StrCat("{\"idempotency_key\":\"", key, "\",\"event\":\"", kind,
                                     "\",\"ticket\":", CompactJson(ticket), "}");
  }
  return events;
}

void Tickets::Apply(const std::vector<engine::IncidentChange>& new_changes) {
  bool queued = false;
  {
    std::lock_guard lock(mu_);
    std::vector<engine::IncidentChange> changes = std::exchange(retry_, {});
    changes.insert(changes.end(), new_changes.begin(), new_changes.end());
    std::set<std::string> held;  // incidents with a change kept for later: keep their order
    auto keep = [&](const engine::IncidentChange& change) {
      held.insert(change.incident.incident_id());
      if (retry_.size() >= kMaxRetry) {
        spdlog::error("incident {}: dropping a {} change, {} are waiting for the store already",
                      change.incident.incident_id(), engine::ChangeKindName(change.kind),
                      retry_.size());
        return;
      }
      retry_.push_back(change);
    };
    for (const auto& change : changes) {
      const medic::v1::Incident& incident = change.incident;
      if (held.contains(incident.incident_id())) {
        keep(change);
        continue;
      }
      Ticket ticket;
      absl::StatusOr<Ticket> stored = store_.GetTicket(incident.incident_id());
      const bool exists = stored.ok();
      if (exists) {
        ticket = *std::move(stored);
      } else if (stored.status().code() != absl::StatusCode::kNotFound) {
        spdlog::error("incident {}: cannot read its ticket (will try again): {}",
                      incident.incident_id(), stored.status().message());
        keep(change);
        continue;
      }
      if (!exists) {
        ticket.set_ticket_id(TicketIdFor(incident.incident_id()));
        ticket.set_state(medic::v1::TICKET_STATE_OPEN);
      }
      Render(incident, &ticket);
      medic::v1::Incident to_store = incident;
      to_store.set_ticket_id(ticket.ticket_id());
      std::vector<Store::OutboxEvent> outbox;
      auto emit = [&](std::string_view kind) {
        auto events = Events(ticket, kind);
        outbox.insert(outbox.end(), events.begin(), events.end());
      };
      const std::string hosts = absl::StrJoin(change.hosts, ", ");
      switch (change.kind) {
        case engine::ChangeKind::kOpened:
          AddHistory(&ticket, "medic",
                     common::StrCat("opened for ", hosts, ": ",
                                    incident.explanation().empty() ? "" : incident.explanation(0)));
          emit("create");
          break;
        case engine::ChangeKind::kHostsJoined:
          AddHistory(&ticket, "medic", common::StrCat("hosts joined: ", hosts));
          emit("update");
          break;
        case engine::ChangeKind::kReopened:
          ticket.set_state(medic::v1::TICKET_STATE_OPEN);
          AddHistory(&ticket, "medic", common::StrCat("reopened: it recurred on ", hosts));
          emit("reopen");
          break;
        case engine::ChangeKind::kResolved:
          if (ticket.state() != medic::v1::TICKET_STATE_RESOLVED) {
            ticket.set_state(medic::v1::TICKET_STATE_RESOLVED);
            AddHistory(&ticket, "medic",
                       change.note.empty()
                           ? "resolved automatically: the fault cleared on every host and stayed "
                             "clear"
                           : common::StrCat("resolved automatically: ", change.note));
            emit("close");
          }
          break;
        case engine::ChangeKind::kUpdated:
          if (!exists) continue;  // nothing a person would see yet
          *ticket.mutable_updated_at() = incident.updated_at();
          break;
      }
      if (absl::Status s = store_.SaveIncident(to_store, &ticket, outbox); !s.ok()) {
        spdlog::error("incident {} ({} {}): cannot store it and its ticket (will try again): {}",
                      incident.incident_id(), incident.code(), incident.resource(), s.message());
        keep(change);
        continue;
      }
      queued |= !outbox.empty();
      if (change.kind != engine::ChangeKind::kUpdated) {
        spdlog::info("ticket {} {}: {} ({} hosts)", ticket.ticket_id(),
                     engine::ChangeKindName(change.kind), ticket.title(), ticket.hosts_size());
      }
    }
  }
  if (queued && listener_) listener_();
}

absl::StatusOr<Ticket> Tickets::Update(const medic::v1::UpdateTicketRequest& request) {
  Ticket ticket;
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(ticket, store_.GetTicket(request.ticket_id()));
    const std::string actor = request.actor().empty() ? "technician" : request.actor();
    const std::string note = request.note().empty() ? "" : common::StrCat(": ", request.note());
    std::string kind;
    switch (request.state()) {
      case medic::v1::TICKET_STATE_ACKNOWLEDGED:
        if (ticket.state() != medic::v1::TICKET_STATE_OPEN) {
          return absl::FailedPreconditionError(common::StrCat(
              "ticket ", ticket.ticket_id(), " is ",
              ticket.state() == medic::v1::TICKET_STATE_RESOLVED ? "resolved" : "acknowledged",
              " already; only an open ticket can be acknowledged"));
        }
        ticket.set_state(medic::v1::TICKET_STATE_ACKNOWLEDGED);
        AddHistory(&ticket, actor, common::StrCat("acknowledged", note));
        kind = "update";
        break;
      case medic::v1::TICKET_STATE_RESOLVED:
        if (ticket.state() == medic::v1::TICKET_STATE_RESOLVED) {
          return absl::FailedPreconditionError(
              common::StrCat("ticket ", ticket.ticket_id(), " is resolved already"));
        }
        ticket.set_state(medic::v1::TICKET_STATE_RESOLVED);
        AddHistory(&ticket, actor, common::StrCat("resolved", note));
        kind = "close";
        break;
      default:
        return absl::InvalidArgumentError(
            "a ticket can be set to ACKNOWLEDGED or RESOLVED; medic resolves and reopens "
            "tickets itself as their faults clear and recur");
    }
    RETURN_IF_ERROR(store_.SaveTicket(ticket, Events(ticket, kind)));
  }
  if (listener_ && (targets_.webhook || targets_.helpdesk)) listener_();
  return ticket;
}

}  // namespace medic::collector::tickets
