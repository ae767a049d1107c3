#include "collector/api/technician_service.h"

#include "common/status/grpc_status.h"

namespace medic::collector {
grpc::ServerUnaryReactor* TechnicianServiceImpl::ListMachines(
    grpc::CallbackServerContext* context, const medic::v1::ListMachinesRequest* request,
    medic::v1::ListMachinesResponse* response) {
  auto* reactor = context->DefaultReactor();
  auto machines = store_.ListMachines(*request, clock_.Now());
  if (!machines.ok()) {
    reactor->Finish(common::ToGrpcStatus(machines.status()));
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
    reactor->Finish(common::ToGrpcStatus(health.status()));
    return reactor;
  }
  *response = std::move(*health);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace medic::collector
