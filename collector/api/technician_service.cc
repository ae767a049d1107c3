#include "collector/api/technician_service.h"

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "common/proto/enum_words.h"
#include "common/status/grpc_status.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"

namespace medic::collector {
namespace {

// What the store said, for the technician: "no such machine" passes through as it is; a
// failure of the store itself says so, so the CLI does not blame the network.
grpc::Status StoreError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kInvalidArgument:
      return common::ToGrpcStatus(status);
    default:
      return grpc::Status(
          static_cast<grpc::StatusCode>(status.code()),
          common::StrCat("the collector could not read its database: ", status.message()));
  }
}

}  // namespace

grpc::Status TechnicianServiceImpl::CheckStreamingCall(grpc::CallbackServerContext* context,
                                                       std::string_view method,
                                                       Principal* principal) {
  if (security_ == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "this collector has no authentication configured");
  }
  return security_->Authorize(*context, method, principal);
}

bool TechnicianServiceImpl::Authorize(grpc::CallbackServerContext* context,
                                      grpc::ServerUnaryReactor* reactor, std::string_view method,
                                      Principal* principal) {
  if (security_ == nullptr) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                 "this collector has no authentication configured"));
    return false;
  }
  grpc::Status status = security_->Authorize(*context, method, principal);
  if (!status.ok()) {
    reactor->Finish(status);
    return false;
  }
  return true;
}

void TechnicianServiceImpl::FinishAudited(grpc::CallbackServerContext* context,
                                          grpc::ServerUnaryReactor* reactor,
                                          const Principal& principal, std::string_view method,
                                          std::string_view target, const grpc::Status& status,
                                          std::string_view details) {
  if (security_ != nullptr) {
    security_->Audit(principal, method, target, status, details, context->peer());
  }
  reactor->Finish(status);
}

void TechnicianServiceImpl::AddIdentityAlert(medic::v1::Machine* machine) {
  if (security_ == nullptr) return;
  if (auto alert = security_->IdentityAlert(machine->machine_id())) {
    machine->set_identity_alert(alert->first);
    *machine->mutable_identity_alert_at() = common::ToProtoTime(alert->second);
  }
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::ListMachines(
    grpc::CallbackServerContext* context, const medic::v1::ListMachinesRequest* request,
    medic::v1::ListMachinesResponse* response) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "ListMachines", &principal)) return reactor;
  auto machines = store_.ListMachines(*request, clock_.Now());
  if (!machines.ok()) {
    reactor->Finish(StoreError(machines.status()));
    return reactor;
  }
  // Identity alerts are rare: one query for all of them, not one per machine (a round trip
  // each on PostgreSQL).
  std::map<std::string, Store::IdentityAlert> alerts;
  if (security_ != nullptr) {
    if (auto listed = store_.ListIdentityAlerts(); listed.ok()) {
      for (auto& a : *listed) alerts.emplace(a.machine_id, std::move(a));
    }
  }
  for (auto& m : *machines) {
    if (auto it = alerts.find(m.machine_id()); it != alerts.end()) {
      m.set_identity_alert(it->second.alert);
      *m.mutable_identity_alert_at() = common::ToProtoTime(it->second.at);
    }
    *response->add_machines() = std::move(m);
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::GetMachineHealth(
    grpc::CallbackServerContext* context, const medic::v1::GetMachineHealthRequest* request,
    medic::v1::MachineHealth* response) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "GetMachineHealth", &principal)) return reactor;
  if (request->host().empty()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no host given"));
    return reactor;
  }
  auto health = store_.GetMachineHealth(request->host(), clock_.Now());
  if (!health.ok()) {
    reactor->Finish(StoreError(health.status()));
    return reactor;
  }
  *response = std::move(*health);
  AddIdentityAlert(response->mutable_machine());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::ListIncidents(
    grpc::CallbackServerContext* context, const medic::v1::ListIncidentsRequest* request,
    medic::v1::ListIncidentsResponse* response) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "ListIncidents", &principal)) return reactor;
  auto incidents = store_.ListIncidents(request->include_resolved());
  if (!incidents.ok()) {
    reactor->Finish(StoreError(incidents.status()));
    return reactor;
  }
  for (auto& i : *incidents) *response->add_incidents() = std::move(i);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::ListTickets(
    grpc::CallbackServerContext* context, const medic::v1::ListTicketsRequest* request,
    medic::v1::ListTicketsResponse* response) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "ListTickets", &principal)) return reactor;
  auto tickets = store_.ListTickets(request->state());
  if (!tickets.ok()) {
    reactor->Finish(StoreError(tickets.status()));
    return reactor;
  }
  for (auto& t : *tickets) *response->add_tickets() = std::move(t);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::GetTicket(
    grpc::CallbackServerContext* context, const medic::v1::GetTicketRequest* request,
    medic::v1::Ticket* response) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "GetTicket", &principal)) return reactor;
  auto ticket = store_.GetTicket(request->ticket_id());
  if (!ticket.ok()) {
    reactor->Finish(StoreError(ticket.status()));
    return reactor;
  }
  *response = std::move(*ticket);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::UpdateTicket(
    grpc::CallbackServerContext* context, const medic::v1::UpdateTicketRequest* request,
    medic::v1::Ticket* response) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "UpdateTicket", &principal)) return reactor;
  if (tickets_ == nullptr) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "tickets are not enabled"));
    return reactor;
  }
  medic::v1::UpdateTicketRequest update = *request;
  // Who changed the ticket is the token's holder, not what the client says; the client's
  // word (its login name) is kept beside it.
  if (!principal.token_id.empty()) {
    update.set_actor(request->actor().empty() || request->actor() == principal.name
                         ? principal.name
                         : common::StrCat(principal.name, " (as ", request->actor(), ")"));
  }
  auto ticket = tickets_->Update(update);
  const char* what = request->state() == medic::v1::TICKET_STATE_RESOLVED       ? "resolved"
                     : request->state() == medic::v1::TICKET_STATE_ACKNOWLEDGED ? "acknowledged"
                                                                                : "updated";
  if (!ticket.ok()) {
    FinishAudited(context, reactor, principal, "UpdateTicket", request->ticket_id(),
                  StoreError(ticket.status()), what);
    return reactor;
  }
  if (events_ != nullptr) {
    medic::v1::Event event;
    *event.mutable_at() = common::ToProtoTime(clock_.Now());
    *event.mutable_ticket() = *ticket;
    events_->Publish(event);
  }
  *response = std::move(*ticket);
  FinishAudited(context, reactor, principal, "UpdateTicket", request->ticket_id(), grpc::Status::OK,
                what);
  return reactor;
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::GetMachineHistory(
    grpc::CallbackServerContext* context, const medic::v1::GetMachineHistoryRequest* request,
    medic::v1::MachineHistory* response) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "GetMachineHistory", &principal)) return reactor;
  if (request->host().empty()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no host given"));
    return reactor;
  }
  const absl::Time since = request->has_since() ? common::FromProtoTime(request->since())
                                                : clock_.Now() - absl::Hours(24);
  const std::vector<std::string> metrics(request->metrics().begin(), request->metrics().end());
  auto history = store_.GetMachineHistory(request->host(), since, metrics);
  if (!history.ok()) {
    reactor->Finish(StoreError(history.status()));
    return reactor;
  }
  *response = std::move(*history);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

namespace {

// Runs one policy call: `call` fills the response or fails. The status to finish with.
template <typename Response, typename Call>
grpc::Status PolicyCall(PolicyHub* hub, Response* response, Call call) {
  if (hub == nullptr) {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "this collector keeps no central policy");
  }
  absl::StatusOr<Response> result = call(*hub);
  if (!result.ok()) return common::ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

}  // namespace

grpc::ServerUnaryReactor* TechnicianServiceImpl::SetPolicy(
    grpc::CallbackServerContext* context, const medic::v1::SetPolicyRequest* request,
    medic::v1::SetPolicyResponse* response) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "SetPolicy", &principal)) return reactor;
  medic::v1::SetPolicyRequest set = *request;
  // Who changed the policy is the token's holder, as for tickets.
  if (!principal.token_id.empty()) {
    set.set_actor(request->actor().empty() || request->actor() == principal.name
                      ? principal.name
                      : common::StrCat(principal.name, " (as ", request->actor(), ")"));
  }
  grpc::Status status = PolicyCall(policy_, response, [&](PolicyHub& hub) { return hub.Set(set); });
  FinishAudited(context, reactor, principal, "SetPolicy",
                common::StrCat(common::EnumWord(request->scope()), " ", request->group()), status,
                request->yaml());
  return reactor;
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::ListPolicies(
    grpc::CallbackServerContext* context, const medic::v1::ListPoliciesRequest*,
    medic::v1::ListPoliciesResponse* response) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "ListPolicies", &principal)) return reactor;
  reactor->Finish(PolicyCall(policy_, response, [&](PolicyHub& hub) { return hub.List(); }));
  return reactor;
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::PreviewPolicy(
    grpc::CallbackServerContext* context, const medic::v1::PreviewPolicyRequest* request,
    medic::v1::PolicyPreview* response) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "PreviewPolicy", &principal)) return reactor;
  reactor->Finish(
      PolicyCall(policy_, response, [&](PolicyHub& hub) { return hub.Preview(*request); }));
  return reactor;
}

}  // namespace medic::collector

namespace medic::collector {
namespace {

// Who asked, for the agent's audit line: the authenticated caller and its address.
std::string RequestedBy(grpc::CallbackServerContext* context, const Principal& principal) {
  return common::StrCat(principal.Describe(), " via ", context->peer());
}

// What a diagnostic run was aimed at, for the audit log.
std::string DescribeTarget(const medic::v1::RunDiagnosticRequest& request) {
  const medic::v1::MachineSelector& s = request.selector();
  std::string target = common::EnumWord(request.check());
  if (s.all()) return common::StrCat(target, " on all machines");
  if (!s.site().empty()) return common::StrCat(target, " on site ", s.site());
  if (!s.subnet().empty()) return common::StrCat(target, " on subnet ", s.subnet());
  std::string hosts;
  for (const std::string& host : s.hosts()) {
    if (!hosts.empty()) hosts += ",";
    hosts += host;
  }
  return common::StrCat(target, " on ", hosts);
}

// Streams messages to one caller. Producers on any thread call Push; a shared state with an
// `alive` flag lets them outlive the reactor safely (they find it gone and drop the message).
template <typename Message>
class Writer final : public grpc::ServerWriteReactor<Message> {
 public:
  struct State {
    std::mutex mu;
    Writer* writer ABSL_GUARDED_BY(mu) = nullptr;
  };

  explicit Writer(size_t max_queue) : max_queue_(max_queue), state_(std::make_shared<State>()) {
    state_->writer = this;
  }

  std::shared_ptr<State> state() const { return state_; }
  void set_on_done(std::function<void()> on_done) { on_done_ = std::move(on_done); }

  // False when the caller has fallen max_queue behind: the stream is then ended.
  static bool Push(const std::shared_ptr<State>& state, const Message& message) {
    std::lock_guard lock(state->mu);
    Writer* w = state->writer;
    if (w == nullptr || w->finishing_) return true;
    if (w->queue_.size() >= w->max_queue_) {
      w->finishing_ = true;
      w->queue_.clear();
      w->end_status_ = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                    "fell too far behind the events; watch again");
      w->NextLocked();
      return false;
    }
    w->queue_.push_back(message);
    w->NextLocked();
    return true;
  }

  // No more messages: finish once the queue is written.
  static void Close(const std::shared_ptr<State>& state, grpc::Status status) {
    std::lock_guard lock(state->mu);
    Writer* w = state->writer;
    if (w == nullptr || w->finishing_) return;
    w->finishing_ = true;
    w->end_status_ = std::move(status);
    w->NextLocked();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(state_->mu);
    writing_ = false;
    if (!ok) {
      if (!finished_) {
        finished_ = true;
        this->Finish(grpc::Status::CANCELLED);
      }
      return;
    }
    NextLocked();
  }

  // The caller went away (tab closed, Ctrl-C, shutdown): finish now rather than at the next
  // message, so the subscription or run behind this stream is let go at once.
  void OnCancel() override {
    std::lock_guard lock(state_->mu);
    finishing_ = true;
    queue_.clear();
    end_status_ = grpc::Status::CANCELLED;
    NextLocked();
  }

  void OnDone() override {
    {
      std::lock_guard lock(state_->mu);
      state_->writer = nullptr;
    }
    if (on_done_) on_done_();
    delete this;
  }

 private:
  void NextLocked() {
    if (writing_ || finished_) return;
    if (!queue_.empty()) {
      out_ = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      this->StartWrite(&out_);
      return;
    }
    if (finishing_) {
      finished_ = true;
      this->Finish(end_status_);
    }
  }

  const size_t max_queue_;
  std::shared_ptr<State> state_;
  std::function<void()> on_done_;
  // Guarded by state_->mu.
  std::deque<Message> queue_;
  Message out_;
  bool writing_ = false;
  bool finishing_ = false;
  bool finished_ = false;
  grpc::Status end_status_;
};

}  // namespace

grpc::ServerWriteReactor<medic::v1::DiagnosticResult>* TechnicianServiceImpl::RunDiagnostic(
    grpc::CallbackServerContext* context, const medic::v1::RunDiagnosticRequest* request) {
  // A fan-out result per machine: the queue holds all of them, however slow the caller.
  auto* writer = new Writer<medic::v1::DiagnosticResult>(SIZE_MAX);
  auto state = writer->state();
  Principal principal;
  if (grpc::Status allowed = CheckStreamingCall(context, "RunDiagnostic", &principal);
      !allowed.ok()) {
    Writer<medic::v1::DiagnosticResult>::Close(state, allowed);
    return writer;
  }
  if (router_ == nullptr) {
    Writer<medic::v1::DiagnosticResult>::Close(
        state, grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "live diagnostics are not enabled"));
    return writer;
  }
  auto id = router_->Start(
      *request, RequestedBy(context, principal),
      [state, latency = diagnostic_latency_,
       asked = absl::Now()](const medic::v1::DiagnosticResult& result) {
        if (latency != nullptr) {
          latency->Get({common::EnumWord(result.check()), common::EnumWord(result.outcome())})
              .Observe(absl::ToDoubleSeconds(absl::Now() - asked));
        }
        Writer<medic::v1::DiagnosticResult>::Push(state, result);
      },
      [state] { Writer<medic::v1::DiagnosticResult>::Close(state, grpc::Status::OK); });
  // Every diagnostic run is audited with what became of it (refusals by role are audited by
  // Authorize; parameters are checked on the agent).
  security_->Audit(principal, "RunDiagnostic", DescribeTarget(*request),
                   id.ok() ? grpc::Status::OK : common::ToGrpcStatus(id.status()),
                   id.ok() ? *id : "", context->peer());
  if (!id.ok()) {
    Writer<medic::v1::DiagnosticResult>::Close(state, common::ToGrpcStatus(id.status()));
    return writer;
  }
  writer->set_on_done([router = router_, id = *id] { router->Cancel(id); });
  return writer;
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::GetDiagnosticResults(
    grpc::CallbackServerContext* context, const medic::v1::GetDiagnosticResultsRequest* request,
    medic::v1::GetDiagnosticResultsResponse* response) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "GetDiagnosticResults", &principal)) return reactor;
  if (router_ == nullptr) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "live diagnostics are not enabled"));
    return reactor;
  }
  auto results = router_->GetResults(request->request_id());
  if (!results.ok()) {
    reactor->Finish(StoreError(results.status()));
    return reactor;
  }
  *response = std::move(*results);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

namespace {

class EventWatcher final : public diagnostics::Watcher {
 public:
  explicit EventWatcher(std::shared_ptr<Writer<medic::v1::Event>::State> state)
      : state_(std::move(state)) {}
  bool Take(const medic::v1::Event& event) override {
    return Writer<medic::v1::Event>::Push(state_, event);
  }

 private:
  std::shared_ptr<Writer<medic::v1::Event>::State> state_;
};

// Events a watcher may be behind before it is dropped.
constexpr size_t kMaxWatcherBacklog = 4096;

}  // namespace

grpc::ServerWriteReactor<medic::v1::Event>* TechnicianServiceImpl::WatchEvents(
    grpc::CallbackServerContext* context, const medic::v1::WatchEventsRequest* request) {
  auto* writer = new Writer<medic::v1::Event>(kMaxWatcherBacklog);
  Principal principal;
  if (grpc::Status allowed = CheckStreamingCall(context, "WatchEvents", &principal);
      !allowed.ok()) {
    Writer<medic::v1::Event>::Close(writer->state(), allowed);
    return writer;
  }
  if (events_ == nullptr) {
    Writer<medic::v1::Event>::Close(
        writer->state(),
        grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "the event stream is not enabled"));
    return writer;
  }
  auto watcher = std::make_shared<EventWatcher>(writer->state());
  writer->set_on_done([events = events_, w = watcher.get()] { events->Unsubscribe(w); });
  events_->Subscribe(std::move(watcher));
  return writer;
}

}  // namespace medic::collector
