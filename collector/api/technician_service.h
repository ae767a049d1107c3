#pragma once

#include "collector/store/store.h"
#include "common/time/clock.h"
#include "medic/v1/technician.grpc.pb.h"

namespace medic::collector {

// Serves the technician API from the store. Methods later issues fill in (tickets,
// incidents, diagnostics, events) answer UNIMPLEMENTED until then.
class TechnicianServiceImpl final : public medic::v1::TechnicianService::CallbackService {
 public:
  TechnicianServiceImpl(Store& store, const common::Clock& clock) : store_(store), clock_(clock) {}

  grpc::ServerUnaryReactor* ListMachines(grpc::CallbackServerContext* context,
                                         const medic::v1::ListMachinesRequest* request,
                                         medic::v1::ListMachinesResponse* response) override;
  grpc::ServerUnaryReactor* GetMachineHealth(grpc::CallbackServerContext* context,
                                             const medic::v1::GetMachineHealthRequest* request,
                                             medic::v1::MachineHealth* response) override;

 private:
  Store& store_;
  const common::Clock& clock_;
};

}  // namespace medic::collector
