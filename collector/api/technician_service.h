#pragma once

#include "collector/policy/policy_hub.h"
#include "collector/store/store.h"
#include "collector/tickets/tickets.h"
#include "common/time/clock.h"
#include "medic/v1/technician.grpc.pb.h"

namespace medic::collector {

// Serves the technician API from the store. Methods later issues fill in (tickets,
// incidents, diagnostics, events) answer UNIMPLEMENTED until then.
class TechnicianServiceImpl final : public medic::v1::TechnicianService::CallbackService {
 public:
  // `tickets` (not owned) takes ticket updates; without it UpdateTicket is UNIMPLEMENTED.
  TechnicianServiceImpl(Store& store, const common::Clock& clock,
                        tickets::Tickets* tickets = nullptr)
      : store_(store), clock_(clock), tickets_(tickets) {}

  grpc::ServerUnaryReactor* ListMachines(grpc::CallbackServerContext* context,
                                         const medic::v1::ListMachinesRequest* request,
                                         medic::v1::ListMachinesResponse* response) override;
  grpc::ServerUnaryReactor* GetMachineHealth(grpc::CallbackServerContext* context,
                                             const medic::v1::GetMachineHealthRequest* request,
                                             medic::v1::MachineHealth* response) override;
  grpc::ServerUnaryReactor* ListIncidents(grpc::CallbackServerContext* context,
                                          const medic::v1::ListIncidentsRequest* request,
                                          medic::v1::ListIncidentsResponse* response) override;
  grpc::ServerUnaryReactor* ListTickets(grpc::CallbackServerContext* context,
                                        const medic::v1::ListTicketsRequest* request,
                                        medic::v1::ListTicketsResponse* response) override;
  grpc::ServerUnaryReactor* GetTicket(grpc::CallbackServerContext* context,
                                      const medic::v1::GetTicketRequest* request,
                                      medic::v1::Ticket* response) override;
  grpc::ServerUnaryReactor* UpdateTicket(grpc::CallbackServerContext* context,
                                         const medic::v1::UpdateTicketRequest* request,
                                         medic::v1::Ticket* response) override;

  // Central policy; UNIMPLEMENTED until SetPolicyHub.
  void SetPolicyHub(PolicyHub* hub) { policy_ = hub; }
  grpc::ServerUnaryReactor* SetPolicy(grpc::CallbackServerContext* context,
                                      const medic::v1::SetPolicyRequest* request,
                                      medic::v1::SetPolicyResponse* response) override;
  grpc::ServerUnaryReactor* ListPolicies(grpc::CallbackServerContext* context,
                                         const medic::v1::ListPoliciesRequest* request,
                                         medic::v1::ListPoliciesResponse* response) override;
  grpc::ServerUnaryReactor* PreviewPolicy(grpc::CallbackServerContext* context,
                                          const medic::v1::PreviewPolicyRequest* request,
                                          medic::v1::PolicyPreview* response) override;

 private:
  PolicyHub* policy_ = nullptr;
  Store& store_;
  const common::Clock& clock_;
  tickets::Tickets* const tickets_;
};

}  // namespace medic::collector
