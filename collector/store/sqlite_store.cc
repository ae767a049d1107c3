#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "collector/store/report_history.h"
#include "collector/store/sqlite_db.h"
#include "collector/store/store.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"

namespace medic::collector {
namespace {

using medic::v1::Finding;
using medic::v1::ProbeReport;

absl::Status ConvertObservationsToReportHistory(SqliteDb& db);

// One schema migration: SQL, and for what SQL cannot express (re-encoding rows) a step in C++
// run after it in the same transaction.
struct Migration {
  // Implicit: most migrations are SQL alone, written as a plain string.
  constexpr Migration(const char* sql) : sql(sql) {}  // NOLINT(google-explicit-constructor)
  constexpr Migration(const char* sql, absl::Status (*step)(SqliteDb&)) : sql(sql), step(step) {}
  std::string_view sql;
  absl::Status (*step)(SqliteDb&) = nullptr;
};

// Schema migrations, oldest first. Migration i brings PRAGMA user_version from i to i + 1.
// Never edit a released migration; add a new one.
constexpr Migration kMigrations[] = {
    R"sql(
CREATE TABLE machines (
  machine_id TEXT PRIMARY KEY,
  hostname TEXT NOT NULL,
  agent_version TEXT NOT NULL DEFAULT '',
  os TEXT NOT NULL DEFAULT '',
  site TEXT NOT NULL DEFAULT '',
  labels TEXT NOT NULL DEFAULT '',
  peer TEXT NOT NULL DEFAULT '',
  first_seen_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL,
  connected INTEGER NOT NULL DEFAULT 0,
  epoch INTEGER NOT NULL DEFAULT 0,
  committed_sequence INTEGER NOT NULL DEFAULT 0,
  topology BLOB
);
CREATE INDEX machines_by_hostname ON machines(hostname);

CREATE TABLE probe_reports (
  machine_id TEXT NOT NULL REFERENCES machines(machine_id) ON DELETE CASCADE,
  probe TEXT NOT NULL,
  collected_at_ms INTEGER NOT NULL,
  report BLOB NOT NULL,
  PRIMARY KEY (machine_id, probe)
) WITHOUT ROWID;

CREATE TABLE findings (
  id INTEGER PRIMARY KEY,
  machine_id TEXT NOT NULL REFERENCES machines(machine_id) ON DELETE CASCADE,
  code TEXT NOT NULL,
  resource TEXT NOT NULL,
  severity INTEGER NOT NULL,
  raised_at_ms INTEGER NOT NULL,
  cleared_at_ms INTEGER,
  finding BLOB NOT NULL
);
CREATE UNIQUE INDEX findings_standing ON findings(machine_id, code, resource)
  WHERE cleared_at_ms IS NULL;
CREATE INDEX findings_by_code ON findings(code) WHERE cleared_at_ms IS NULL;

CREATE TABLE observations (
  machine_id TEXT NOT NULL REFERENCES machines(machine_id) ON DELETE CASCADE,
  metric TEXT NOT NULL,
  resource TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  value REAL NOT NULL
);
CREATE INDEX observations_by_series ON observations(machine_id, metric, resource, at_ms);
CREATE INDEX observations_by_time ON observations(at_ms);
)sql",
    // 2: session numbers, so a closing stream cannot disconnect a newer one.
    R"sql(
ALTER TABLE machines ADD COLUMN session INTEGER NOT NULL DEFAULT 0;
)sql",
    // 3: incidents, their tickets, and the outbox of ticket events for outside systems.
    R"sql(
CREATE TABLE incidents (
  incident_id TEXT PRIMARY KEY,
  number INTEGER NOT NULL,
  resolved INTEGER NOT NULL,
  incident BLOB NOT NULL
);
CREATE TABLE tickets (
  ticket_id TEXT PRIMARY KEY,
  incident_id TEXT NOT NULL UNIQUE,
  number INTEGER NOT NULL,
  state INTEGER NOT NULL,
  ticket BLOB NOT NULL
);
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY,
  idempotency_key TEXT NOT NULL,
  ticket_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  target TEXT NOT NULL,
  payload TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL DEFAULT 0,
  delivered_at_ms INTEGER,
  gave_up INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX outbox_by_key ON outbox(target, idempotency_key);
CREATE INDEX outbox_undelivered ON outbox(ticket_id, target, id)
  WHERE delivered_at_ms IS NULL AND gave_up = 0;
)sql",
    // Security (issue 8): technician API tokens and enrollment tokens (only SHA-256 hashes of
    // the secrets), the agent certificates issued, identity alerts and the audit log.
    R"sql(
CREATE TABLE api_tokens (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  role INTEGER NOT NULL,
  secret_hash TEXT NOT NULL UNIQUE,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER,
  revoked_ms INTEGER,
  created_by TEXT NOT NULL DEFAULT ''
);
CREATE TABLE enrollment_tokens (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  secret_hash TEXT NOT NULL UNIQUE,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER,
  max_uses INTEGER NOT NULL DEFAULT 0,
  uses INTEGER NOT NULL DEFAULT 0,
  revoked_ms INTEGER,
  created_by TEXT NOT NULL DEFAULT ''
);
CREATE TABLE agent_certificates (
  serial TEXT PRIMARY KEY,
  machine_id TEXT NOT NULL,
  hostname TEXT NOT NULL DEFAULT '',
  fingerprint TEXT NOT NULL,
  issued_ms INTEGER NOT NULL,
  not_after_ms INTEGER NOT NULL,
  revoked_ms INTEGER
);
CREATE INDEX agent_certificates_by_machine ON agent_certificates(machine_id);
CREATE TABLE identity_alerts (
  machine_id TEXT PRIMARY KEY,
  alert TEXT NOT NULL,
  at_ms INTEGER NOT NULL
);
CREATE TABLE audit (
  id INTEGER PRIMARY KEY,
  at_ms INTEGER NOT NULL,
  actor TEXT NOT NULL,
  role INTEGER NOT NULL DEFAULT 0,
  action TEXT NOT NULL,
  target TEXT NOT NULL DEFAULT '',
  result TEXT NOT NULL,
  details TEXT NOT NULL DEFAULT '',
  peer TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_time ON audit(at_ms);
)sql",
    // Live diagnostics queued for machines that were offline (issue 7).
    R"sql(
CREATE TABLE queued_diagnostics (
  id INTEGER PRIMARY KEY,
  run_id TEXT NOT NULL,
  machine_id TEXT NOT NULL,
  hostname TEXT NOT NULL,
  request BLOB NOT NULL,
  queued_until_ms INTEGER NOT NULL,
  sent INTEGER NOT NULL DEFAULT 0,
  result BLOB,
  UNIQUE (run_id, machine_id)
);
CREATE INDEX queued_diagnostics_waiting ON queued_diagnostics(machine_id) WHERE sent = 0;
)sql",
    // Central policy by group (deployment issue 12): each group's GroupPolicy, and the
    // version each machine last said it runs.
    R"sql(
CREATE TABLE policies (
  scope INTEGER NOT NULL,
  grp TEXT NOT NULL,
  policy BLOB NOT NULL,
  PRIMARY KEY (scope, grp)
);
ALTER TABLE machines ADD COLUMN policy_version TEXT NOT NULL DEFAULT '';
)sql",
    // delivery (issue 9): one row per committed record, so what arrived, and what an agent
    // said it dropped (gap rows carry the dropped sequences), can be audited per epoch. Not
    // unique on purpose: a duplicate would show as a second row rather than be hidden.
    R"sql(
CREATE TABLE delivered (
  machine_id TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  sequence INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  at_ms INTEGER NOT NULL,  -- committed
  sent_ms INTEGER NOT NULL,  -- made by the agent
  gap BLOB
);
CREATE INDEX delivered_by_record ON delivered(machine_id, epoch, sequence);
CREATE INDEX delivered_by_time ON delivered(at_ms);
)sql",
    // Observation history (issue 11): one row per probe report, its observations encoded in
    // `points` (medic.v1.ReportPoints), instead of one row per observation; indexed for the two
    // reads there are, a machine's history since a time and pruning by time. The step moves the
    // rows of `observations` over and drops it.
    Migration(R"sql(
CREATE TABLE report_history (
  machine_id TEXT NOT NULL REFERENCES machines(machine_id) ON DELETE CASCADE,
  probe TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  points BLOB NOT NULL
);
CREATE INDEX report_history_by_machine ON report_history(machine_id, at_ms);
CREATE INDEX report_history_by_time ON report_history(at_ms);
)sql",
              &ConvertObservationsToReportHistory),
    // Every replica asks for the certificates revoked lately every revocation_check.
    R"sql(
CREATE INDEX agent_certificates_by_revocation ON agent_certificates(revoked_ms)
  WHERE revoked_ms IS NOT NULL;
)sql",
};

constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// The schema version just before report_history replaced observations (tests of the step).
constexpr int VersionBeforeReportHistory() {
  for (int v = 0; v < kSchemaVersion; ++v) {
    if (kMigrations[v].step == &ConvertObservationsToReportHistory) return v;
  }
  return kSchemaVersion;
}

// Reads `observations` in report order (machine, time, insertion), writes one report_history
// row per report, and drops the old table with its indexes.
absl::Status ConvertObservationsToReportHistory(SqliteDb& db) {
  ASSIGN_OR_RETURN(auto read, db.Prepare("SELECT machine_id, at_ms, metric, resource, value "
                                         "FROM observations ORDER BY machine_id, at_ms, rowid"));
  ASSIGN_OR_RETURN(auto write, db.Prepare("INSERT INTO report_history (machine_id, probe, at_ms, "
                                          "points) VALUES (?, '', ?, ?)"));
  auto put = [&](const ObservationRegrouper::Row& row) -> absl::Status {
    write->Bind(1, row.machine_id).Bind(2, row.at_ms).BindBlob(3, row.points);
    RETURN_IF_ERROR(write->Run());
    write->Reset();
    return absl::OkStatus();
  };
  ObservationRegrouper regroup;
  while (true) {
    ASSIGN_OR_RETURN(bool more, read->Step());
    if (!more) break;
    if (auto done = regroup.Add(read->ColumnText(0), read->ColumnInt(1), read->ColumnText(2),
                                read->ColumnText(3), read->ColumnDouble(4))) {
      RETURN_IF_ERROR(put(*done));
    }
  }
  if (auto last = regroup.Flush()) RETURN_IF_ERROR(put(*last));
  read.reset();
  write.reset();
  return db.Exec("DROP TABLE observations");
}

int64_t Ms(absl::Time t) { return absl::ToUnixMillis(t); }
absl::Time FromMs(int64_t ms) { return absl::FromUnixMillis(ms); }

class SqliteStore final : public Store {
 public:
  SqliteStore(std::unique_ptr<SqliteDb> db, StoreOptions options)
      : db_(std::move(db)), options_(options) {}

  // Creates or migrates the schema up to `target` (kSchemaVersion but in tests of a migration).
  absl::Status Init(int target = kSchemaVersion) {
    std::lock_guard lock(mu_);
    // The first statement on a file that is not SQLite fails here with "file is not a database".
    // Ingest dirties index pages of a thousand machines per batch: checkpointing the WAL every
    // 64 MiB rather than every 4 MiB writes each hot page back once per many batches instead of
    // once per batch (medic_bench_store_commit: about 5k -> 6.5k records/s). Every commit still
    // syncs the WAL (synchronous=FULL).
    //
    // Switching a new file to WAL needs it to itself, and SQLite answers "database is locked"
    // at once, without its busy timeout, while another connection has it open: two collectors
    // opening one new file at the same moment met that (2 runs in 100). So the switch is
    // retried for as long as the busy timeout would have waited.
    absl::Status wal = db_->Exec("PRAGMA journal_mode=WAL");
    for (const absl::Time give_up = absl::Now() + absl::Seconds(5);
         absl::IsUnavailable(wal) && absl::Now() < give_up;) {
      absl::SleepFor(absl::Milliseconds(10));
      wal = db_->Exec("PRAGMA journal_mode=WAL");
    }
    RETURN_IF_ERROR(WithHint(wal));
    RETURN_IF_ERROR(WithHint(db_->Exec(
        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=16384;")));
    // The check and every migration are one write transaction: two collectors opening one new
    // file at the same moment migrate it once (the second waits for the lock, then finds the
    // schema current), and a failed step leaves the file as it was.
    return InTransaction([&]() -> absl::Status {
      ASSIGN_OR_RETURN(int version, UserVersion());
      if (version > kSchemaVersion) {
        return absl::FailedPreconditionError(common::StrCat(
            db_->path(), " has schema version ", version, ", newer than this collector's (",
            kSchemaVersion, "); run a newer medic-collector or point --db at another file"));
      }
      if (version == 0) {
        ASSIGN_OR_RETURN(auto stmt, db_->Prepare("SELECT count(*) FROM sqlite_master"));
        ASSIGN_OR_RETURN(bool row, stmt->Step());
        if (row && stmt->ColumnInt(0) > 0) {
          return absl::FailedPreconditionError(
              common::StrCat(db_->path(),
                             " is an SQLite database but not Medic's (it has tables and no Medic "
                             "schema version); point --db at a new or existing Medic database"));
        }
      }
      for (int v = version; v < target; ++v) {
        RETURN_IF_ERROR(db_->Exec(kMigrations[v].sql));
        if (kMigrations[v].step != nullptr) RETURN_IF_ERROR(kMigrations[v].step(*db_));
        RETURN_IF_ERROR(db_->Exec(common::StrCat("PRAGMA user_version = ", v + 1)));
      }
      return absl::OkStatus();
    });
  }

  absl::StatusOr<Store::Session> OpenSession(const medic::v1::Hello& hello, std::string_view peer,
                                             absl::Time now) override {
    std::lock_guard lock(mu_);
    uint64_t resume_after = 0;
    int64_t session = 1;
    RETURN_IF_ERROR(InTransaction([&]() -> absl::Status {
      ASSIGN_OR_RETURN(auto select,
                       db_->Prepare("SELECT epoch, committed_sequence, session FROM machines "
                                    "WHERE machine_id = ?"));
      select->Bind(1, hello.machine_id());
      ASSIGN_OR_RETURN(bool exists, select->Step());
      const bool same_epoch =
          exists && static_cast<uint64_t>(select->ColumnInt(0)) == hello.epoch();
      if (same_epoch) resume_after = static_cast<uint64_t>(select->ColumnInt(1));
      if (exists) session = select->ColumnInt(2) + 1;
      ASSIGN_OR_RETURN(
          auto upsert,
          db_->Prepare(
              "INSERT INTO machines (machine_id, hostname, agent_version, labels, peer, "
              "first_seen_ms, last_seen_ms, connected, epoch, committed_sequence, session) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 1, ?7, ?8, ?9) "
              "ON CONFLICT(machine_id) DO UPDATE SET hostname = ?2, agent_version = ?3, "
              "labels = ?4, peer = ?5, last_seen_ms = ?6, connected = 1, epoch = ?7, "
              "committed_sequence = ?8, session = ?9"));
      upsert->Bind(1, hello.machine_id())
          .Bind(2, hello.hostname())
          .Bind(3, hello.agent_version())
          .Bind(4, absl::StrJoin(hello.labels(), ","))
          .Bind(5, peer)
          .Bind(6, Ms(now))
          .Bind(7, static_cast<int64_t>(hello.epoch()))
          .Bind(8, static_cast<int64_t>(resume_after))
          .Bind(9, session);
      return upsert->Run();
    }));
    return Store::Session{resume_after, session};
  }

  absl::Status Commit(std::string_view machine_id, uint64_t epoch,
                      const medic::v1::AgentMessage& record, absl::Time now) override {
    std::lock_guard lock(mu_);
    return InTransaction([&] { return CommitLocked(machine_id, epoch, record, now); });
  }

  std::vector<absl::Status> CommitBatch(const std::vector<PendingRecord>& batch) override {
    std::lock_guard lock(mu_);
    std::vector<absl::Status> results(batch.size());
    absl::Status whole = InTransaction([&]() -> absl::Status {
      for (size_t i = 0; i < batch.size(); ++i) {
        const PendingRecord& r = batch[i];
        // A savepoint per record: a record the store refuses is undone alone.
        RETURN_IF_ERROR(db_->Exec("SAVEPOINT record"));
        results[i] = CommitLocked(r.machine_id, r.epoch, *r.record, r.now);
        if (!results[i].ok()) {
          if (results[i].code() != absl::StatusCode::kFailedPrecondition) return results[i];
          RETURN_IF_ERROR(db_->Exec("ROLLBACK TO record"));
        }
        RETURN_IF_ERROR(db_->Exec("RELEASE record"));
      }
      return absl::OkStatus();
    });
    if (!whole.ok()) {
      for (auto& result : results) {
        if (result.ok() || result.code() != absl::StatusCode::kFailedPrecondition) result = whole;
      }
    }
    return results;
  }

  absl::Status CommitLocked(std::string_view machine_id, uint64_t epoch,
                            const medic::v1::AgentMessage& record, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return [&]() -> absl::Status {
      ASSIGN_OR_RETURN(auto select, db_->Prepare("SELECT epoch, committed_sequence FROM machines "
                                                 "WHERE machine_id = ?"));
      select->Bind(1, machine_id);
      ASSIGN_OR_RETURN(bool exists, select->Step());
      if (!exists) {
        return absl::FailedPreconditionError(
            common::StrCat("machine ", machine_id, " sent a record before its hello"));
      }
      if (static_cast<uint64_t>(select->ColumnInt(0)) != epoch) {
        return absl::FailedPreconditionError(
            common::StrCat("machine ", machine_id, " sent a record of epoch ", epoch,
                           " but its session is epoch ", select->ColumnInt(0)));
      }
      const uint64_t committed = static_cast<uint64_t>(select->ColumnInt(1));
      if (record.sequence() <= committed) return absl::OkStatus();  // a resend

      const absl::Time at = record.has_sent_at() ? common::FromProtoTime(record.sent_at()) : now;
      switch (record.kind_case()) {
        case medic::v1::AgentMessage::kSnapshot:
          RETURN_IF_ERROR(ApplySnapshot(machine_id, record.snapshot(), at));
          break;
        case medic::v1::AgentMessage::kDelta:
          RETURN_IF_ERROR(ApplyDelta(machine_id, record.delta(), at));
          break;
        case medic::v1::AgentMessage::kTopology:
          RETURN_IF_ERROR(SetTopology(machine_id, record.topology()));
          break;
        default:
          // Kinds this store keeps nothing of yet are still acknowledged, so they are not
          // resent forever.
          break;
      }
      ASSIGN_OR_RETURN(auto ledger,
                       db_->Prepare("INSERT INTO delivered (machine_id, epoch, sequence, kind, "
                                    "at_ms, sent_ms, gap) VALUES (?, ?, ?, ?, ?, ?, ?)"));
      ledger->Bind(1, machine_id)
          .Bind(2, static_cast<int64_t>(epoch))
          .Bind(3, static_cast<int64_t>(record.sequence()))
          .Bind(4, static_cast<int64_t>(record.kind_case()))
          .Bind(5, Ms(now))
          .Bind(6, Ms(at));
      if (record.has_gap()) ledger->Bind(7, record.gap().SerializeAsString());
      RETURN_IF_ERROR(ledger->Run());
      ASSIGN_OR_RETURN(auto update, db_->Prepare("UPDATE machines SET committed_sequence = ?, "
                                                 "last_seen_ms = ? WHERE machine_id = ?"));
      update->Bind(1, static_cast<int64_t>(record.sequence())).Bind(2, Ms(now)).Bind(3, machine_id);
      return update->Run();
    }();
  }

  absl::Status Touch(std::string_view machine_id, absl::Time now) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto update,
                     db_->Prepare("UPDATE machines SET last_seen_ms = ? WHERE machine_id = ?"));
    update->Bind(1, Ms(now)).Bind(2, machine_id);
    return update->Run();
  }

  absl::Status CloseSession(std::string_view machine_id, int64_t session, absl::Time now) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto update,
                     db_->Prepare("UPDATE machines SET connected = 0, last_seen_ms = ? "
                                  "WHERE machine_id = ? AND session = ?"));
    update->Bind(1, Ms(now)).Bind(2, machine_id).Bind(3, session);
    return update->Run();
  }

  absl::Status ResetConnections() override {
    std::lock_guard lock(mu_);
    return db_->Exec("UPDATE machines SET connected = 0 WHERE connected != 0");
  }

  absl::StatusOr<std::vector<medic::v1::Machine>> ListMachines(
      const medic::v1::ListMachinesRequest& request, absl::Time now) override {
    std::lock_guard lock(mu_);
    std::string sql = common::StrCat(kMachineColumns, " ORDER BY m.hostname, m.machine_id");
    ASSIGN_OR_RETURN(auto stmt, db_->Prepare(sql));
    std::vector<medic::v1::Machine> machines;
    const auto& selector = request.selector();
    const std::set<std::string> hosts(selector.hosts().begin(), selector.hosts().end());
    while (true) {
      ASSIGN_OR_RETURN(bool row, stmt->Step());
      if (!row) break;
      medic::v1::Topology topology;
      medic::v1::Machine machine = ReadMachine(*stmt, now, &topology);
      if (!hosts.empty() && !hosts.contains(machine.hostname()) &&
          !hosts.contains(machine.machine_id())) {
        continue;
      }
      if (!selector.site().empty() && machine.site() != selector.site()) continue;
      if (!selector.subnet().empty() &&
          std::find(topology.subnets().begin(), topology.subnets().end(), selector.subnet()) ==
              topology.subnets().end()) {
        continue;
      }
      if (request.state() != medic::v1::MACHINE_STATE_UNSPECIFIED &&
          machine.state() != request.state()) {
        continue;
      }
      machines.push_back(std::move(machine));
    }
    if (!request.finding_code().empty()) {
      ASSIGN_OR_RETURN(auto with_code, db_->Prepare("SELECT DISTINCT machine_id FROM findings "
                                                    "WHERE code = ? AND cleared_at_ms IS NULL"));
      with_code->Bind(1, request.finding_code());
      std::set<std::string> ids;
      while (true) {
        ASSIGN_OR_RETURN(bool row, with_code->Step());
        if (!row) break;
        ids.insert(with_code->ColumnText(0));
      }
      std::erase_if(machines, [&](const auto& m) { return !ids.contains(m.machine_id()); });
    }
    return machines;
  }

  absl::StatusOr<medic::v1::MachineHealth> GetMachineHealth(std::string_view host,
                                                            absl::Time now) override {
    std::lock_guard lock(mu_);
    medic::v1::MachineHealth health;
    ASSIGN_OR_RETURN(auto stmt, db_->Prepare(common::StrCat(
                                    kMachineColumns,
                                    " WHERE m.machine_id = ?1 OR m.hostname = ?1 "
                                    "ORDER BY (m.machine_id = ?1) DESC, m.last_seen_ms DESC")));
    stmt->Bind(1, host);
    std::vector<medic::v1::Machine> matches;
    std::vector<medic::v1::Topology> topologies;
    while (true) {
      ASSIGN_OR_RETURN(bool row, stmt->Step());
      if (!row) break;
      topologies.emplace_back();
      matches.push_back(ReadMachine(*stmt, now, &topologies.back()));
    }
    if (matches.empty()) {
      return absl::NotFoundError(common::StrCat("no machine named '", host, "' has reported"));
    }
    if (matches.size() > 1 && matches[0].machine_id() != host) {
      std::vector<std::string> ids;
      for (const auto& m : matches) ids.push_back(m.machine_id());
      return absl::FailedPreconditionError(
          common::StrCat(matches.size(), " machines are named '", host,
                         "'; ask for one by machine id: ", absl::StrJoin(ids, ", ")));
    }
    *health.mutable_machine() = matches[0];
    *health.mutable_topology() = topologies[0];
    const std::string& id = matches[0].machine_id();

    ASSIGN_OR_RETURN(auto reports, db_->Prepare("SELECT report FROM probe_reports "
                                                "WHERE machine_id = ? ORDER BY probe"));
    reports->Bind(1, id);
    while (true) {
      ASSIGN_OR_RETURN(bool row, reports->Step());
      if (!row) break;
      if (!health.add_reports()->ParseFromString(reports->ColumnBlob(0))) {
        return absl::DataLossError(
            common::StrCat("a stored probe report of ", host, " is corrupt"));
      }
    }
    ASSIGN_OR_RETURN(auto standing,
                     db_->Prepare("SELECT finding FROM findings WHERE machine_id = ? AND "
                                  "cleared_at_ms IS NULL ORDER BY severity DESC, raised_at_ms"));
    standing->Bind(1, id);
    RETURN_IF_ERROR(ReadFindings(*standing, health.mutable_findings()));
    ASSIGN_OR_RETURN(auto cleared,
                     db_->Prepare("SELECT finding FROM findings WHERE machine_id = ? AND "
                                  "cleared_at_ms >= ? ORDER BY cleared_at_ms DESC LIMIT 50"));
    cleared->Bind(1, id).Bind(2, Ms(now - absl::Hours(24)));
    RETURN_IF_ERROR(ReadFindings(*cleared, health.mutable_recently_cleared()));
    return health;
  }

  absl::StatusOr<int64_t> PruneHistory(absl::Time cutoff) override {
    std::lock_guard lock(mu_);
    int64_t deleted = 0;
    RETURN_IF_ERROR(InTransaction([&]() -> absl::Status {
      for (const char* sql : {"DELETE FROM report_history WHERE at_ms < ?",
                              "DELETE FROM findings WHERE cleared_at_ms < ?",
                              // Delivered outbox events; given-up ones stay for the record.
                              "DELETE FROM outbox WHERE delivered_at_ms < ?",
                              "DELETE FROM delivered WHERE at_ms < ?"}) {
        ASSIGN_OR_RETURN(auto stmt, db_->Prepare(sql));
        stmt->Bind(1, Ms(cutoff));
        RETURN_IF_ERROR(stmt->Run());
        deleted += sqlite3_changes(db_->handle());
      }
      return absl::OkStatus();
    }));
    return deleted;
  }

  absl::Status SaveIncident(const medic::v1::Incident& incident, const medic::v1::Ticket* ticket,
                            const std::vector<OutboxEvent>& outbox) override {
    std::lock_guard lock(mu_);
    return InTransaction([&]() -> absl::Status {
      ASSIGN_OR_RETURN(auto put, db_->Prepare("INSERT OR REPLACE INTO incidents (incident_id, "
                                              "number, resolved, incident) VALUES (?, ?, ?, ?)"));
      put->Bind(1, incident.incident_id())
          .Bind(2, NumberOf(incident.incident_id()))
          .Bind(3, static_cast<int64_t>(incident.has_resolved_at() ? 1 : 0));
      put->BindBlob(4, incident.SerializeAsString());
      RETURN_IF_ERROR(put->Run());
      if (ticket != nullptr) RETURN_IF_ERROR(PutTicket(*ticket));
      return PutOutbox(outbox);
    });
  }

  absl::Status SaveTicket(const medic::v1::Ticket& ticket,
                          const std::vector<OutboxEvent>& outbox) override {
    std::lock_guard lock(mu_);
    return InTransaction([&]() -> absl::Status {
      RETURN_IF_ERROR(PutTicket(ticket));
      return PutOutbox(outbox);
    });
  }

  absl::StatusOr<std::vector<medic::v1::Incident>> ListIncidents(bool include_resolved) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(
        auto stmt,
        db_->Prepare(include_resolved ? "SELECT incident FROM incidents ORDER BY number"
                                      : "SELECT incident FROM incidents WHERE resolved = 0 "
                                        "ORDER BY number"));
    std::vector<medic::v1::Incident> out;
    while (true) {
      ASSIGN_OR_RETURN(bool row, stmt->Step());
      if (!row) return out;
      if (!out.emplace_back().ParseFromString(stmt->ColumnBlob(0))) {
        return absl::DataLossError("a stored incident is corrupt");
      }
    }
  }

  absl::StatusOr<std::vector<medic::v1::Ticket>> ListTickets(
      medic::v1::TicketState state) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto stmt, db_->Prepare("SELECT ticket FROM tickets WHERE ?1 = 0 OR "
                                             "state = ?1 ORDER BY number DESC"));
    stmt->Bind(1, static_cast<int64_t>(state));
    std::vector<medic::v1::Ticket> out;
    while (true) {
      ASSIGN_OR_RETURN(bool row, stmt->Step());
      if (!row) return out;
      if (!out.emplace_back().ParseFromString(stmt->ColumnBlob(0))) {
        return absl::DataLossError("a stored ticket is corrupt");
      }
    }
  }

  absl::StatusOr<medic::v1::Ticket> GetTicket(std::string_view id) override {
    std::lock_guard lock(mu_);
    return GetTicketLocked(id);
  }

  absl::StatusOr<int64_t> HighestIncidentNumber() override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto stmt, db_->Prepare("SELECT coalesce(max(number), 0) FROM incidents"));
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    return row ? stmt->ColumnInt(0) : 0;
  }

  absl::StatusOr<std::vector<KnownMachine>> KnownMachines() override {
    std::lock_guard lock(mu_);
    std::vector<KnownMachine> out;
    std::map<std::string, size_t> index;
    ASSIGN_OR_RETURN(auto machines, db_->Prepare("SELECT machine_id, hostname, labels, "
                                                 "last_seen_ms, topology FROM machines"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, machines->Step());
      if (!row) break;
      KnownMachine& m = out.emplace_back();
      index[machines->ColumnText(0)] = out.size() - 1;
      m.machine_id = machines->ColumnText(0);
      m.hostname = machines->ColumnText(1);
      for (absl::string_view label :
           absl::StrSplit(machines->ColumnText(2), ',', absl::SkipEmpty())) {
        m.labels.emplace_back(label);
      }
      m.last_seen = FromMs(machines->ColumnInt(3));
      m.topology.ParseFromString(machines->ColumnBlob(4));
    }
    ASSIGN_OR_RETURN(auto findings, db_->Prepare("SELECT machine_id, finding FROM findings "
                                                 "WHERE cleared_at_ms IS NULL"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, findings->Step());
      if (!row) break;
      auto it = index.find(findings->ColumnText(0));
      if (it == index.end()) continue;
      if (!out[it->second].standing.emplace_back().ParseFromString(findings->ColumnBlob(1))) {
        return absl::DataLossError("a stored finding is corrupt");
      }
    }
    return out;
  }

  absl::StatusOr<std::vector<OutboxItem>> DueOutbox(absl::Time now, int limit) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(
        auto stmt,
        db_->Prepare("SELECT o.id, o.idempotency_key, o.ticket_id, o.kind, o.target, o.payload, "
                     "o.attempts FROM outbox o WHERE o.delivered_at_ms IS NULL AND o.gave_up = 0 "
                     "AND o.next_attempt_ms <= ?1 AND o.id = (SELECT min(p.id) FROM outbox p "
                     "WHERE p.ticket_id = o.ticket_id AND p.target = o.target AND "
                     "p.delivered_at_ms IS NULL AND p.gave_up = 0) ORDER BY o.id LIMIT ?2"));
    stmt->Bind(1, Ms(now)).Bind(2, static_cast<int64_t>(limit));
    std::vector<OutboxItem> out;
    while (true) {
      ASSIGN_OR_RETURN(bool row, stmt->Step());
      if (!row) return out;
      OutboxItem& item = out.emplace_back();
      item.id = stmt->ColumnInt(0);
      item.event.idempotency_key = stmt->ColumnText(1);
      item.event.ticket_id = stmt->ColumnText(2);
      item.event.kind = stmt->ColumnText(3);
      item.event.target = stmt->ColumnText(4);
      item.event.payload = stmt->ColumnText(5);
      item.attempts = static_cast<int>(stmt->ColumnInt(6));
    }
  }

  absl::Status OutboxDelivered(int64_t id, absl::Time now, std::string_view external_ref) override {
    std::lock_guard lock(mu_);
    return InTransaction([&]() -> absl::Status {
      ASSIGN_OR_RETURN(auto update, db_->Prepare("UPDATE outbox SET delivered_at_ms = ?, "
                                                 "attempts = attempts + 1 WHERE id = ?"));
      update->Bind(1, Ms(now)).Bind(2, id);
      RETURN_IF_ERROR(update->Run());
      if (external_ref.empty()) return absl::OkStatus();
      ASSIGN_OR_RETURN(auto select, db_->Prepare("SELECT ticket_id FROM outbox WHERE id = ?"));
      select->Bind(1, id);
      ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) return absl::OkStatus();
      ASSIGN_OR_RETURN(medic::v1::Ticket ticket, GetTicketLocked(select->ColumnText(0)));
      ticket.set_external_ref(std::string(external_ref));
      return PutTicket(ticket);
    });
  }

  absl::Status OutboxRetry(int64_t id, absl::Time next, std::string_view error) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto update, db_->Prepare("UPDATE outbox SET attempts = attempts + 1, "
                                               "next_attempt_ms = ?, last_error = ? WHERE id = ?"));
    update->Bind(1, Ms(next)).Bind(2, error).Bind(3, id);
    return update->Run();
  }

  absl::Status OutboxGiveUp(int64_t id, std::string_view error) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto update, db_->Prepare("UPDATE outbox SET attempts = attempts + 1, "
                                               "gave_up = 1, last_error = ? WHERE id = ?"));
    update->Bind(1, error).Bind(2, id);
    return update->Run();
  }

  absl::StatusOr<int64_t> OutboxPending() override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto stmt, db_->Prepare("SELECT count(*) FROM outbox WHERE "
                                             "delivered_at_ms IS NULL AND gave_up = 0"));
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    return row ? stmt->ColumnInt(0) : 0;
  }
  absl::Status QueueDiagnostic(const QueuedDiagnostic& q) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(
        auto stmt,
        db_->Prepare("INSERT INTO queued_diagnostics (run_id, machine_id, hostname, request, "
                     "queued_until_ms, sent, result) VALUES (?, ?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT(run_id, machine_id) DO UPDATE SET hostname = excluded.hostname, "
                     "request = excluded.request, queued_until_ms = excluded.queued_until_ms, "
                     "sent = excluded.sent, result = excluded.result"));
    stmt->Bind(1, q.run_id)
        .Bind(2, q.machine_id)
        .Bind(3, q.hostname)
        .BindBlob(4, q.request.SerializeAsString())
        .Bind(5, Ms(q.queued_until))
        .Bind(6, int64_t{q.sent ? 1 : 0});
    if (q.result) {
      stmt->BindBlob(7, q.result->SerializeAsString());
    } else {
      stmt->BindNull(7);
    }
    return stmt->Run();
  }

  absl::StatusOr<std::vector<QueuedDiagnostic>> TakeQueuedDiagnostics(std::string_view machine_id,
                                                                      absl::Time now) override {
    std::lock_guard lock(mu_);
    std::vector<QueuedDiagnostic> taken;
    RETURN_IF_ERROR(InTransaction([&]() -> absl::Status {
      ASSIGN_OR_RETURN(
          auto select,
          db_->Prepare(common::StrCat(kQueuedColumns,
                                      " WHERE machine_id = ? AND sent = 0 AND queued_until_ms > ? "
                                      "ORDER BY id")));
      select->Bind(1, machine_id).Bind(2, Ms(now));
      while (true) {
        ASSIGN_OR_RETURN(bool row, select->Step());
        if (!row) break;
        taken.push_back(ReadQueued(*select));
      }
      ASSIGN_OR_RETURN(auto update,
                       db_->Prepare("UPDATE queued_diagnostics SET sent = 1 WHERE machine_id = ? "
                                    "AND sent = 0 AND queued_until_ms > ?"));
      update->Bind(1, machine_id).Bind(2, Ms(now));
      return update->Run();
    }));
    for (auto& q : taken) q.sent = true;
    return taken;
  }

  absl::Status SaveQueuedResult(std::string_view run_id, std::string_view machine_id,
                                const medic::v1::DiagnosticResult& result) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto update, db_->Prepare("UPDATE queued_diagnostics SET result = ?, sent = 1 "
                                               "WHERE run_id = ? AND machine_id = ?"));
    update->BindBlob(1, result.SerializeAsString()).Bind(2, run_id).Bind(3, machine_id);
    RETURN_IF_ERROR(update->Run());
    if (sqlite3_changes(db_->handle()) == 0) {
      return absl::NotFoundError(
          common::StrCat("no diagnostic ", run_id, " was queued for ", machine_id));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<QueuedDiagnostic>> QueuedRun(std::string_view run_id) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto select,
                     db_->Prepare(common::StrCat(kQueuedColumns, " WHERE run_id = ? ORDER BY id")));
    select->Bind(1, run_id);
    std::vector<QueuedDiagnostic> rows;
    while (true) {
      ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) break;
      rows.push_back(ReadQueued(*select));
    }
    return rows;
  }

  static constexpr std::string_view kQueuedColumns =
      "SELECT run_id, machine_id, hostname, request, queued_until_ms, sent, result "
      "FROM queued_diagnostics";

  static QueuedDiagnostic ReadQueued(const SqliteStatement& row) {
    QueuedDiagnostic q;
    q.run_id = row.ColumnText(0);
    q.machine_id = row.ColumnText(1);
    q.hostname = row.ColumnText(2);
    q.request.ParseFromString(row.ColumnBlob(3));
    q.queued_until = FromMs(row.ColumnInt(4));
    q.sent = row.ColumnInt(5) != 0;
    if (!row.ColumnIsNull(6)) {
      q.result.emplace();
      q.result->ParseFromString(row.ColumnBlob(6));
    }
    return q;
  }

  absl::StatusOr<medic::v1::MachineHistory> GetMachineHistory(
      std::string_view host, absl::Time since, const std::vector<std::string>& metrics) override {
    std::lock_guard lock(mu_);
    medic::v1::MachineHistory history;
    {
      // The same choice as GetMachineHealth: an exact id wins, else a unique hostname.
      ASSIGN_OR_RETURN(auto who, db_->Prepare("SELECT machine_id, hostname FROM machines "
                                              "WHERE machine_id = ?1 OR hostname = ?1 "
                                              "ORDER BY (machine_id = ?1) DESC"));
      who->Bind(1, host);
      std::vector<std::pair<std::string, std::string>> matches;
      while (true) {
        ASSIGN_OR_RETURN(bool row, who->Step());
        if (!row) break;
        matches.emplace_back(who->ColumnText(0), who->ColumnText(1));
      }
      if (matches.empty()) {
        return absl::NotFoundError(common::StrCat("no machine named '", host, "' has reported"));
      }
      if (matches.size() > 1 && matches[0].first != host) {
        std::vector<std::string> ids;
        for (const auto& m : matches) ids.push_back(m.first);
        return absl::FailedPreconditionError(
            common::StrCat(matches.size(), " machines are named '", host,
                           "'; ask for one by machine id: ", absl::StrJoin(ids, ", ")));
      }
      history.set_machine_id(matches[0].first);
      history.set_hostname(matches[0].second);
    }
    // Units are not kept per row (they never change for a name); the latest reports say them.
    std::map<std::pair<std::string, std::string>, std::string> units;
    ASSIGN_OR_RETURN(auto reports,
                     db_->Prepare("SELECT report FROM probe_reports WHERE machine_id = ?"));
    reports->Bind(1, history.machine_id());
    while (true) {
      ASSIGN_OR_RETURN(bool row, reports->Step());
      if (!row) break;
      ProbeReport report;
      if (!report.ParseFromString(reports->ColumnBlob(0))) continue;
      for (const auto& o : report.observations()) units[{o.metric(), o.resource()}] = o.unit();
    }
    HistoryBuilder builder(metrics, std::move(units));
    ASSIGN_OR_RETURN(auto rows, db_->Prepare("SELECT at_ms, points FROM report_history "
                                             "WHERE machine_id = ? AND at_ms >= ? "
                                             "ORDER BY at_ms, rowid"));
    rows->Bind(1, history.machine_id()).Bind(2, Ms(since));
    while (true) {
      ASSIGN_OR_RETURN(bool row, rows->Step());
      if (!row) break;
      RETURN_IF_ERROR(builder.Add(history.machine_id(), rows->ColumnInt(0), rows->ColumnBlob(1)));
    }
    builder.Finish(&history);
    return history;
  }

 private:
  static int64_t NumberOf(std::string_view id) {
    const size_t dash = id.rfind('-');
    int64_t n = 0;
    if (dash != std::string_view::npos) {
      (void)absl::SimpleAtoi(absl::string_view(id.data() + dash + 1, id.size() - dash - 1), &n);
    }
    return n;
  }

  absl::StatusOr<medic::v1::Ticket> GetTicketLocked(std::string_view id) {
    ASSIGN_OR_RETURN(auto stmt, db_->Prepare("SELECT ticket FROM tickets WHERE ticket_id = ?1 OR "
                                             "incident_id = ?1"));
    stmt->Bind(1, id);
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) return absl::NotFoundError(common::StrCat("no ticket ", id));
    medic::v1::Ticket ticket;
    if (!ticket.ParseFromString(stmt->ColumnBlob(0))) {
      return absl::DataLossError(common::StrCat("stored ticket ", id, " is corrupt"));
    }
    return ticket;
  }

  // Writes a whole ticket. The helpdesk's key (external_ref) is set by the outbox's thread
  // alone; a writer that read the ticket before the key arrived must not erase it, so an empty
  // key keeps the stored one.
  absl::Status PutTicket(const medic::v1::Ticket& incoming) {
    medic::v1::Ticket merged;
    const medic::v1::Ticket* ticket = &incoming;
    if (incoming.external_ref().empty()) {
      if (absl::StatusOr<medic::v1::Ticket> stored = GetTicketLocked(incoming.ticket_id());
          stored.ok() && !stored->external_ref().empty()) {
        merged = incoming;
        merged.set_external_ref(stored->external_ref());
        ticket = &merged;
      }
    }
    ASSIGN_OR_RETURN(auto put, db_->Prepare("INSERT OR REPLACE INTO tickets (ticket_id, "
                                            "incident_id, number, state, ticket) "
                                            "VALUES (?, ?, ?, ?, ?)"));
    put->Bind(1, ticket->ticket_id())
        .Bind(2, ticket->incident_id())
        .Bind(3, NumberOf(ticket->ticket_id()))
        .Bind(4, static_cast<int64_t>(ticket->state()));
    put->BindBlob(5, ticket->SerializeAsString());
    return put->Run();
  }

  absl::Status PutOutbox(const std::vector<OutboxEvent>& outbox) {
    if (outbox.empty()) return absl::OkStatus();
    ASSIGN_OR_RETURN(auto put, db_->Prepare("INSERT OR IGNORE INTO outbox (idempotency_key, "
                                            "ticket_id, kind, target, payload) "
                                            "VALUES (?, ?, ?, ?, ?)"));
    for (const auto& e : outbox) {
      put->Bind(1, e.idempotency_key).Bind(2, e.ticket_id).Bind(3, e.kind).Bind(4, e.target);
      put->Bind(5, e.payload);
      RETURN_IF_ERROR(put->Run());
      put->Reset();
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<medic::v1::GroupPolicy>> ListPolicies() override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto stmt, db_->Prepare("SELECT policy FROM policies ORDER BY scope, grp"));
    std::vector<medic::v1::GroupPolicy> policies;
    while (true) {
      ASSIGN_OR_RETURN(bool row, stmt->Step());
      if (!row) return policies;
      if (!policies.emplace_back().ParseFromString(stmt->ColumnBlob(0))) {
        return absl::DataLossError("a stored policy is corrupt");
      }
    }
  }

  absl::Status SavePolicy(const medic::v1::GroupPolicy& policy) override {
    std::lock_guard lock(mu_);
    if (policy.yaml().empty() && !policy.has_canary()) {
      ASSIGN_OR_RETURN(auto del, db_->Prepare("DELETE FROM policies WHERE scope = ? AND grp = ?"));
      del->Bind(1, int64_t{policy.scope()}).Bind(2, policy.group());
      return del->Run();
    }
    ASSIGN_OR_RETURN(auto put, db_->Prepare("INSERT OR REPLACE INTO policies (scope, grp, policy) "
                                            "VALUES (?, ?, ?)"));
    put->Bind(1, int64_t{policy.scope()}).Bind(2, policy.group());
    put->BindBlob(3, policy.SerializeAsString());
    return put->Run();
  }

  absl::Status SetPolicyVersion(std::string_view machine_id, std::string_view version) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto put, db_->Prepare("UPDATE machines SET policy_version = ? "
                                            "WHERE machine_id = ?"));
    put->Bind(1, version).Bind(2, machine_id);
    return put->Run();
  }

  // --- Security state ---

  static void BindOptionalTime(SqliteStatement& stmt, int index,
                               const std::optional<absl::Time>& t) {
    if (t.has_value()) {
      stmt.Bind(index, Ms(*t));
    } else {
      stmt.BindNull(index);
    }
  }
  static std::optional<absl::Time> OptionalTime(const SqliteStatement& row, int column) {
    if (row.ColumnIsNull(column)) return std::nullopt;
    return FromMs(row.ColumnInt(column));
  }

  static constexpr std::string_view kApiTokenColumns =
      "SELECT id, name, role, secret_hash, created_ms, expires_ms, revoked_ms, created_by "
      "FROM api_tokens";
  static ApiToken ReadApiToken(const SqliteStatement& row) {
    ApiToken t;
    t.id = row.ColumnInt(0);
    t.name = row.ColumnText(1);
    t.role = static_cast<medic::v1::Role>(row.ColumnInt(2));
    t.secret_hash = row.ColumnText(3);
    t.created = FromMs(row.ColumnInt(4));
    t.expires = OptionalTime(row, 5);
    t.revoked = OptionalTime(row, 6);
    t.created_by = row.ColumnText(7);
    return t;
  }
  absl::StatusOr<int64_t> PutApiToken(const ApiToken& t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ASSIGN_OR_RETURN(auto insert,
                     db_->Prepare("INSERT INTO api_tokens (name, role, secret_hash, created_ms, "
                                  "expires_ms, revoked_ms, created_by) "
                                  "VALUES (?, ?, ?, ?, ?, ?, ?)"));
    insert->Bind(1, t.name).Bind(2, static_cast<int64_t>(t.role)).Bind(3, t.secret_hash);
    insert->Bind(4, Ms(t.created));
    BindOptionalTime(*insert, 5, t.expires);
    BindOptionalTime(*insert, 6, t.revoked);
    insert->Bind(7, t.created_by);
    RETURN_IF_ERROR(insert->Run());
    return sqlite3_last_insert_rowid(db_->handle());
  }

  absl::StatusOr<int64_t> AddApiToken(const ApiToken& token, bool only_if_first) override {
    std::lock_guard lock(mu_);
    int64_t id = 0;
    RETURN_IF_ERROR(InTransaction([&]() -> absl::Status {
      if (only_if_first) {
        ASSIGN_OR_RETURN(auto count, db_->Prepare("SELECT count(*) FROM api_tokens"));
        ASSIGN_OR_RETURN(bool row, count->Step());
        if (row && count->ColumnInt(0) > 0) return absl::OkStatus();
      }
      ASSIGN_OR_RETURN(id, PutApiToken(token));
      return absl::OkStatus();
    }));
    return id;
  }

  absl::StatusOr<std::vector<ApiToken>> ListApiTokens() override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto select, db_->Prepare(common::StrCat(kApiTokenColumns, " ORDER BY id")));
    std::vector<ApiToken> tokens;
    while (true) {
      ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) return tokens;
      tokens.push_back(ReadApiToken(*select));
    }
  }

  absl::StatusOr<std::optional<ApiToken>> FindApiToken(std::string_view secret_hash) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto select,
                     db_->Prepare(common::StrCat(kApiTokenColumns, " WHERE secret_hash = ?")));
    select->Bind(1, secret_hash);
    ASSIGN_OR_RETURN(bool row, select->Step());
    if (!row) return std::nullopt;
    return ReadApiToken(*select);
  }

  absl::StatusOr<bool> RevokeApiToken(int64_t id, absl::Time now) override {
    return RevokeToken("api_tokens", id, now);
  }

  // Revokes row `id` of a token table (a constant of this file), once; true when it did.
  absl::StatusOr<bool> RevokeToken(std::string_view table, int64_t id, absl::Time now) {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto update, db_->Prepare(common::StrCat(
                                      "UPDATE ", table,
                                      " SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL")));
    update->Bind(1, Ms(now)).Bind(2, id);
    RETURN_IF_ERROR(update->Run());
    return sqlite3_changes(db_->handle()) > 0;
  }

  static constexpr std::string_view kEnrollmentTokenColumns =
      "SELECT id, name, secret_hash, created_ms, expires_ms, max_uses, uses, revoked_ms, "
      "created_by FROM enrollment_tokens";
  static EnrollmentToken ReadEnrollmentToken(const SqliteStatement& row) {
    EnrollmentToken t;
    t.id = row.ColumnInt(0);
    t.name = row.ColumnText(1);
    t.secret_hash = row.ColumnText(2);
    t.created = FromMs(row.ColumnInt(3));
    t.expires = OptionalTime(row, 4);
    t.max_uses = static_cast<uint32_t>(row.ColumnInt(5));
    t.uses = static_cast<uint32_t>(row.ColumnInt(6));
    t.revoked = OptionalTime(row, 7);
    t.created_by = row.ColumnText(8);
    return t;
  }
  absl::StatusOr<int64_t> PutEnrollmentToken(const EnrollmentToken& t)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ASSIGN_OR_RETURN(auto insert, db_->Prepare("INSERT INTO enrollment_tokens (name, secret_hash, "
                                               "created_ms, expires_ms, max_uses, uses, "
                                               "revoked_ms, created_by) "
                                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    insert->Bind(1, t.name).Bind(2, t.secret_hash).Bind(3, Ms(t.created));
    BindOptionalTime(*insert, 4, t.expires);
    insert->Bind(5, int64_t{t.max_uses}).Bind(6, int64_t{t.uses});
    BindOptionalTime(*insert, 7, t.revoked);
    insert->Bind(8, t.created_by);
    RETURN_IF_ERROR(insert->Run());
    return sqlite3_last_insert_rowid(db_->handle());
  }

  absl::StatusOr<int64_t> AddEnrollmentToken(const EnrollmentToken& token) override {
    std::lock_guard lock(mu_);
    return PutEnrollmentToken(token);
  }

  absl::StatusOr<std::vector<EnrollmentToken>> ListEnrollmentTokens() override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto select,
                     db_->Prepare(common::StrCat(kEnrollmentTokenColumns, " ORDER BY id")));
    std::vector<EnrollmentToken> tokens;
    while (true) {
      ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) return tokens;
      tokens.push_back(ReadEnrollmentToken(*select));
    }
  }

  absl::StatusOr<std::optional<EnrollmentToken>> FindEnrollmentToken(
      std::string_view secret_hash) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto select, db_->Prepare(common::StrCat(kEnrollmentTokenColumns,
                                                              " WHERE secret_hash = ?")));
    select->Bind(1, secret_hash);
    ASSIGN_OR_RETURN(bool row, select->Step());
    if (!row) return std::nullopt;
    return ReadEnrollmentToken(*select);
  }

  absl::StatusOr<bool> RevokeEnrollmentToken(int64_t id, absl::Time now) override {
    return RevokeToken("enrollment_tokens", id, now);
  }

  static constexpr std::string_view kCertificateColumns =
      "SELECT serial, machine_id, hostname, fingerprint, issued_ms, not_after_ms, revoked_ms "
      "FROM agent_certificates";
  static AgentCertificate ReadCertificate(const SqliteStatement& row) {
    AgentCertificate c;
    c.serial = row.ColumnText(0);
    c.machine_id = row.ColumnText(1);
    c.hostname = row.ColumnText(2);
    c.fingerprint = row.ColumnText(3);
    c.issued = FromMs(row.ColumnInt(4));
    c.not_after = FromMs(row.ColumnInt(5));
    c.revoked = OptionalTime(row, 6);
    return c;
  }
  absl::Status PutCertificate(const AgentCertificate& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ASSIGN_OR_RETURN(auto insert,
                     db_->Prepare("INSERT INTO agent_certificates (serial, machine_id, hostname, "
                                  "fingerprint, issued_ms, not_after_ms, revoked_ms) "
                                  "VALUES (?, ?, ?, ?, ?, ?, ?)"));
    insert->Bind(1, c.serial).Bind(2, c.machine_id).Bind(3, c.hostname).Bind(4, c.fingerprint);
    insert->Bind(5, Ms(c.issued)).Bind(6, Ms(c.not_after));
    BindOptionalTime(*insert, 7, c.revoked);
    return insert->Run();
  }

  absl::Status AddCertificate(const AgentCertificate& certificate, int64_t enrollment_token,
                              std::string_view renews) override {
    std::lock_guard lock(mu_);
    // BEGIN IMMEDIATE takes the file's write lock: the checks below and the insert are one
    // step for every process on this file.
    return InTransaction([&]() -> absl::Status {
      if (enrollment_token > 0) {
        ASSIGN_OR_RETURN(auto live, db_->Prepare("SELECT 1 FROM agent_certificates WHERE "
                                                 "machine_id = ? AND revoked_ms IS NULL AND "
                                                 "not_after_ms > ? LIMIT 1"));
        live->Bind(1, certificate.machine_id).Bind(2, Ms(certificate.issued));
        ASSIGN_OR_RETURN(bool enrolled, live->Step());
        if (enrolled) {
          return absl::AlreadyExistsError(
              common::StrCat("machine id ", certificate.machine_id,
                             " is already enrolled with a valid certificate"));
        }
      }
      if (!renews.empty()) {
        ASSIGN_OR_RETURN(auto revoked, db_->Prepare("SELECT 1 FROM agent_certificates WHERE "
                                                    "serial = ? AND revoked_ms IS NOT NULL"));
        revoked->Bind(1, renews);
        ASSIGN_OR_RETURN(bool gone, revoked->Step());
        if (gone) {
          return absl::FailedPreconditionError(
              common::StrCat("certificate ", renews, " was revoked meanwhile"));
        }
      }
      if (enrollment_token > 0) {
        ASSIGN_OR_RETURN(auto use, db_->Prepare("UPDATE enrollment_tokens SET uses = uses + 1 "
                                                "WHERE id = ? AND revoked_ms IS NULL AND "
                                                "(max_uses = 0 OR uses < max_uses)"));
        use->Bind(1, enrollment_token);
        RETURN_IF_ERROR(use->Run());
        if (sqlite3_changes(db_->handle()) == 0) {
          return absl::FailedPreconditionError(common::StrCat(
              "enrollment token enr-", enrollment_token, " was revoked or used up meanwhile"));
        }
      }
      return PutCertificate(certificate);
    });
  }

  absl::StatusOr<std::optional<AgentCertificate>> FindCertificate(
      std::string_view serial) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto select,
                     db_->Prepare(common::StrCat(kCertificateColumns, " WHERE serial = ?")));
    select->Bind(1, serial);
    ASSIGN_OR_RETURN(bool row, select->Step());
    if (!row) return std::nullopt;
    return ReadCertificate(*select);
  }

  absl::StatusOr<bool> HasLiveCertificate(std::string_view machine_id, absl::Time now) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto select, db_->Prepare("SELECT 1 FROM agent_certificates WHERE "
                                               "machine_id = ? AND revoked_ms IS NULL AND "
                                               "not_after_ms > ? LIMIT 1"));
    select->Bind(1, machine_id).Bind(2, Ms(now));
    return select->Step();
  }

  absl::StatusOr<int> RevokeCertificates(std::string_view machine_id, absl::Time now) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto update, db_->Prepare("UPDATE agent_certificates SET revoked_ms = ? "
                                               "WHERE machine_id = ? AND revoked_ms IS NULL"));
    update->Bind(1, Ms(now)).Bind(2, machine_id);
    RETURN_IF_ERROR(update->Run());
    return sqlite3_changes(db_->handle());
  }

  absl::StatusOr<std::vector<AgentCertificate>> SelectCertificates(std::string_view where_order,
                                                                   std::optional<int64_t> bind) {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto select,
                     db_->Prepare(common::StrCat(kCertificateColumns, " ", where_order)));
    if (bind.has_value()) select->Bind(1, *bind);
    std::vector<AgentCertificate> certificates;
    while (true) {
      ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) return certificates;
      certificates.push_back(ReadCertificate(*select));
    }
  }
  absl::StatusOr<std::vector<AgentCertificate>> CertificatesRevokedSince(
      absl::Time since) override {
    return SelectCertificates("WHERE revoked_ms >= ? ORDER BY revoked_ms", Ms(since));
  }
  absl::StatusOr<std::vector<AgentCertificate>> ListCertificates() override {
    return SelectCertificates("ORDER BY issued_ms, serial", std::nullopt);
  }

  absl::Status SetIdentityAlert(std::string_view machine_id, std::string_view alert,
                                absl::Time at) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto insert, db_->Prepare("INSERT INTO identity_alerts (machine_id, alert, "
                                               "at_ms) VALUES (?, ?, ?) ON CONFLICT(machine_id) "
                                               "DO UPDATE SET alert = excluded.alert, "
                                               "at_ms = excluded.at_ms"));
    insert->Bind(1, machine_id).Bind(2, alert).Bind(3, Ms(at));
    return insert->Run();
  }

  absl::StatusOr<std::optional<IdentityAlert>> GetIdentityAlert(
      std::string_view machine_id) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto select, db_->Prepare("SELECT alert, at_ms FROM identity_alerts "
                                               "WHERE machine_id = ?"));
    select->Bind(1, machine_id);
    ASSIGN_OR_RETURN(bool row, select->Step());
    if (!row) return std::nullopt;
    return IdentityAlert{std::string(machine_id), select->ColumnText(0),
                         FromMs(select->ColumnInt(1))};
  }

  absl::StatusOr<std::vector<IdentityAlert>> ListIdentityAlerts() override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto select, db_->Prepare("SELECT machine_id, alert, at_ms FROM "
                                               "identity_alerts ORDER BY machine_id"));
    std::vector<IdentityAlert> alerts;
    while (true) {
      ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) return alerts;
      alerts.push_back(IdentityAlert{select->ColumnText(0), select->ColumnText(1),
                                     FromMs(select->ColumnInt(2))});
    }
  }

  static medic::v1::AuditEntry ReadAudit(const SqliteStatement& row) {
    medic::v1::AuditEntry e;
    e.set_id(row.ColumnInt(0));
    *e.mutable_at() = common::ToProtoTime(FromMs(row.ColumnInt(1)));
    e.set_actor(row.ColumnText(2));
    e.set_role(static_cast<medic::v1::Role>(row.ColumnInt(3)));
    e.set_action(row.ColumnText(4));
    e.set_target(row.ColumnText(5));
    e.set_result(row.ColumnText(6));
    e.set_details(row.ColumnText(7));
    e.set_peer(row.ColumnText(8));
    return e;
  }

  absl::Status AppendAudit(const medic::v1::AuditEntry& e) override {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto insert,
                     db_->Prepare("INSERT INTO audit (at_ms, actor, role, action, target, "
                                  "result, details, peer) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    insert->Bind(1, Ms(common::FromProtoTime(e.at()))).Bind(2, e.actor());
    insert->Bind(3, static_cast<int64_t>(e.role())).Bind(4, e.action()).Bind(5, e.target());
    insert->Bind(6, e.result()).Bind(7, e.details()).Bind(8, e.peer());
    return insert->Run();
  }

  absl::StatusOr<std::vector<medic::v1::AuditEntry>> ListAudit(
      const medic::v1::ListAuditRequest& request) override {
    std::string sql =
        "SELECT id, at_ms, actor, role, action, target, result, details, peer FROM audit "
        "WHERE 1";
    if (!request.actor().empty()) sql += " AND instr(actor, ?1) > 0";
    if (!request.action().empty()) sql += " AND action = ?2";
    if (!request.target().empty()) sql += " AND instr(target, ?3) > 0";
    if (request.has_since()) sql += " AND at_ms >= ?4";
    sql += " ORDER BY id DESC LIMIT ?5";
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto select, db_->Prepare(sql));
    if (!request.actor().empty()) select->Bind(1, request.actor());
    if (!request.action().empty()) select->Bind(2, request.action());
    if (!request.target().empty()) select->Bind(3, request.target());
    if (request.has_since()) select->Bind(4, Ms(common::FromProtoTime(request.since())));
    select->Bind(5, AuditLimit(request));
    std::vector<medic::v1::AuditEntry> entries;
    while (true) {
      ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) return entries;
      entries.push_back(ReadAudit(*select));
    }
  }

  absl::StatusOr<SecurityState> ExportSecurityState() override {
    SecurityState state;
    ASSIGN_OR_RETURN(state.api_tokens, ListApiTokens());
    ASSIGN_OR_RETURN(state.enrollment_tokens, ListEnrollmentTokens());
    ASSIGN_OR_RETURN(state.certificates, ListCertificates());
    ASSIGN_OR_RETURN(state.identity_alerts, ListIdentityAlerts());
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(auto select, db_->Prepare("SELECT id, at_ms, actor, role, action, target, "
                                               "result, details, peer FROM audit ORDER BY id"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, select->Step());
      if (!row) return state;
      state.audit.push_back(ReadAudit(*select));
    }
  }

  static constexpr std::string_view kMachineColumns =
      "SELECT m.machine_id, m.hostname, m.os, m.agent_version, m.connected, m.first_seen_ms, "
      "m.last_seen_ms, m.site, m.labels, m.peer, m.topology, "
      "(SELECT count(*) FROM findings f WHERE f.machine_id = m.machine_id "
      "  AND f.cleared_at_ms IS NULL), "
      "(SELECT max(severity) FROM findings f WHERE f.machine_id = m.machine_id "
      "  AND f.cleared_at_ms IS NULL), "
      "m.policy_version "
      "FROM machines m";

  medic::v1::Machine ReadMachine(const SqliteStatement& row, absl::Time now,
                                 medic::v1::Topology* topology) const {
    medic::v1::Machine m;
    m.set_machine_id(row.ColumnText(0));
    m.set_hostname(row.ColumnText(1));
    m.set_os(row.ColumnText(2));
    m.set_agent_version(row.ColumnText(3));
    const absl::Time last_seen = FromMs(row.ColumnInt(6));
    const bool online = row.ColumnInt(4) != 0 && now - last_seen <= options_.offline_after;
    m.set_state(online ? medic::v1::MACHINE_STATE_ONLINE : medic::v1::MACHINE_STATE_OFFLINE);
    *m.mutable_first_seen() = common::ToProtoTime(FromMs(row.ColumnInt(5)));
    *m.mutable_last_seen() = common::ToProtoTime(last_seen);
    m.set_site(row.ColumnText(7));
    for (absl::string_view label : absl::StrSplit(row.ColumnText(8), ',', absl::SkipEmpty())) {
      m.add_labels(std::string(label));
    }
    m.set_address(row.ColumnText(9));
    topology->ParseFromString(row.ColumnBlob(10));
    m.set_open_findings(static_cast<uint32_t>(row.ColumnInt(11)));
    if (!row.ColumnIsNull(12)) {
      m.set_worst_severity(static_cast<medic::v1::Severity>(row.ColumnInt(12)));
    }
    m.set_policy_version(row.ColumnText(13));
    return m;
  }

  absl::Status ReadFindings(SqliteStatement& stmt,
                            google::protobuf::RepeatedPtrField<Finding>* out) {
    while (true) {
      ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return absl::OkStatus();
      if (!out->Add()->ParseFromString(stmt.ColumnBlob(0))) {
        return absl::DataLossError("a stored finding is corrupt");
      }
    }
  }

  absl::Status ApplySnapshot(std::string_view machine_id, const medic::v1::Snapshot& snapshot,
                             absl::Time at) {
    for (const auto& report : snapshot.reports()) RETURN_IF_ERROR(PutReport(machine_id, report));
    if (snapshot.has_topology()) RETURN_IF_ERROR(SetTopology(machine_id, snapshot.topology()));
    // The snapshot lists every standing finding: raise the new ones, clear the rest.
    std::set<std::pair<std::string, std::string>> standing;
    for (const auto& finding : snapshot.findings()) {
      standing.emplace(finding.code(), finding.resource());
      RETURN_IF_ERROR(RaiseFinding(machine_id, finding, at));
    }
    ASSIGN_OR_RETURN(auto open, db_->Prepare("SELECT code, resource FROM findings WHERE "
                                             "machine_id = ? AND cleared_at_ms IS NULL"));
    open->Bind(1, machine_id);
    std::vector<std::pair<std::string, std::string>> to_clear;
    while (true) {
      ASSIGN_OR_RETURN(bool row, open->Step());
      if (!row) break;
      std::pair<std::string, std::string> key(open->ColumnText(0), open->ColumnText(1));
      if (!standing.contains(key)) to_clear.push_back(std::move(key));
    }
    for (const auto& [code, resource] : to_clear) {
      medic::v1::FindingCleared clear;
      clear.set_code(code);
      clear.set_resource(resource);
      *clear.mutable_cleared_at() = common::ToProtoTime(at);
      clear.set_summary("no longer reported by the agent");
      RETURN_IF_ERROR(ClearFinding(machine_id, clear, at));
    }
    return absl::OkStatus();
  }

  absl::Status ApplyDelta(std::string_view machine_id, const medic::v1::Delta& delta,
                          absl::Time at) {
    for (const auto& report : delta.reports()) RETURN_IF_ERROR(PutReport(machine_id, report));
    for (const auto& event : delta.findings()) {
      if (event.has_raised()) RETURN_IF_ERROR(RaiseFinding(machine_id, event.raised(), at));
      if (event.has_cleared()) RETURN_IF_ERROR(ClearFinding(machine_id, event.cleared(), at));
    }
    return absl::OkStatus();
  }

  absl::Status PutReport(std::string_view machine_id, const ProbeReport& report) {
    const absl::Time collected = common::FromProtoTime(report.collected_at());
    ASSIGN_OR_RETURN(auto put, db_->Prepare("INSERT OR REPLACE INTO probe_reports "
                                            "(machine_id, probe, collected_at_ms, report) "
                                            "VALUES (?, ?, ?, ?)"));
    put->Bind(1, machine_id).Bind(2, report.probe()).Bind(3, Ms(collected));
    put->BindBlob(4, report.SerializeAsString());
    RETURN_IF_ERROR(put->Run());
    if (!report.observations().empty()) {
      ASSIGN_OR_RETURN(auto history,
                       db_->Prepare("INSERT INTO report_history (machine_id, probe, at_ms, "
                                    "points) VALUES (?, ?, ?, ?)"));
      history->Bind(1, machine_id).Bind(2, report.probe()).Bind(3, Ms(collected));
      history->BindBlob(4, EncodeReportPoints(report));
      RETURN_IF_ERROR(history->Run());
    }
    if (report.has_os()) {
      ASSIGN_OR_RETURN(auto os, db_->Prepare("UPDATE machines SET os = ? WHERE machine_id = ?"));
      os->Bind(1, report.os().name()).Bind(2, machine_id);
      RETURN_IF_ERROR(os->Run());
    }
    return absl::OkStatus();
  }

  absl::Status SetTopology(std::string_view machine_id, const medic::v1::Topology& topology) {
    ASSIGN_OR_RETURN(auto put, db_->Prepare("UPDATE machines SET topology = ?, site = ? "
                                            "WHERE machine_id = ?"));
    put->BindBlob(1, topology.SerializeAsString()).Bind(2, topology.site()).Bind(3, machine_id);
    return put->Run();
  }

  // Inserts the finding, or updates a standing one with the same code and resource.
  absl::Status RaiseFinding(std::string_view machine_id, const Finding& finding, absl::Time at) {
    Finding stored = finding;
    if (!stored.has_raised_at()) *stored.mutable_raised_at() = common::ToProtoTime(at);
    stored.clear_cleared_at();
    ASSIGN_OR_RETURN(
        auto upsert,
        db_->Prepare("INSERT INTO findings (machine_id, code, resource, severity, raised_at_ms, "
                     "finding) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                     "ON CONFLICT(machine_id, code, resource) WHERE cleared_at_ms IS NULL "
                     "DO UPDATE SET severity = ?4, finding = ?6"));
    upsert->Bind(1, machine_id).Bind(2, stored.code()).Bind(3, stored.resource());
    upsert->Bind(4, static_cast<int64_t>(stored.severity()));
    upsert->Bind(5, Ms(common::FromProtoTime(stored.raised_at())));
    upsert->BindBlob(6, stored.SerializeAsString());
    return upsert->Run();
  }

  absl::Status ClearFinding(std::string_view machine_id, const medic::v1::FindingCleared& clear,
                            absl::Time at) {
    ASSIGN_OR_RETURN(auto select,
                     db_->Prepare("SELECT id, finding FROM findings WHERE machine_id = ? AND "
                                  "code = ? AND resource = ? AND cleared_at_ms IS NULL"));
    select->Bind(1, machine_id).Bind(2, clear.code()).Bind(3, clear.resource());
    ASSIGN_OR_RETURN(bool row, select->Step());
    if (!row) return absl::OkStatus();  // cleared already, or never seen: nothing to do
    Finding finding;
    finding.ParseFromString(select->ColumnBlob(1));
    const absl::Time cleared_at =
        clear.has_cleared_at() ? common::FromProtoTime(clear.cleared_at()) : at;
    *finding.mutable_cleared_at() = common::ToProtoTime(cleared_at);
    ASSIGN_OR_RETURN(auto update, db_->Prepare("UPDATE findings SET cleared_at_ms = ?, "
                                               "finding = ? WHERE id = ?"));
    update->Bind(1, Ms(cleared_at)).BindBlob(2, finding.SerializeAsString());
    update->Bind(3, select->ColumnInt(0));
    return update->Run();
  }

  absl::StatusOr<int> UserVersion() {
    ASSIGN_OR_RETURN(auto stmt, db_->Prepare("PRAGMA user_version"));
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    return row ? static_cast<int>(stmt->ColumnInt(0)) : 0;
  }

  template <typename Fn>
  absl::Status InTransaction(Fn&& body) {
    RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE"));
    absl::Status status = body();
    if (status.ok()) status = db_->Exec("COMMIT");
    if (!status.ok()) (void)db_->Exec("ROLLBACK");
    return status;
  }

  absl::Status WithHint(absl::Status status) const {
    if (status.code() == absl::StatusCode::kDataLoss) {
      return absl::DataLossError(
          common::StrCat(status.message(),
                         " — this file is not a Medic database (or is damaged); point --db "
                         "at another file or restore it from a backup"));
    }
    return status;
  }

  std::mutex mu_;
  std::unique_ptr<SqliteDb> db_ ABSL_GUARDED_BY(mu_);
  const StoreOptions options_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path,
                                                       const StoreOptions& options) {
  ASSIGN_OR_RETURN(auto db, SqliteDb::Open(path));
  auto store = std::make_unique<SqliteStore>(std::move(db), options);
  RETURN_IF_ERROR(store->Init());
  return store;
}

absl::Status CreateSqliteSchemaBeforeReportHistory(const std::string& path) {
  ASSIGN_OR_RETURN(auto db, SqliteDb::Open(path));
  SqliteStore store(std::move(db), {});
  return store.Init(VersionBeforeReportHistory());
}

absl::Status Store::QueueDiagnostic(const QueuedDiagnostic&) {
  return absl::UnimplementedError("this store keeps no queued diagnostics");
}
absl::StatusOr<std::vector<Store::QueuedDiagnostic>> Store::TakeQueuedDiagnostics(std::string_view,
                                                                                  absl::Time) {
  return absl::UnimplementedError("this store keeps no queued diagnostics");
}
absl::Status Store::SaveQueuedResult(std::string_view, std::string_view,
                                     const medic::v1::DiagnosticResult&) {
  return absl::UnimplementedError("this store keeps no queued diagnostics");
}
absl::StatusOr<std::vector<Store::QueuedDiagnostic>> Store::QueuedRun(std::string_view) {
  return absl::UnimplementedError("this store keeps no queued diagnostics");
}

}  // namespace medic::collector
