#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "medic/v1/agent.pb.h"
#include "medic/v1/diagnostics.pb.h"
#include "medic/v1/fleet.pb.h"
#include "medic/v1/policy.pb.h"
#include "medic/v1/security.pb.h"
#include "medic/v1/technician.pb.h"

namespace medic::collector {

// How many audit entries a ListAudit request asks for: its limit, 100 when unset, at most 10,000.
inline int64_t AuditLimit(const medic::v1::ListAuditRequest& request) {
  return request.limit() > 0 ? std::min<int64_t>(request.limit(), 10000) : 100;
}

struct StoreOptions {
  // A connected machine with no message for this long is shown offline.
  absl::Duration offline_after = absl::Seconds(45);
  // Which collector replica this process is, when several share one PostgreSQL database:
  // ResetConnections at start-up disconnects only the machines this replica had. Keep it the
  // same across restarts of one replica (SQLite ignores it).
  std::string replica;
};

// The fleet's state: machines, their latest probe reports, findings (standing and cleared)
// and a history of observations. Every method is one transaction: it commits entirely or not
// at all. Implementations are thread-safe.
class Store {
 public:
  virtual ~Store() = default;

  // An agent's stream said hello: creates or updates the machine (hostname, version,
  // labels, peer) and marks it connected under a new session number. `resume_after` is the
  // highest sequence of `hello.epoch()` already committed (0 for an epoch the store has not
  // seen), from which the agent resends.
  struct Session {
    uint64_t resume_after = 0;
    int64_t id = 0;  // for CloseSession: only the latest session may disconnect the machine
  };
  virtual absl::StatusOr<Session> OpenSession(const medic::v1::Hello& hello, std::string_view peer,
                                              absl::Time now) = 0;

  // Commits one sequenced record (snapshot, delta, topology) from `machine_id`'s `epoch`.
  // A record at or below the committed sequence is a resend and is skipped (still OK), so a
  // record is stored exactly once. Returns after the data is durable.
  virtual absl::Status Commit(std::string_view machine_id, uint64_t epoch,
                              const medic::v1::AgentMessage& record, absl::Time now) = 0;

  // Group commit: many records, from any machines, in one transaction, each as Commit would
  // take it. A record Commit would refuse (FailedPrecondition) is refused alone; when the
  // transaction itself fails (a full or failing disk) every record fails with its status and
  // nothing is stored. Returns one status per record, in order; OK ones are durable.
  struct PendingRecord {
    std::string machine_id;
    uint64_t epoch = 0;
    const medic::v1::AgentMessage* record = nullptr;  // not owned
    absl::Time now;
  };
  virtual std::vector<absl::Status> CommitBatch(const std::vector<PendingRecord>& batch) {
    std::vector<absl::Status> results;
    for (const auto& r : batch) results.push_back(Commit(r.machine_id, r.epoch, *r.record, r.now));
    return results;
  }

  // Any message (a heartbeat) shows the machine alive at `now`.
  virtual absl::Status Touch(std::string_view machine_id, absl::Time now) = 0;

  // The stream of `session` closed. Marks the machine disconnected unless a newer session
  // has opened meanwhile (a reconnect racing the old stream's end).
  virtual absl::Status CloseSession(std::string_view machine_id, int64_t session,
                                    absl::Time now) = 0;

  // Marks every machine disconnected: at start-up, the streams of a previous process are gone.
  virtual absl::Status ResetConnections() = 0;

  // Machines matching `request`, sorted by hostname.
  virtual absl::StatusOr<std::vector<medic::v1::Machine>> ListMachines(
      const medic::v1::ListMachinesRequest& request, absl::Time now) = 0;

  // Everything known about the machine whose hostname or machine id is `host`. NotFound when
  // there is none; FailedPrecondition, listing the ids, when several machines share the name.
  virtual absl::StatusOr<medic::v1::MachineHealth> GetMachineHealth(std::string_view host,
                                                                    absl::Time now) = 0;

  // Deletes observation history older than `cutoff` (whole reports, collected before it),
  // findings cleared before it, outbox events delivered before it and delivery-ledger rows
  // committed before it. Returns the number of rows deleted.
  virtual absl::StatusOr<int64_t> PruneHistory(absl::Time cutoff) = 0;

  // --- Incidents, tickets and their outbound events ---

  // One event for an outside system, delivered at least once (the outbox).
  struct OutboxEvent {
    std::string idempotency_key;  // unique per ticket event: "MED-3:2:update"
    std::string ticket_id;
    std::string kind;     // create, update, reopen, close
    std::string target;   // webhook, helpdesk
    std::string payload;  // JSON
  };
  struct OutboxItem {
    int64_t id = 0;
    OutboxEvent event;
    int attempts = 0;
  };

  // Stores the incident and (when not null) its ticket, and queues `outbox`, in one
  // transaction. An outbox event whose target and key are queued already is skipped.
  virtual absl::Status SaveIncident(const medic::v1::Incident& incident,
                                    const medic::v1::Ticket* ticket,
                                    const std::vector<OutboxEvent>& outbox) = 0;
  virtual absl::Status SaveTicket(const medic::v1::Ticket& ticket,
                                  const std::vector<OutboxEvent>& outbox) = 0;
  // Oldest first.
  virtual absl::StatusOr<std::vector<medic::v1::Incident>> ListIncidents(bool include_resolved) = 0;
  // Newest first; TICKET_STATE_UNSPECIFIED lists every state.
  virtual absl::StatusOr<std::vector<medic::v1::Ticket>> ListTickets(
      medic::v1::TicketState state) = 0;
  // By ticket id or incident id. NotFound names the id.
  virtual absl::StatusOr<medic::v1::Ticket> GetTicket(std::string_view id) = 0;
  // The highest n of the stored incident ids "I-<n>"; 0 when there is none.
  virtual absl::StatusOr<int64_t> HighestIncidentNumber() = 0;

  // What the fault engine needs after a restart: each machine with its topology and standing
  // findings.
  struct KnownMachine {
    std::string machine_id;
    std::string hostname;
    std::vector<std::string> labels;
    medic::v1::Topology topology;
    absl::Time last_seen;
    std::vector<medic::v1::Finding> standing;
  };
  virtual absl::StatusOr<std::vector<KnownMachine>> KnownMachines() = 0;

  // Up to `limit` outbox events due at `now`: for each ticket and target only the oldest
  // undelivered one, so a helpdesk sees create before update before close.
  virtual absl::StatusOr<std::vector<OutboxItem>> DueOutbox(absl::Time now, int limit) = 0;
  // Delivered. A non-empty `external_ref` (the helpdesk's id for a create) is kept on the
  // ticket.
  virtual absl::Status OutboxDelivered(int64_t id, absl::Time now,
                                       std::string_view external_ref) = 0;
  // Failed for now: tried again at `next`.
  virtual absl::Status OutboxRetry(int64_t id, absl::Time next, std::string_view error) = 0;
  // Refused for good (a 4xx): never tried again.
  virtual absl::Status OutboxGiveUp(int64_t id, std::string_view error) = 0;
  // Events not yet delivered or given up.
  virtual absl::StatusOr<int64_t> OutboxPending() = 0;

  // --- Live diagnostics queued for machines that were offline (issue 7) ---
  // Not pure: a store without them (a test double) answers Unimplemented.

  // One machine's part of a diagnostic run that was queued for it.
  struct QueuedDiagnostic {
    std::string run_id;  // "D-…", what `medic diagnose --results` takes
    std::string machine_id;
    std::string hostname;
    medic::v1::DiagnosticRequest request;  // as it will be sent to the agent
    absl::Time queued_until;
    bool sent = false;  // handed to the agent; the result may still be on its way
    std::optional<medic::v1::DiagnosticResult> result;
  };
  // Keeps `queued` (replacing one of the same run and machine).
  virtual absl::Status QueueDiagnostic(const QueuedDiagnostic& queued);
  // The requests still queued for `machine_id` at `now`, oldest first, marked sent.
  virtual absl::StatusOr<std::vector<QueuedDiagnostic>> TakeQueuedDiagnostics(
      std::string_view machine_id, absl::Time now);
  // Keeps the result of a queued request. NotFound when no such request was queued.
  virtual absl::Status SaveQueuedResult(std::string_view run_id, std::string_view machine_id,
                                        const medic::v1::DiagnosticResult& result);
  // Every machine's part of a queued run, in queueing order; empty when there is none.
  virtual absl::StatusOr<std::vector<QueuedDiagnostic>> QueuedRun(std::string_view run_id);

  // --- Web console (issue 7) ---

  // The observation history of the machine whose hostname or machine id is `host`, from
  // `since` on, for the observation names in `metrics` (every name when empty): one series per
  // name and resource, sorted by name then resource, points oldest first. A series' unit is
  // the one of the machine's latest report of it (empty when it is no longer reported).
  // NotFound / FailedPrecondition as GetMachineHealth. Stores that keep no history (test
  // doubles) answer Unimplemented.
  virtual absl::StatusOr<medic::v1::MachineHistory> GetMachineHistory(
      std::string_view host, absl::Time since, const std::vector<std::string>& metrics) {
    return absl::UnimplementedError("this store keeps no observation history");
  }

  // --- Central policy by group (deployment issue 12) ---
  // Stores without policy support (test doubles) answer Unimplemented.

  // Every group's policy, by scope then group.
  virtual absl::StatusOr<std::vector<medic::v1::GroupPolicy>> ListPolicies() {
    return absl::UnimplementedError("this store keeps no policies");
  }
  // Creates or replaces the policy of (scope, group); one with no yaml and no canary is
  // deleted.
  virtual absl::Status SavePolicy(const medic::v1::GroupPolicy& policy) {
    return absl::UnimplementedError("this store keeps no policies");
  }
  // The policy version `machine_id` said it runs (Machine.policy_version).
  virtual absl::Status SetPolicyVersion(std::string_view machine_id, std::string_view version) {
    return absl::UnimplementedError("this store keeps no policies");
  }

  // --- Security state (issue 8), shared by every replica of one database (issue 10) ---
  // Technician API tokens, enrollment tokens (only SHA-256 hashes of their secrets), the agent
  // certificates issued and their revocations, identity alerts and the audit log. Stores
  // without them (test doubles) answer Unimplemented. Ids are the store's own (tok-<id>).

  struct ApiToken {
    int64_t id = 0;  // assigned by AddApiToken
    std::string name;
    medic::v1::Role role = medic::v1::ROLE_UNSPECIFIED;
    std::string secret_hash;  // hex SHA-256 of the secret
    absl::Time created;
    std::optional<absl::Time> expires;
    std::optional<absl::Time> revoked;
    std::string created_by;
  };
  struct EnrollmentToken {
    int64_t id = 0;  // assigned by AddEnrollmentToken
    std::string name;
    std::string secret_hash;
    absl::Time created;
    std::optional<absl::Time> expires;
    uint32_t max_uses = 0;  // 0: unlimited
    uint32_t uses = 0;
    std::optional<absl::Time> revoked;
    std::string created_by;
  };
  struct AgentCertificate {
    std::string serial;  // hex, unique
    std::string machine_id;
    std::string hostname;
    std::string fingerprint;
    absl::Time issued;
    absl::Time not_after;
    std::optional<absl::Time> revoked;
  };

  // Keeps `token` and returns its id. With `only_if_first`, keeps it only when there is no API
  // token at all (the first admin token: replicas starting together make one, not several)
  // and returns 0 otherwise. AlreadyExists when the secret hash is taken.
  virtual absl::StatusOr<int64_t> AddApiToken(const ApiToken& token, bool only_if_first = false) {
    return absl::UnimplementedError("this store keeps no security state");
  }
  // Oldest first.
  virtual absl::StatusOr<std::vector<ApiToken>> ListApiTokens() {
    return absl::UnimplementedError("this store keeps no security state");
  }
  // The token whose secret hashes to `secret_hash`, revoked or not; nullopt when none.
  virtual absl::StatusOr<std::optional<ApiToken>> FindApiToken(std::string_view secret_hash) {
    return absl::UnimplementedError("this store keeps no security state");
  }
  // Marks token `id` revoked at `now`; false when there is no unrevoked token `id`.
  virtual absl::StatusOr<bool> RevokeApiToken(int64_t id, absl::Time now) {
    return absl::UnimplementedError("this store keeps no security state");
  }
  // As for API tokens.
  virtual absl::StatusOr<int64_t> AddEnrollmentToken(const EnrollmentToken& token) {
    return absl::UnimplementedError("this store keeps no security state");
  }
  virtual absl::StatusOr<std::vector<EnrollmentToken>> ListEnrollmentTokens() {
    return absl::UnimplementedError("this store keeps no security state");
  }
  virtual absl::StatusOr<std::optional<EnrollmentToken>> FindEnrollmentToken(
      std::string_view secret_hash) {
    return absl::UnimplementedError("this store keeps no security state");
  }
  virtual absl::StatusOr<bool> RevokeEnrollmentToken(int64_t id, absl::Time now) {
    return absl::UnimplementedError("this store keeps no security state");
  }

  // Keeps an issued certificate, checked in the same transaction against what other callers
  // and replicas did meanwhile (nothing is kept when refused):
  // - an enrollment (`enrollment_token` > 0) counts one use of that token; FailedPrecondition
  //   when the token was revoked or used up, AlreadyExists when the machine holds a live
  //   certificate (one live certificate per machine id: a token must not take over a machine);
  // - a renewal (`renews`: the serial being renewed) is FailedPrecondition when that serial
  //   was revoked.
  // Serialised per machine id with RevokeCertificates, so a revocation never misses a
  // certificate issued at the same moment.
  virtual absl::Status AddCertificate(const AgentCertificate& certificate,
                                      int64_t enrollment_token = 0, std::string_view renews = {}) {
    return absl::UnimplementedError("this store keeps no security state");
  }
  // The certificate of `serial`; nullopt when it was not issued here.
  virtual absl::StatusOr<std::optional<AgentCertificate>> FindCertificate(std::string_view serial) {
    return absl::UnimplementedError("this store keeps no security state");
  }
  // Whether `machine_id` holds an unrevoked certificate valid at `now`.
  virtual absl::StatusOr<bool> HasLiveCertificate(std::string_view machine_id, absl::Time now) {
    return absl::UnimplementedError("this store keeps no security state");
  }
  // Revokes every unrevoked certificate of `machine_id` at `now`; returns how many.
  virtual absl::StatusOr<int> RevokeCertificates(std::string_view machine_id, absl::Time now) {
    return absl::UnimplementedError("this store keeps no security state");
  }
  // Certificates revoked at or after `since` (by any replica), oldest revocation first.
  virtual absl::StatusOr<std::vector<AgentCertificate>> CertificatesRevokedSince(absl::Time since) {
    return absl::UnimplementedError("this store keeps no security state");
  }
  // Every certificate issued, in order of issue.
  virtual absl::StatusOr<std::vector<AgentCertificate>> ListCertificates() {
    return absl::UnimplementedError("this store keeps no security state");
  }

  // Sets (replaces) the identity alert of `machine_id`.
  virtual absl::Status SetIdentityAlert(std::string_view machine_id, std::string_view alert,
                                        absl::Time at) {
    return absl::UnimplementedError("this store keeps no security state");
  }
  struct IdentityAlert {
    std::string machine_id;
    std::string alert;
    absl::Time at;
  };
  // The alert of `machine_id`; nullopt when it has none.
  virtual absl::StatusOr<std::optional<IdentityAlert>> GetIdentityAlert(
      std::string_view machine_id) {
    return absl::UnimplementedError("this store keeps no security state");
  }
  virtual absl::StatusOr<std::vector<IdentityAlert>> ListIdentityAlerts() {
    return absl::UnimplementedError("this store keeps no security state");
  }

  // Appends one entry to the audit log (its id is assigned; `entry.id` is ignored).
  virtual absl::Status AppendAudit(const medic::v1::AuditEntry& entry) {
    return absl::UnimplementedError("this store keeps no security state");
  }
  // Entries matching `request` (actor and target: substrings; action: exact; since), newest
  // first, at most request.limit (100 when 0, 10,000 at most).
  virtual absl::StatusOr<std::vector<medic::v1::AuditEntry>> ListAudit(
      const medic::v1::ListAuditRequest& request) {
    return absl::UnimplementedError("this store keeps no security state");
  }

  // Everything of the above, to move it from one store into another.
  struct SecurityState {
    std::vector<ApiToken> api_tokens;
    std::vector<EnrollmentToken> enrollment_tokens;
    std::vector<AgentCertificate> certificates;
    std::vector<IdentityAlert> identity_alerts;
    std::vector<medic::v1::AuditEntry> audit;  // oldest first
  };
  // Everything kept here, audit entries oldest first.
  virtual absl::StatusOr<SecurityState> ExportSecurityState() {
    return absl::UnimplementedError("this store keeps no security state");
  }
  // Adds `state` in one transaction, skipping what is here already (a token by its secret
  // hash, a certificate by its serial, an audit entry equal in every field but its id), so a
  // repeated import adds nothing. Tokens get new ids. Returns what was added.
  virtual absl::StatusOr<SecurityState> ImportSecurityState(const SecurityState& state) {
    return absl::UnimplementedError("this store keeps no security state");
  }
};

// The embedded store: one SQLite file in WAL mode (":memory:" for tests). Creates the schema
// on a new file and migrates an older one; refuses a file whose schema is newer than this
// program's, or that is not a Medic database, naming the file.
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path,
                                                       const StoreOptions& options);

// The shared store for several collector replicas: a PostgreSQL database named by a
// postgresql:// URI, reached through a pool of `pool_size` connections (reconnected when lost).
// Creates the schema in an empty database and migrates an older one, one replica at a time;
// refuses a database with other tables or a newer schema, naming the server.
absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& uri,
                                                         const StoreOptions& options,
                                                         int pool_size = 4);

}  // namespace medic::collector
