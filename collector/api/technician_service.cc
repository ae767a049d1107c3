#include "collector/api/technician_service.h"

#include "common/status/grpc_status.h"
#include "common/strings/str_cat.h"

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
  for (auto& m : *machines) {
    AddIdentityAlert(&m);
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
  *response = std::move(*ticket);
  FinishAudited(context, reactor, principal, "UpdateTicket", request->ticket_id(), grpc::Status::OK,
                what);
  return reactor;
}

}  // namespace medic::collector
