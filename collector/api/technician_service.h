#pragma once

#include <functional>

#include "collector/diagnostics/event_bus.h"
#include "collector/diagnostics/router.h"
#include "collector/policy/policy_hub.h"
#include "collector/security/security.h"
#include "collector/store/store.h"
#include "collector/tickets/tickets.h"
#include "common/metrics/metrics.h"
#include "common/time/clock.h"
#include "medic/v1/technician.grpc.pb.h"

namespace medic::collector {

// Serves the technician API from the store. Methods later issues fill in (tickets,
// incidents, diagnostics, events) answer UNIMPLEMENTED until then.
class TechnicianServiceImpl final : public medic::v1::TechnicianService::CallbackService {
 public:
  // `tickets` (not owned) takes ticket updates; without it UpdateTicket is UNIMPLEMENTED.
  // `security` (not owned) authenticates every call and keeps the audit log; without it every
  // call is refused (UNAUTHENTICATED).
  TechnicianServiceImpl(Store& store, const common::Clock& clock,
                        tickets::Tickets* tickets = nullptr, Security* security = nullptr)
      : store_(store), clock_(clock), tickets_(tickets), security_(security) {}

  // Ends the live stream of a machine (after its certificates were revoked); true when there
  // was one. Set once, before serving.
  void SetStreamCutter(std::function<bool(const std::string& machine_id)> cut) {
    cut_stream_ = std::move(cut);
  }

  // Live diagnostics and the event stream (not owned; set before serving). Without them
  // RunDiagnostic, GetDiagnosticResults and WatchEvents are UNIMPLEMENTED.
  void SetLive(diagnostics::Router* router, diagnostics::EventBus* events) {
    router_ = router;
    events_ = events;
  }
  // /metrics: each diagnostic result's time from request to arrival, by check and outcome.
  // Not owned; may stay null.
  void SetDiagnosticLatency(common::metrics::HistogramFamily* latency) {
    diagnostic_latency_ = latency;
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

  // --- identity (issue 8): admin rpcs, in security_rpcs.cc ---
  grpc::ServerUnaryReactor* CreateApiToken(grpc::CallbackServerContext* context,
                                           const medic::v1::CreateApiTokenRequest* request,
                                           medic::v1::CreateApiTokenResponse* response) override;
  grpc::ServerUnaryReactor* ListApiTokens(grpc::CallbackServerContext* context,
                                          const medic::v1::ListApiTokensRequest* request,
                                          medic::v1::ListApiTokensResponse* response) override;
  grpc::ServerUnaryReactor* RevokeApiToken(grpc::CallbackServerContext* context,
                                           const medic::v1::RevokeApiTokenRequest* request,
                                           medic::v1::RevokeTokenResponse* response) override;
  grpc::ServerUnaryReactor* CreateEnrollmentToken(
      grpc::CallbackServerContext* context, const medic::v1::CreateEnrollmentTokenRequest* request,
      medic::v1::CreateEnrollmentTokenResponse* response) override;
  grpc::ServerUnaryReactor* ListEnrollmentTokens(
      grpc::CallbackServerContext* context, const medic::v1::ListEnrollmentTokensRequest* request,
      medic::v1::ListEnrollmentTokensResponse* response) override;
  grpc::ServerUnaryReactor* RevokeEnrollmentToken(
      grpc::CallbackServerContext* context, const medic::v1::RevokeEnrollmentTokenRequest* request,
      medic::v1::RevokeTokenResponse* response) override;
  grpc::ServerUnaryReactor* RevokeAgent(grpc::CallbackServerContext* context,
                                        const medic::v1::RevokeAgentRequest* request,
                                        medic::v1::RevokeAgentResponse* response) override;
  grpc::ServerUnaryReactor* ListAudit(grpc::CallbackServerContext* context,
                                      const medic::v1::ListAuditRequest* request,
                                      medic::v1::ListAuditResponse* response) override;
  // Web console (issue 7).
  grpc::ServerUnaryReactor* GetMachineHistory(grpc::CallbackServerContext* context,
                                              const medic::v1::GetMachineHistoryRequest* request,
                                              medic::v1::MachineHistory* response) override;

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
  // Authenticates the call and checks the role `method` needs (see RequiredRole). On refusal,
  // finishes the reactor and returns false.
  bool Authorize(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
                 std::string_view method, Principal* principal);
  // The same check for a streaming call: OK, or the status to end it with.
  grpc::Status CheckStreamingCall(grpc::CallbackServerContext* context, std::string_view method,
                                  Principal* principal);
  // Writes the audit entry of a state-changing call and finishes it with `status`.
  void FinishAudited(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
                     const Principal& principal, std::string_view method, std::string_view target,
                     const grpc::Status& status, std::string_view details = "");
  // Fills Machine.identity_alert from the security tables.
  void AddIdentityAlert(medic::v1::Machine* machine);

  PolicyHub* policy_ = nullptr;
  Store& store_;
  const common::Clock& clock_;
  tickets::Tickets* const tickets_;
  Security* const security_;
  std::function<bool(const std::string&)> cut_stream_;
  diagnostics::Router* router_ = nullptr;
  diagnostics::EventBus* events_ = nullptr;
  common::metrics::HistogramFamily* diagnostic_latency_ = nullptr;
};

}  // namespace medic::collector
