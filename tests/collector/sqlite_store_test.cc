#include <sqlite3.h>

#include <tuple>

#include "collector/store/store.h"
#include "common/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/postgres_fixture.h"
#include "tests/support/process.h"

namespace medic::collector {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

medic::v1::Hello MakeHello(std::string id, std::string hostname, uint64_t epoch = 7) {
  medic::v1::Hello hello;
  hello.set_machine_id(std::move(id));
  hello.set_hostname(std::move(hostname));
  hello.set_agent_version("0.1.0");
  hello.set_epoch(epoch);
  return hello;
}

medic::v1::Finding MakeFinding(std::string code, std::string resource,
                               medic::v1::Severity severity = medic::v1::SEVERITY_WARNING) {
  medic::v1::Finding f;
  f.set_code(std::move(code));
  f.set_resource(std::move(resource));
  f.set_severity(severity);
  f.set_summary("summary of " + f.code());
  return f;
}

medic::v1::AgentMessage Snapshot(uint64_t sequence, std::string os_name,
                                 std::vector<medic::v1::Finding> findings) {
  medic::v1::AgentMessage m;
  m.set_sequence(sequence);
  *m.mutable_sent_at() = common::ToProtoTime(kT0);
  auto* snapshot = m.mutable_snapshot();
  auto* report = snapshot->add_reports();
  report->set_probe("os");
  report->mutable_os()->set_name(std::move(os_name));
  auto* obs = report->add_observations();
  obs->set_metric("os.uptime_s");
  obs->set_value(10);
  for (auto& f : findings) *snapshot->add_findings() = std::move(f);
  snapshot->mutable_topology()->set_site("hq");
  snapshot->mutable_topology()->add_subnets("10.1.0.0/24");
  return m;
}

// The contract every store keeps, run against each backend: SQLite (one collector) and
// PostgreSQL (replicas). The PostgreSQL cluster is this test process's own, started on first
// use; without PostgreSQL installed these tests fail, saying so.
class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgresql") {
      medic::test::PostgresCluster* cluster = Cluster();
      ASSERT_NE(cluster, nullptr) << ClusterError();
      auto uri = cluster->CreateDatabase();
      ASSERT_TRUE(uri.ok()) << uri.status();
      db_ = *uri;
    } else {
      db_ = dir_.File("collector.db");
    }
    store_ = Open();
    ASSERT_NE(store_, nullptr);
  }

  // The test's store (again, after a restart: the same database).
  std::unique_ptr<Store> Open() {
    absl::StatusOr<std::unique_ptr<Store>> store =
        GetParam() == "postgresql" ? OpenPostgresStore(db_, StoreOptions{absl::Seconds(45)})
                                   : OpenSqliteStore(db_, StoreOptions{absl::Seconds(45)});
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // Stopped and deleted at exit, with the other statics.
  static medic::test::PostgresCluster* Cluster() {
    static absl::StatusOr<std::unique_ptr<medic::test::PostgresCluster>> cluster =
        medic::test::PostgresCluster::Start();
    if (!cluster.ok()) {
      ClusterError() = cluster.status().ToString();
      return nullptr;
    }
    return cluster->get();
  }
  static std::string& ClusterError() {
    static std::string error;
    return error;
  }

  medic::test::TempDir dir_;
  std::string db_;
  std::unique_ptr<Store> store_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

TEST_P(StoreTest, NewEpochResumesFromZeroAndSameEpochFromCommitted) {
  auto session = store_->OpenSession(MakeHello("m1", "ws-1"), "ipv4:127.0.0.1:5000", kT0);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(session->resume_after, 0u);
  ASSERT_TRUE(store_->Commit("m1", 7, Snapshot(1, "Debian 12", {}), kT0).ok());
  ASSERT_TRUE(store_->Commit("m1", 7, Snapshot(2, "Debian 12", {}), kT0).ok());

  EXPECT_EQ(store_->OpenSession(MakeHello("m1", "ws-1"), "p", kT0)->resume_after, 2u);
  EXPECT_EQ(store_->OpenSession(MakeHello("m1", "ws-1", 8), "p", kT0)->resume_after, 0u);
}

TEST_P(StoreTest, ResentRecordIsStoredOnce) {
  ASSERT_TRUE(store_->OpenSession(MakeHello("m1", "ws-1"), "p", kT0).ok());
  ASSERT_TRUE(store_->Commit("m1", 7, Snapshot(1, "Debian 12", {}), kT0).ok());
  // A resend of sequence 1 with other content must not overwrite what was committed.
  ASSERT_TRUE(store_->Commit("m1", 7, Snapshot(1, "Something else", {}), kT0).ok());
  auto health = store_->GetMachineHealth("ws-1", kT0);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->machine().os(), "Debian 12");
}

TEST_P(StoreTest, RecordFromAnotherEpochIsRefused) {
  ASSERT_TRUE(store_->OpenSession(MakeHello("m1", "ws-1"), "p", kT0).ok());
  absl::Status s = store_->Commit("m1", 99, Snapshot(1, "x", {}), kT0);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->Commit("nobody", 7, Snapshot(1, "x", {}), kT0).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(StoreTest, BatchCommitsManyMachinesOnceAndRefusesOnlyTheBadRecord) {
  ASSERT_TRUE(store_->OpenSession(MakeHello("m1", "ws-1"), "p", kT0).ok());
  ASSERT_TRUE(store_->OpenSession(MakeHello("m2", "ws-2", 9), "p", kT0).ok());
  std::vector<medic::v1::AgentMessage> records = {
      Snapshot(1, "Debian 12", {}), Snapshot(1, "Debian 13", {}), Snapshot(2, "x", {}),
      Snapshot(2, "Debian 12", {}), Snapshot(1, "resend", {})};
  std::vector<Store::PendingRecord> batch = {
      {"m1", 7, &records[0], kT0},  // new
      {"m2", 9, &records[1], kT0},  // new, another machine
      {"m2", 8, &records[2], kT0},  // wrong epoch: refused alone
      {"m1", 7, &records[3], kT0},  // new
      {"m1", 7, &records[4], kT0},  // a resend within the same batch: skipped
  };
  std::vector<absl::Status> results = store_->CommitBatch(batch);
  ASSERT_EQ(results.size(), 5u);
  EXPECT_TRUE(results[0].ok() && results[1].ok() && results[3].ok() && results[4].ok());
  EXPECT_EQ(results[2].code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetMachineHealth("ws-1", kT0)->machine().os(), "Debian 12");
  EXPECT_EQ(store_->GetMachineHealth("ws-2", kT0)->machine().os(), "Debian 13");
  EXPECT_EQ(store_->OpenSession(MakeHello("m1", "ws-1"), "p", kT0)->resume_after, 2u);
  EXPECT_EQ(store_->OpenSession(MakeHello("m2", "ws-2", 9), "p", kT0)->resume_after, 1u);
}

TEST_P(StoreTest, SnapshotRaisesListedFindingsAndClearsTheRest) {
  ASSERT_TRUE(store_->OpenSession(MakeHello("m1", "ws-1"), "p", kT0).ok());
  ASSERT_TRUE(
      store_
          ->Commit("m1", 7,
                   Snapshot(1, "Debian 12",
                            {MakeFinding("disk.space_low", "/"),
                             MakeFinding("disk.inodes_low", "/var", medic::v1::SEVERITY_CRITICAL)}),
                   kT0)
          .ok());
  auto health = store_->GetMachineHealth("ws-1", kT0);
  ASSERT_TRUE(health.ok());
  ASSERT_THAT(health->findings(), SizeIs(2));
  EXPECT_EQ(health->findings(0).code(), "disk.inodes_low");  // worst first
  EXPECT_EQ(health->machine().open_findings(), 2u);
  EXPECT_EQ(health->machine().worst_severity(), medic::v1::SEVERITY_CRITICAL);

  // The next snapshot lists only one: the other was cleared while the agent was away.
  ASSERT_TRUE(store_
                  ->Commit("m1", 7, Snapshot(2, "Debian 12", {MakeFinding("disk.space_low", "/")}),
                           kT0 + absl::Minutes(1))
                  .ok());
  health = store_->GetMachineHealth("ws-1", kT0 + absl::Minutes(1));
  ASSERT_THAT(health->findings(), SizeIs(1));
  EXPECT_EQ(health->findings(0).code(), "disk.space_low");
  ASSERT_THAT(health->recently_cleared(), SizeIs(1));
  EXPECT_EQ(health->recently_cleared(0).code(), "disk.inodes_low");
  EXPECT_TRUE(health->recently_cleared(0).has_cleared_at());
}

TEST_P(StoreTest, DeltaRaisesAndClearsOnce) {
  ASSERT_TRUE(store_->OpenSession(MakeHello("m1", "ws-1"), "p", kT0).ok());
  medic::v1::AgentMessage raise;
  raise.set_sequence(1);
  *raise.mutable_delta()->add_findings()->mutable_raised() = MakeFinding("disk.space_low", "/");
  ASSERT_TRUE(store_->Commit("m1", 7, raise, kT0).ok());
  raise.set_sequence(2);  // raised again (severity change): still one standing finding
  raise.mutable_delta()->mutable_findings(0)->mutable_raised()->set_severity(
      medic::v1::SEVERITY_CRITICAL);
  ASSERT_TRUE(store_->Commit("m1", 7, raise, kT0).ok());
  auto health = store_->GetMachineHealth("m1", kT0);
  ASSERT_THAT(health->findings(), SizeIs(1));
  EXPECT_EQ(health->findings(0).severity(), medic::v1::SEVERITY_CRITICAL);

  medic::v1::AgentMessage clear;
  clear.set_sequence(3);
  auto* cleared = clear.mutable_delta()->add_findings()->mutable_cleared();
  cleared->set_code("disk.space_low");
  cleared->set_resource("/");
  ASSERT_TRUE(store_->Commit("m1", 7, clear, kT0).ok());
  health = store_->GetMachineHealth("m1", kT0);
  EXPECT_THAT(health->findings(), SizeIs(0));
  EXPECT_THAT(health->recently_cleared(), SizeIs(1));
}

TEST_P(StoreTest, MachineGoesOfflineWhenSilentOrDisconnected) {
  auto session = store_->OpenSession(MakeHello("m1", "ws-1"), "p", kT0);
  ASSERT_TRUE(session.ok());
  auto state_at = [&](absl::Time now) {
    auto machines = store_->ListMachines(medic::v1::ListMachinesRequest(), now);
    return machines.ok() && machines->size() == 1 ? machines->front().state()
                                                  : medic::v1::MACHINE_STATE_UNSPECIFIED;
  };
  EXPECT_EQ(state_at(kT0 + absl::Seconds(10)), medic::v1::MACHINE_STATE_ONLINE);
  // No message for longer than offline_after.
  EXPECT_EQ(state_at(kT0 + absl::Seconds(46)), medic::v1::MACHINE_STATE_OFFLINE);
  // A heartbeat brings it back; closing the stream takes it away at once.
  ASSERT_TRUE(store_->Touch("m1", kT0 + absl::Seconds(50)).ok());
  EXPECT_EQ(state_at(kT0 + absl::Seconds(51)), medic::v1::MACHINE_STATE_ONLINE);
  ASSERT_TRUE(store_->CloseSession("m1", session->id, kT0 + absl::Seconds(52)).ok());
  EXPECT_EQ(state_at(kT0 + absl::Seconds(53)), medic::v1::MACHINE_STATE_OFFLINE);
}

TEST_P(StoreTest, OldStreamClosingLateDoesNotDisconnectTheNewOne) {
  auto old_session = store_->OpenSession(MakeHello("m1", "ws-1"), "p", kT0);
  auto new_session = store_->OpenSession(MakeHello("m1", "ws-1"), "p", kT0 + absl::Seconds(1));
  ASSERT_TRUE(old_session.ok() && new_session.ok());
  EXPECT_NE(old_session->id, new_session->id);
  // The reconnect won the race: the old stream's end arrives after the new hello.
  ASSERT_TRUE(store_->CloseSession("m1", old_session->id, kT0 + absl::Seconds(2)).ok());
  auto machines = store_->ListMachines({}, kT0 + absl::Seconds(3));
  ASSERT_TRUE(machines.ok());
  ASSERT_EQ(machines->size(), 1u);
  EXPECT_EQ(machines->front().state(), medic::v1::MACHINE_STATE_ONLINE);
}

TEST_P(StoreTest, ListMachinesFilters) {
  ASSERT_TRUE(store_->OpenSession(MakeHello("m1", "ws-1"), "p", kT0).ok());
  auto m2 = store_->OpenSession(MakeHello("m2", "ws-2"), "p", kT0);
  ASSERT_TRUE(m2.ok());
  ASSERT_TRUE(
      store_->Commit("m1", 7, Snapshot(1, "Debian 12", {MakeFinding("disk.space_low", "/")}), kT0)
          .ok());
  ASSERT_TRUE(store_->CloseSession("m2", m2->id, kT0).ok());

  auto names = [&](const medic::v1::ListMachinesRequest& r) {
    std::vector<std::string> out;
    absl::StatusOr<std::vector<medic::v1::Machine>> machines = store_->ListMachines(r, kT0);
    if (!machines.ok()) return out;
    for (const auto& m : *machines) out.push_back(m.hostname());
    return out;
  };
  medic::v1::ListMachinesRequest r;
  EXPECT_THAT(names(r), ElementsAre("ws-1", "ws-2"));
  r.set_state(medic::v1::MACHINE_STATE_OFFLINE);
  EXPECT_THAT(names(r), ElementsAre("ws-2"));
  r = {};
  r.set_finding_code("disk.space_low");
  EXPECT_THAT(names(r), ElementsAre("ws-1"));
  r = {};
  r.mutable_selector()->set_site("hq");  // from ws-1's topology
  EXPECT_THAT(names(r), ElementsAre("ws-1"));
  r = {};
  r.mutable_selector()->set_subnet("10.1.0.0/24");
  EXPECT_THAT(names(r), ElementsAre("ws-1"));
  r = {};
  r.mutable_selector()->add_hosts("m2");  // by machine id
  EXPECT_THAT(names(r), ElementsAre("ws-2"));
}

TEST_P(StoreTest, HealthOfUnknownOrAmbiguousHostSaysSo) {
  EXPECT_EQ(store_->GetMachineHealth("ghost", kT0).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->OpenSession(MakeHello("m1", "twin"), "p", kT0).ok());
  ASSERT_TRUE(store_->OpenSession(MakeHello("m2", "twin"), "p", kT0).ok());
  auto health = store_->GetMachineHealth("twin", kT0);
  EXPECT_EQ(health.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(health.status().message(), HasSubstr("m1"));
  EXPECT_THAT(health.status().message(), HasSubstr("m2"));
  EXPECT_TRUE(store_->GetMachineHealth("m2", kT0).ok());  // by id it is unambiguous
}

TEST_P(StoreTest, PruneHistoryDropsOldObservationsAndClearedFindings) {
  ASSERT_TRUE(store_->OpenSession(MakeHello("m1", "ws-1"), "p", kT0).ok());
  ASSERT_TRUE(
      store_->Commit("m1", 7, Snapshot(1, "Debian 12", {MakeFinding("disk.space_low", "/")}), kT0)
          .ok());
  ASSERT_TRUE(store_->Commit("m1", 7, Snapshot(2, "Debian 12", {}), kT0).ok());
  auto deleted = store_->PruneHistory(kT0 + absl::Hours(1));
  ASSERT_TRUE(deleted.ok());
  // Two observations, one cleared finding and the two records' rows in the delivery ledger.
  EXPECT_EQ(*deleted, 5);
  EXPECT_EQ(*store_->PruneHistory(kT0 + absl::Hours(1)), 0);
}

// The file-backed store: restart, and the files it must refuse.
class SqliteFileTest : public ::testing::Test {
 protected:
  medic::test::TempDir dir_;
};

TEST_P(StoreTest, DataSurvivesReopening) {
  ASSERT_TRUE(store_->OpenSession(MakeHello("m1", "ws-1"), "p", kT0).ok());
  ASSERT_TRUE(store_->Commit("m1", 7, Snapshot(1, "Debian 12", {}), kT0).ok());
  store_.reset();
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->ResetConnections().ok());
  auto health = store->GetMachineHealth("ws-1", kT0);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->machine().os(), "Debian 12");
  EXPECT_EQ(health->machine().state(), medic::v1::MACHINE_STATE_OFFLINE);
  EXPECT_EQ(store->OpenSession(MakeHello("m1", "ws-1"), "p", kT0)->resume_after, 1u);
}

TEST_P(StoreTest, IncidentsTicketsAndOutboxSurviveReopening) {
  medic::v1::Incident incident;
  incident.set_incident_id("I-12");
  incident.set_code("net.dns_failure");
  medic::v1::Ticket ticket;
  ticket.set_ticket_id("MED-12");
  ticket.set_incident_id("I-12");
  ticket.set_state(medic::v1::TICKET_STATE_OPEN);
  Store::OutboxEvent event{"MED-12/1/create", "MED-12", "create", "webhook", "{}"};
  ASSERT_TRUE(store_->SaveIncident(incident, &ticket, {event}).ok());
  // The same event queued again (a retried transaction) is still one event.
  ASSERT_TRUE(store_->SaveTicket(ticket, {event}).ok());
  store_.reset();
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->HighestIncidentNumber(), 12);
  ASSERT_EQ(store->ListIncidents(false)->size(), 1u);
  ASSERT_EQ(store->ListTickets(medic::v1::TICKET_STATE_OPEN)->size(), 1u);
  EXPECT_TRUE(store->ListTickets(medic::v1::TICKET_STATE_RESOLVED)->empty());
  auto due = store->DueOutbox(absl::Now(), 10);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].event.idempotency_key, "MED-12/1/create");
  ASSERT_TRUE(store->OutboxDelivered((*due)[0].id, absl::Now(), "MEDIC-7").ok());
  EXPECT_EQ(store->GetTicket("MED-12")->external_ref(), "MEDIC-7");
  EXPECT_EQ(*store->OutboxPending(), 0);
  // The engine's thread read the ticket before the helpdesk's key arrived and writes it back:
  // the key stays, or the helpdesk could never be updated or closed.
  ticket.set_state(medic::v1::TICKET_STATE_RESOLVED);
  ASSERT_TRUE(store->SaveTicket(ticket, {}).ok());
  EXPECT_EQ(store->GetTicket("MED-12")->external_ref(), "MEDIC-7");
  EXPECT_EQ(store->GetTicket("MED-12")->state(), medic::v1::TICKET_STATE_RESOLVED);
}

TEST_F(SqliteFileTest, MissingDirectoryIsNamed) {
  auto store = OpenSqliteStore(dir_.File("no/such/dir/collector.db"), {});
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("no/such/dir/collector.db"));
  EXPECT_THAT(store.status().message(), HasSubstr("--db"));
}

TEST_F(SqliteFileTest, FileThatIsNotADatabaseIsRefusedAndLeftAlone) {
  const std::string path = dir_.File("notes.txt");
  const std::string contents(8192, 'x');
  medic::test::WriteFile(path, contents);
  auto store = OpenSqliteStore(path, {});
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("not a Medic database"));
  EXPECT_EQ(medic::test::RunCommand({"/usr/bin/cat", path}).out, contents);
}

TEST_F(SqliteFileTest, ForeignSqliteDatabaseIsRefused) {
  const std::string path = dir_.File("other.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE recipes (name TEXT)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = OpenSqliteStore(path, {});
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("not Medic's"));
}

TEST_F(SqliteFileTest, NewerSchemaIsRefused) {
  const std::string path = dir_.File("future.db");
  ASSERT_TRUE(OpenSqliteStore(path, {}).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = OpenSqliteStore(path, {});
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("schema version 99"));
}

// The console's charts: one series per observation name and resource, oldest point first,
// only the names asked for and only since the time asked for, with the unit of the latest
// report.
TEST_P(StoreTest, MachineHistoryBySeriesSinceATime) {
  ASSERT_TRUE(store_->OpenSession(MakeHello("m1", "ws-1"), "p", kT0).ok());
  uint64_t sequence = 0;
  auto report = [&](absl::Time at, double root_free, double dns_ms) {
    medic::v1::AgentMessage m;
    m.set_sequence(++sequence);
    auto* r = m.mutable_delta()->add_reports();
    r->set_probe("filesystems");
    *r->mutable_collected_at() = common::ToProtoTime(at);
    for (auto [metric, resource, value, unit] :
         {std::tuple{"fs.free_bytes", "/", root_free, "bytes"},
          std::tuple{"fs.free_bytes", "/home", root_free * 2, "bytes"},
          std::tuple{"dns.answer_ms", "10.0.0.53", dns_ms, "ms"}}) {
      auto* o = r->add_observations();
      o->set_metric(metric);
      o->set_resource(resource);
      o->set_value(value);
      o->set_unit(unit);
    }
    ASSERT_TRUE(store_->Commit("m1", 7, m, at).ok());
  };
  report(kT0 - absl::Hours(30), 1, 1);  // older than asked for
  report(kT0 - absl::Hours(2), 300, 12);
  report(kT0 - absl::Hours(1), 200, 15);

  auto history = store_->GetMachineHistory("ws-1", kT0 - absl::Hours(24), {"fs.free_bytes"});
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(history->machine_id(), "m1");
  ASSERT_EQ(history->series_size(), 2) << history->DebugString();
  const auto& root = history->series(0);
  EXPECT_EQ(root.metric(), "fs.free_bytes");
  EXPECT_EQ(root.resource(), "/");
  EXPECT_EQ(root.unit(), "bytes");
  ASSERT_EQ(root.points_size(), 2);
  EXPECT_EQ(root.points(0).value(), 300);
  EXPECT_EQ(common::FromProtoTime(root.points(0).at()), kT0 - absl::Hours(2));
  EXPECT_EQ(root.points(1).value(), 200);
  EXPECT_EQ(history->series(1).resource(), "/home");

  auto all = store_->GetMachineHistory("m1", kT0 - absl::Hours(48), {});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->series_size(), 3);
  EXPECT_EQ(all->series(0).metric(), "dns.answer_ms");
  EXPECT_EQ(all->series(0).points_size(), 3);

  EXPECT_EQ(store_->GetMachineHistory("ws-9", kT0, {}).status().code(),
            absl::StatusCode::kNotFound);
}

// Security state (shared by replicas on PostgreSQL): tokens found by their secret's hash,
// revoked once; the first admin token made once; an enrollment token's uses counted with the
// certificate it paid for, and refused when used up; revocations listed by time; the audit log
// filtered, newest first.
TEST_P(StoreTest, TokensCertificatesAndAuditAreKept) {
  Store::ApiToken token;
  token.name = "admin";
  token.role = medic::v1::ROLE_ADMIN;
  token.secret_hash = "hash-admin";
  token.created = kT0;
  auto first = store_->AddApiToken(token, /*only_if_first=*/true);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_GT(*first, 0);
  token.secret_hash = "hash-second-admin";
  EXPECT_EQ(*store_->AddApiToken(token, /*only_if_first=*/true), 0);  // there is one already
  token.name = "vera";
  token.role = medic::v1::ROLE_VIEWER;
  token.secret_hash = "hash-vera";
  token.expires = kT0 + absl::Hours(1);
  auto vera = store_->AddApiToken(token);
  ASSERT_TRUE(vera.ok()) << vera.status();
  EXPECT_EQ(store_->AddApiToken(token).status().code(), absl::StatusCode::kAlreadyExists);

  auto found = store_->FindApiToken("hash-vera");
  ASSERT_TRUE(found.ok() && found->has_value()) << found.status();
  EXPECT_EQ((*found)->id, *vera);
  EXPECT_EQ((*found)->role, medic::v1::ROLE_VIEWER);
  EXPECT_EQ((*found)->expires, kT0 + absl::Hours(1));
  EXPECT_FALSE((*found)->revoked.has_value());
  EXPECT_FALSE(store_->FindApiToken("hash-nobody")->has_value());
  EXPECT_TRUE(*store_->RevokeApiToken(*vera, kT0 + absl::Minutes(1)));
  EXPECT_FALSE(*store_->RevokeApiToken(*vera, kT0 + absl::Minutes(2)));  // once
  EXPECT_EQ((*store_->FindApiToken("hash-vera"))->revoked, kT0 + absl::Minutes(1));
  EXPECT_THAT(*store_->ListApiTokens(), SizeIs(2));

  Store::EnrollmentToken enroll;
  enroll.name = "batch";
  enroll.secret_hash = "hash-enroll";
  enroll.created = kT0;
  enroll.max_uses = 1;
  auto enroll_id = store_->AddEnrollmentToken(enroll);
  ASSERT_TRUE(enroll_id.ok()) << enroll_id.status();
  Store::AgentCertificate cert;
  cert.serial = "01";
  cert.machine_id = "m1";
  cert.fingerprint = "aa";
  cert.issued = kT0;
  cert.not_after = kT0 + absl::Hours(24);
  ASSERT_TRUE(store_->AddCertificate(cert, *enroll_id).ok());
  EXPECT_EQ((*store_->FindEnrollmentToken("hash-enroll"))->uses, 1u);
  cert.serial = "02";
  cert.machine_id = "m2";
  EXPECT_EQ(store_->AddCertificate(cert, *enroll_id).code(),
            absl::StatusCode::kFailedPrecondition);  // used up: nothing kept
  EXPECT_FALSE(store_->FindCertificate("02")->has_value());
  EXPECT_TRUE(*store_->HasLiveCertificate("m1", kT0 + absl::Hours(1)));
  EXPECT_FALSE(*store_->HasLiveCertificate("m1", kT0 + absl::Hours(25)));  // expired

  EXPECT_EQ(*store_->RevokeCertificates("m1", kT0 + absl::Hours(2)), 1);
  EXPECT_EQ(*store_->RevokeCertificates("m1", kT0 + absl::Hours(3)), 0);
  EXPECT_FALSE(*store_->HasLiveCertificate("m1", kT0 + absl::Hours(2)));
  EXPECT_EQ((*store_->FindCertificate("01"))->revoked, kT0 + absl::Hours(2));
  EXPECT_THAT(*store_->CertificatesRevokedSince(kT0 + absl::Hours(1)), SizeIs(1));
  EXPECT_THAT(*store_->CertificatesRevokedSince(kT0 + absl::Hours(3)), SizeIs(0));

  ASSERT_TRUE(store_->SetIdentityAlert("m1", "cloned", kT0).ok());
  ASSERT_TRUE(store_->SetIdentityAlert("m1", "cloned again", kT0 + absl::Hours(1)).ok());
  EXPECT_EQ((*store_->GetIdentityAlert("m1"))->alert, "cloned again");
  EXPECT_FALSE(store_->GetIdentityAlert("m2")->has_value());

  for (const auto& [minute, actor, action] :
       {std::tuple{1, "tom (tok-3)", "UpdateTicket"}, std::tuple{2, "vera (tok-2)", "ListMachines"},
        std::tuple{3, "tom (tok-3)", "RunDiagnostic"}}) {
    medic::v1::AuditEntry e;
    *e.mutable_at() = common::ToProtoTime(kT0 + absl::Minutes(minute));
    e.set_actor(actor);
    e.set_action(action);
    e.set_target("MED-1");
    e.set_result("ok");
    ASSERT_TRUE(store_->AppendAudit(e).ok());
  }
  medic::v1::ListAuditRequest request;
  auto all = store_->ListAudit(request);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_THAT(*all, SizeIs(3));
  EXPECT_EQ((*all)[0].action(), "RunDiagnostic");  // newest first
  request.set_actor("tom");
  EXPECT_THAT(*store_->ListAudit(request), SizeIs(2));
  request.set_action("UpdateTicket");
  EXPECT_THAT(*store_->ListAudit(request), SizeIs(1));
  request.Clear();
  *request.mutable_since() = common::ToProtoTime(kT0 + absl::Minutes(2));
  request.set_limit(1);
  auto since = store_->ListAudit(request);
  ASSERT_THAT(*since, SizeIs(1));
  EXPECT_EQ((*since)[0].action(), "RunDiagnostic");

  // All of it survives a restart.
  store_.reset();
  store_ = Open();
  EXPECT_EQ((*store_->FindApiToken("hash-vera"))->revoked, kT0 + absl::Minutes(1));
  EXPECT_THAT(*store_->ListAudit({}), SizeIs(3));
}

}  // namespace
}  // namespace medic::collector
