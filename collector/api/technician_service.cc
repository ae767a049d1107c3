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

grpc::ServerUnaryReactor* TechnicianServiceImpl::ListMachines(
    grpc::CallbackServerContext* context, const medic::v1::ListMachinesRequest* request,
    medic::v1::ListMachinesResponse* response) {
  auto* reactor = context->DefaultReactor();
  auto machines = store_.ListMachines(*request, clock_.Now());
  if (!machines.ok()) {
    reactor->Finish(StoreError(machines.status()));
    return reactor;
  }
  for (auto& m : *machines) *response->add_machines() = std::move(m);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::GetMachineHealth(
    grpc::CallbackServerContext* context, const medic::v1::GetMachineHealthRequest* request,
    medic::v1::MachineHealth* response) {
  auto* reactor = context->DefaultReactor();
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
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::ListIncidents(
    grpc::CallbackServerContext* context, const medic::v1::ListIncidentsRequest* request,
    medic::v1::ListIncidentsResponse* response) {
  auto* reactor = context->DefaultReactor();
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
  if (tickets_ == nullptr) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "tickets are not enabled"));
    return reactor;
  }
  auto ticket = tickets_->Update(*request);
  if (!ticket.ok()) {
    reactor->Finish(StoreError(ticket.status()));
    return reactor;
  }
  *response = std::move(*ticket);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

namespace {

// Runs one policy call: `call` fills the response or fails.
template <typename Response, typename Call>
grpc::ServerUnaryReactor* PolicyCall(grpc::CallbackServerContext* context, PolicyHub* hub,
                                     Response* response, Call call) {
  auto* reactor = context->DefaultReactor();
  if (hub == nullptr) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "this collector keeps no central policy"));
    return reactor;
  }
  absl::StatusOr<Response> result = call(*hub);
  if (!result.ok()) {
    reactor->Finish(common::ToGrpcStatus(result.status()));
    return reactor;
  }
  *response = std::move(*result);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* TechnicianServiceImpl::SetPolicy(
    grpc::CallbackServerContext* context, const medic::v1::SetPolicyRequest* request,
    medic::v1::SetPolicyResponse* response) {
  return PolicyCall(context, policy_, response, [&](PolicyHub& hub) { return hub.Set(*request); });
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::ListPolicies(
    grpc::CallbackServerContext* context, const medic::v1::ListPoliciesRequest*,
    medic::v1::ListPoliciesResponse* response) {
  return PolicyCall(context, policy_, response, [&](PolicyHub& hub) { return hub.List(); });
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::PreviewPolicy(
    grpc::CallbackServerContext* context, const medic::v1::PreviewPolicyRequest* request,
    medic::v1::PolicyPreview* response) {
  return PolicyCall(context, policy_, response,
                    [&](PolicyHub& hub) { return hub.Preview(*request); });
}

}  // namespace medic::collector
