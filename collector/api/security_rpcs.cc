// The technician API's administration rpcs (issue 8): API tokens, enrollment tokens, agent
// revocation and the audit log. Every one needs the admin role; every change is audited.

#include "collector/api/technician_service.h"
#include "common/status/grpc_status.h"
#include "common/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace medic::collector {

grpc::ServerUnaryReactor* TechnicianServiceImpl::CreateApiToken(
    grpc::CallbackServerContext* context, const medic::v1::CreateApiTokenRequest* request,
    medic::v1::CreateApiTokenResponse* response) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "CreateApiToken", &principal)) return reactor;
  auto created = security_->CreateApiToken(*request, principal.Describe());
  if (!created.ok()) {
    FinishAudited(context, reactor, principal, "CreateApiToken", request->name(),
                  common::ToGrpcStatus(created.status()));
    return reactor;
  }
  *response = std::move(*created);
  FinishAudited(
      context, reactor, principal, "CreateApiToken", response->token().id(), grpc::Status::OK,
      common::StrCat("for ", request->name(), " as ", medic::v1::Role_Name(request->role())));
  return reactor;
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::ListApiTokens(
    grpc::CallbackServerContext* context, const medic::v1::ListApiTokensRequest*,
    medic::v1::ListApiTokensResponse* response) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "ListApiTokens", &principal)) return reactor;
  auto listed = security_->ListApiTokens();
  if (!listed.ok()) {
    reactor->Finish(common::ToGrpcStatus(listed.status()));
    return reactor;
  }
  *response = std::move(*listed);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::RevokeApiToken(
    grpc::CallbackServerContext* context, const medic::v1::RevokeApiTokenRequest* request,
    medic::v1::RevokeTokenResponse*) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "RevokeApiToken", &principal)) return reactor;
  FinishAudited(context, reactor, principal, "RevokeApiToken", request->id(),
                common::ToGrpcStatus(security_->RevokeApiToken(request->id())));
  return reactor;
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::CreateEnrollmentToken(
    grpc::CallbackServerContext* context, const medic::v1::CreateEnrollmentTokenRequest* request,
    medic::v1::CreateEnrollmentTokenResponse* response) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "CreateEnrollmentToken", &principal)) return reactor;
  auto created = security_->CreateEnrollmentToken(*request, principal.Describe());
  if (!created.ok()) {
    FinishAudited(context, reactor, principal, "CreateEnrollmentToken", request->name(),
                  common::ToGrpcStatus(created.status()));
    return reactor;
  }
  *response = std::move(*created);
  FinishAudited(context, reactor, principal, "CreateEnrollmentToken", response->token().id(),
                grpc::Status::OK,
                common::StrCat("'", request->name(), "', max uses ", request->max_uses()));
  return reactor;
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::ListEnrollmentTokens(
    grpc::CallbackServerContext* context, const medic::v1::ListEnrollmentTokensRequest*,
    medic::v1::ListEnrollmentTokensResponse* response) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "ListEnrollmentTokens", &principal)) return reactor;
  auto listed = security_->ListEnrollmentTokens();
  if (!listed.ok()) {
    reactor->Finish(common::ToGrpcStatus(listed.status()));
    return reactor;
  }
  *response = std::move(*listed);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::RevokeEnrollmentToken(
    grpc::CallbackServerContext* context, const medic::v1::RevokeEnrollmentTokenRequest* request,
    medic::v1::RevokeTokenResponse*) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "RevokeEnrollmentToken", &principal)) return reactor;
  FinishAudited(context, reactor, principal, "RevokeEnrollmentToken", request->id(),
                common::ToGrpcStatus(security_->RevokeEnrollmentToken(request->id())));
  return reactor;
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::RevokeAgent(
    grpc::CallbackServerContext* context, const medic::v1::RevokeAgentRequest* request,
    medic::v1::RevokeAgentResponse* response) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "RevokeAgent", &principal)) return reactor;
  if (request->host().empty()) {
    FinishAudited(context, reactor, principal, "RevokeAgent", "",
                  grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no host given"));
    return reactor;
  }
  auto health = store_.GetMachineHealth(request->host(), clock_.Now());
  if (!health.ok()) {
    FinishAudited(context, reactor, principal, "RevokeAgent", request->host(),
                  common::ToGrpcStatus(health.status()));
    return reactor;
  }
  const std::string machine_id = health->machine().machine_id();
  auto revoked = security_->RevokeMachine(machine_id, clock_.Now());
  if (!revoked.ok()) {
    FinishAudited(context, reactor, principal, "RevokeAgent", machine_id,
                  common::ToGrpcStatus(revoked.status()));
    return reactor;
  }
  response->set_machine_id(machine_id);
  response->set_hostname(health->machine().hostname());
  response->set_certificates_revoked(static_cast<uint32_t>(*revoked));
  // After the revocation is stored: a reconnect that races the cut is refused already.
  response->set_stream_cut(cut_stream_ && cut_stream_(machine_id));
  spdlog::warn("{} revoked the certificates of {} ({}): {} revoked, live stream {}",
               principal.Describe(), health->machine().hostname(), machine_id, *revoked,
               response->stream_cut() ? "cut" : "none");
  FinishAudited(
      context, reactor, principal, "RevokeAgent", machine_id, grpc::Status::OK,
      common::StrCat(health->machine().hostname(), ": ", *revoked, " certificates revoked",
                     request->reason().empty() ? "" : "; reason: ", request->reason()));
  return reactor;
}

grpc::ServerUnaryReactor* TechnicianServiceImpl::ListAudit(
    grpc::CallbackServerContext* context, const medic::v1::ListAuditRequest* request,
    medic::v1::ListAuditResponse* response) {
  auto* reactor = context->DefaultReactor();
  Principal principal;
  if (!Authorize(context, reactor, "ListAudit", &principal)) return reactor;
  auto listed = security_->ListAudit(*request);
  if (!listed.ok()) {
    reactor->Finish(common::ToGrpcStatus(listed.status()));
    return reactor;
  }
  *response = std::move(*listed);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace medic::collector
