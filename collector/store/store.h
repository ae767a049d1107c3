#pragma once

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
#include "medic/v1/technician.pb.h"

namespace medic::collector {

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
