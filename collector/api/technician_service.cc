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

}  // namespace medic::collector
