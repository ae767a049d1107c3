#pragma once

// The collector's security: its CA and TLS credentials, agent enrollment and identity,
// technician tokens and roles, and the audit log. Tokens, issued certificates, revocations,
// identity alerts and the audit log live in the collector's store (its SQLite file, or the
// PostgreSQL database every replica shares); the CA, the server certificate and their keys
// are files of mode 0600 in the security state dir (or the organisation's CA files).

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/store/store.h"
#include "common/time/clock.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_context.h"
#include "medic/v1/config.pb.h"
#include "medic/v1/security.pb.h"

namespace medic::collector {

// The role each TechnicianService rpc needs, by method name ("ListMachines"). nullopt for a
// method nobody has given a role: such a call is refused (fail closed).
//
//   viewer      ListMachines GetMachineHealth ListIncidents ListTickets GetTicket WatchEvents
//               GetMachineHistory
//   technician  RunDiagnostic UpdateTicket GetDiagnosticResults
//   admin       CreateApiToken ListApiTokens RevokeApiToken CreateEnrollmentToken
//               ListEnrollmentTokens RevokeEnrollmentToken RevokeAgent ListAudit, policy rpcs
std::optional<medic::v1::Role> RequiredRole(std::string_view method);

// Who made a technician call.
struct Principal {
  std::string token_id;  // "tok-3"; "" in insecure mode
  std::string name;
  medic::v1::Role role = medic::v1::ROLE_UNSPECIFIED;
  std::string Describe() const;
};

// The identity of an agent connection, from its verified client certificate.
struct AgentIdentity {
  std::string machine_id;  // the certificate's subject CN
  std::string serial;
};

class Security {
 public:
  // Loads or creates the CA, the server certificate (for `listen_host`) and the first admin
  // token; keeps tokens, certificates and the audit log in `store` (not owned; outlives this).
  // Files go to config.state_dir, or `default_state_dir` when it is unset. With `insecure`,
  // no TLS and no technician authentication: every caller acts as admin "insecure-mode",
  // agents are trusted by their hello.
  static absl::StatusOr<std::unique_ptr<Security>> Open(const medic::v1::SecurityConfig& config,
                                                        Store& store,
                                                        const std::string& default_state_dir,
                                                        const std::string& listen_host,
                                                        const common::Clock& clock, bool insecure);

  bool insecure() const { return insecure_; }
  // TLS 1.2+ with an optional client certificate, verified against the CA when presented.
  std::shared_ptr<grpc::ServerCredentials> ServerCredentials() const;
  const std::string& ca_pem() const { return ca_pem_; }
  // The server's certificate (for listen_host and server_names) and key, PEM; empty when
  // insecure. The web console serves HTTPS with them.
  const std::string& server_cert_pem() const { return server_cert_pem_; }
  const std::string& server_key_pem() const { return server_key_pem_; }
  const std::string& admin_token_file() const { return admin_token_file_; }
  const std::string& ca_file() const { return ca_file_; }  // what agents pin

  // --- technicians ---
  // Authenticates the call's `authorization: Bearer …` metadata and checks the method's role.
  // UNAUTHENTICATED without a valid token, PERMISSION_DENIED when the role is too low; a
  // refusal is audited.
  grpc::Status Authorize(const grpc::ServerContextBase& context, std::string_view method,
                         Principal* principal);
  absl::StatusOr<medic::v1::CreateApiTokenResponse> CreateApiToken(
      const medic::v1::CreateApiTokenRequest& request, const std::string& created_by);
  absl::StatusOr<medic::v1::ListApiTokensResponse> ListApiTokens();
  absl::Status RevokeApiToken(const std::string& id);
  absl::StatusOr<medic::v1::CreateEnrollmentTokenResponse> CreateEnrollmentToken(
      const medic::v1::CreateEnrollmentTokenRequest& request, const std::string& created_by);
  absl::StatusOr<medic::v1::ListEnrollmentTokensResponse> ListEnrollmentTokens();
  absl::Status RevokeEnrollmentToken(const std::string& id);

  // --- agents ---
  // Checks the token (and the peer's rate), signs the CSR. Audited either way.
  grpc::Status Enroll(const medic::v1::EnrollRequest& request, const std::string& peer,
                      medic::v1::EnrollResponse* response);
  grpc::Status Renew(const AgentIdentity& identity, const medic::v1::RenewRequest& request,
                     const std::string& peer, medic::v1::EnrollResponse* response);
  // The verified client certificate of a call, refused when absent or revoked
  // (UNAUTHENTICATED / PERMISSION_DENIED). In insecure mode returns an empty identity.
  absl::StatusOr<AgentIdentity> IdentifyAgent(const grpc::ServerContextBase& context);
  // Revokes every certificate of `machine_id`; returns how many.
  absl::StatusOr<int> RevokeMachine(const std::string& machine_id, absl::Time now);
  // Marks a machine for technicians (Machine.identity_alert) and audits it.
  void FlagIdentity(const std::string& machine_id, const std::string& alert,
                    const std::string& peer);
  // The alert for a machine, if any: (text, when).
  std::optional<std::pair<std::string, absl::Time>> IdentityAlert(const std::string& machine_id);

  // --- audit ---
  void Audit(const Principal& who, std::string_view action, std::string_view target,
             const grpc::Status& result, std::string_view details, std::string_view peer);
  void AuditAgent(std::string_view actor, std::string_view action, std::string_view target,
                  const grpc::Status& result, std::string_view details, std::string_view peer);
  absl::StatusOr<medic::v1::ListAuditResponse> ListAudit(
      const medic::v1::ListAuditRequest& request);

 private:
  Security(const medic::v1::SecurityConfig& config, Store& store, const common::Clock& clock,
           bool insecure)
      : config_(config), store_(store), clock_(clock), insecure_(insecure) {}
  absl::Status LoadOrCreateCa(const std::string& dir);
  absl::Status LoadOrCreateServerCert(const std::string& dir, const std::string& listen_host);
  absl::Status CreateFirstAdminToken(const std::string& dir);
  absl::StatusOr<Principal> Authenticate(const grpc::ServerContextBase& context);
  // Counts a failed enrollment of `peer_host`; true when it is over the limit.
  bool EnrollLimited(const std::string& peer_host, bool count) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Signs the CSR and keeps the certificate (Store::AddCertificate: an enrollment with
  // `enrollment_token` > 0 counts its use; a renewal names the serial it `renews`).
  absl::StatusOr<std::string> Sign(const std::string& csr_pem, const std::string& machine_id,
                                   const std::string& hostname, absl::Time now,
                                   int64_t enrollment_token, std::string_view renews = {});
  void AuditEntry(std::string_view actor, medic::v1::Role role, std::string_view action,
                  std::string_view target, const grpc::Status& result, std::string_view details,
                  std::string_view peer);

  const medic::v1::SecurityConfig config_;
  Store& store_;
  const common::Clock& clock_;
  const bool insecure_;
  std::string ca_pem_;
  std::string ca_key_pem_;
  std::string server_cert_pem_;
  std::string server_key_pem_;
  std::string admin_token_file_;
  std::string ca_file_;

  std::mutex mu_;
  // Failed enrollment attempts per peer host within the current minute.
  std::map<std::string, std::pair<absl::Time, uint32_t>> enroll_failures_ ABSL_GUARDED_BY(mu_);
};

}  // namespace medic::collector
