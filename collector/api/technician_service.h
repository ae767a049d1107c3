#pragma once

#include "collector/diagnostics/event_bus.h"
#include "collector/diagnostics/router.h"
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

  // Live diagnostics and the event stream (not owned; set before serving). Without them
  // RunDiagnostic, GetDiagnosticResults and WatchEvents are UNIMPLEMENTED.
  void SetLive(diagnostics::Router* router, diagnostics::EventBus* events) {
    router_ = router;
    events_ = events;
  }

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
  grpc::ServerWriteReactor<medic::v1::DiagnosticResult>* RunDiagnostic(
      grpc::CallbackServerContext* context,
      const medic::v1::RunDiagnosticRequest* request) override;
  grpc::ServerUnaryReactor* GetDiagnosticResults(
      grpc::CallbackServerContext* context, const medic::v1::GetDiagnosticResultsRequest* request,
      medic::v1::GetDiagnosticResultsResponse* response) override;
  grpc::ServerWriteReactor<medic::v1::Event>* WatchEvents(
      grpc::CallbackServerContext* context, const medic::v1::WatchEventsRequest* request) override;

 private:
  Store& store_;
  const common::Clock& clock_;
  tickets::Tickets* const tickets_;
  diagnostics::Router* router_ = nullptr;
  diagnostics::EventBus* events_ = nullptr;
};

}  // namespace medic::collector
