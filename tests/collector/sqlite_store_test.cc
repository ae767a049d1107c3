#include <sqlite3.h>

#include <latch>
#include <map>
#include <thread>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "collector/store/report_history.h"
#include "collector/store/store.h"
#include "common/strings/str_cat.h"
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
  // Two reports' history (a row each), one cleared finding and the two records' rows in the
  // delivery ledger.
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

// Two collectors (or a collector and `medic-collector --check`) started on one new file at the
// same moment: each finds either an empty file it migrates or a current one, never half of it.
TEST_F(SqliteFileTest, ConcurrentOpensOfANewFileMigrateItOnce) {
  for (int round = 0; round < 5; ++round) {
    const std::string path = dir_.File("together-" + std::to_string(round) + ".db");
    std::vector<absl::Status> results(6);
    std::vector<std::thread> threads;
    for (auto& result : results) {
      threads.emplace_back([&path, &result] { result = OpenSqliteStore(path, {}).status(); });
    }
    for (auto& t : threads) t.join();
    for (const auto& result : results) EXPECT_TRUE(result.ok()) << path << ": " << result;
  }
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

// A fleet's history as the agents sent it: several machines and probes, resources, a metric
// with and without a resource, two probes reporting at the same millisecond, a report stored
// twice (a snapshot repeating the latest report), values a float could not hold.
struct SentReport {
  std::string machine_id;
  medic::v1::ProbeReport report;
};
std::vector<SentReport> FleetHistory() {
  std::vector<SentReport> sent;
  auto add = [&](std::string machine, std::string probe, absl::Time at,
                 std::vector<std::tuple<std::string, std::string, double, std::string>> obs) {
    SentReport r{std::move(machine), {}};
    r.report.set_probe(std::move(probe));
    *r.report.mutable_collected_at() = common::ToProtoTime(at);
    for (auto& [metric, resource, value, unit] : obs) {
      auto* o = r.report.add_observations();
      o->set_metric(metric);
      o->set_resource(resource);
      o->set_value(value);
      o->set_unit(unit);
    }
    sent.push_back(std::move(r));
  };
  for (int i = 0; i < 4; ++i) {
    const absl::Time at = kT0 - absl::Hours(4 - i);
    const double k = i + 1;
    add("m1", "filesystems", at,
        {{"fs.free_bytes", "/", 123456789.125 * k, "bytes"},
         {"fs.free_bytes", "/home", 987654321.5 * k, "bytes"},
         {"fs.used_pct", "/", 40.0625 + k, "pct"}});
    add("m1", "cpu", at, {{"cpu.usage_pct", "", 12.5 * k, "pct"}, {"cpu.load1", "", k, "count"}});
    add("m1", "network", at + absl::Milliseconds(7),
        {{"dns.answer_ms", "10.0.0.53", 3.25 * k, "ms"}, {"dns.answer_ms", "1.1.1.1", k, "ms"}});
    add("m2", "filesystems", at + absl::Seconds(1), {{"fs.free_bytes", "/", 5e9 + k, "bytes"}});
  }
  sent.push_back(sent.back());  // stored twice
  // The latest cpu report no longer has cpu.load1: its series keeps its points, without unit.
  add("m1", "cpu", kT0, {{"cpu.usage_pct", "", 99.75, "pct"}});
  return sent;
}

// Commits each report as a delta, in order.
void CommitAll(Store& store, const std::vector<SentReport>& sent) {
  std::map<std::string, uint64_t> sequence;
  for (const auto& [id, hostname] : {std::pair{"m1", "ws-1"}, std::pair{"m2", "ws-2"}}) {
    ASSERT_TRUE(store.OpenSession(MakeHello(id, hostname), "p", kT0).ok());
  }
  for (const SentReport& r : sent) {
    medic::v1::AgentMessage m;
    m.set_sequence(++sequence[r.machine_id]);
    *m.mutable_delta()->add_reports() = r.report;
    ASSERT_TRUE(store.Commit(r.machine_id, 7, m, kT0).ok());
  }
}

// One series per name and resource across probes, sorted by name then resource, points oldest
// first with their exact values, only the names asked for, only since the time asked for, and
// never another machine's.
TEST_P(StoreTest, MachineHistoryAcrossProbesResourcesAndMetricFilter) {
  CommitAll(*store_, FleetHistory());
  auto all = store_->GetMachineHistory("ws-1", kT0 - absl::Hours(24), {});
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<std::tuple<std::string, std::string, std::string, int>> shape;
  for (const auto& series : all->series()) {
    shape.emplace_back(series.metric(), series.resource(), series.unit(), series.points_size());
  }
  EXPECT_THAT(shape, ElementsAre(std::tuple("cpu.load1", "", "", 4),
                                 std::tuple("cpu.usage_pct", "", "pct", 5),
                                 std::tuple("dns.answer_ms", "1.1.1.1", "ms", 4),
                                 std::tuple("dns.answer_ms", "10.0.0.53", "ms", 4),
                                 std::tuple("fs.free_bytes", "/", "bytes", 4),
                                 std::tuple("fs.free_bytes", "/home", "bytes", 4),
                                 std::tuple("fs.used_pct", "/", "pct", 4)));
  const auto& home = all->series(5);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(home.points(i).value(), 987654321.5 * (i + 1));
    EXPECT_EQ(common::FromProtoTime(home.points(i).at()), kT0 - absl::Hours(4 - i));
  }
  EXPECT_EQ(all->series(1).points(4).value(), 99.75);
  EXPECT_EQ(common::FromProtoTime(all->series(2).points(0).at()),
            kT0 - absl::Hours(4) + absl::Milliseconds(7));

  // Since is inclusive: the report at exactly kT0 - 2h is in.
  auto some = store_->GetMachineHistory("m1", kT0 - absl::Hours(2),
                                        {"fs.free_bytes", "cpu.usage_pct", "no.such_metric"});
  ASSERT_TRUE(some.ok()) << some.status();
  ASSERT_EQ(some->series_size(), 3) << some->DebugString();
  EXPECT_EQ(some->series(0).metric(), "cpu.usage_pct");
  EXPECT_EQ(some->series(0).points_size(), 3);
  EXPECT_EQ(some->series(1).resource(), "/");
  ASSERT_EQ(some->series(1).points_size(), 2);
  EXPECT_EQ(some->series(1).points(0).value(), 123456789.125 * 3);
  EXPECT_EQ(some->series(2).resource(), "/home");

  // m2's report stored twice shows twice, as every stored report does.
  auto other = store_->GetMachineHistory("ws-2", kT0 - absl::Hours(24), {});
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_EQ(other->series_size(), 1);
  ASSERT_EQ(other->series(0).points_size(), 5);
  EXPECT_EQ(other->series(0).points(4).value(), 5e9 + 4);

  // Pruning drops whole reports older than the cutoff and nothing newer.
  ASSERT_TRUE(store_->PruneHistory(kT0 - absl::Minutes(150)).ok());
  auto pruned = store_->GetMachineHistory("ws-1", kT0 - absl::Hours(24), {"fs.used_pct"});
  ASSERT_TRUE(pruned.ok());
  ASSERT_EQ(pruned->series_size(), 1);
  EXPECT_EQ(pruned->series(0).points_size(), 2);
}

// A database from before report_history, with observations as one row each, is converted when
// the store opens it: every machine's history answers exactly as if the same reports had been
// committed by this store, and the old table is gone.
TEST_P(StoreTest, MigrationConvertsOldObservationRows) {
  const bool pg = GetParam() == "postgresql";
  std::string old_db;
  if (pg) {
    auto uri = Cluster()->CreateDatabase();
    ASSERT_TRUE(uri.ok()) << uri.status();
    old_db = *uri;
    ASSERT_TRUE(CreatePostgresSchemaBeforeReportHistory(old_db).ok());
  } else {
    old_db = dir_.File("old.db");
    ASSERT_TRUE(CreateSqliteSchemaBeforeReportHistory(old_db).ok());
  }
  auto exec = [&](const std::string& sql) {
    if (pg) {
      auto out = Cluster()->Psql(old_db.substr(old_db.rfind('/') + 1), sql);
      ASSERT_TRUE(out.ok()) << out.status();
      return;
    }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(old_db.c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    const std::string message = error != nullptr ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << message;
  };
  auto blob = [&](const std::string& bytes) {
    const std::string hex = absl::BytesToHexString(bytes);
    return pg ? common::StrCat("decode('", hex, "', 'hex')") : common::StrCat("X'", hex, "'");
  };
  // What the previous collector wrote for these reports: a row per observation, and the
  // latest report of each probe.
  const std::vector<SentReport> sent = FleetHistory();
  std::string sql =
      "INSERT INTO machines (machine_id, hostname, first_seen_ms, last_seen_ms) VALUES "
      "('m1', 'ws-1', 0, 0), ('m2', 'ws-2', 0, 0);";
  std::map<std::pair<std::string, std::string>, const medic::v1::ProbeReport*> latest;
  for (const SentReport& r : sent) {
    latest[{r.machine_id, r.report.probe()}] = &r.report;
    for (const auto& o : r.report.observations()) {
      sql += absl::StrFormat(
          "INSERT INTO observations (machine_id, metric, resource, at_ms, value) "
          "VALUES ('%s', '%s', '%s', %d, %.17g);",
          r.machine_id, o.metric(), o.resource(),
          absl::ToUnixMillis(common::FromProtoTime(r.report.collected_at())), o.value());
    }
  }
  for (const auto& [key, report] : latest) {
    sql += common::StrCat(
        "INSERT INTO probe_reports (machine_id, probe, collected_at_ms, report) VALUES ('",
        key.first, "', '", key.second, "', 0, ", blob(report->SerializeAsString()), ");");
  }
  exec(sql);

  auto migrated = pg ? OpenPostgresStore(old_db, {}) : OpenSqliteStore(old_db, {});
  ASSERT_TRUE(migrated.ok()) << migrated.status();
  CommitAll(*store_, sent);  // the same reports, committed by this store
  int compared_points = 0;
  for (const auto& [host, since, metrics] :
       std::vector<std::tuple<std::string, absl::Time, std::vector<std::string>>>{
           {"ws-1", kT0 - absl::Hours(24), {}},
           {"m1", kT0 - absl::Hours(2), {"fs.free_bytes", "dns.answer_ms"}},
           {"ws-2", kT0 - absl::Hours(24), {}},
           {"ws-2", kT0 + absl::Hours(1), {}}}) {
    auto expected = store_->GetMachineHistory(host, since, metrics);
    auto actual = (*migrated)->GetMachineHistory(host, since, metrics);
    ASSERT_TRUE(expected.ok()) << expected.status();
    ASSERT_TRUE(actual.ok()) << actual.status();
    EXPECT_EQ(actual->DebugString(), expected->DebugString()) << host;
    for (const auto& series : actual->series()) compared_points += series.points_size();
  }
  EXPECT_EQ(compared_points, 29 + 8 + 5);
  // The converted rows are pruned like new ones: a row per report, except that what one
  // machine reported at one millisecond (two probes' reports; a report stored twice) became one.
  EXPECT_EQ(*(*migrated)->PruneHistory(kT0 + absl::Hours(1)), 4 * 2 + 1 + 4);
  migrated->reset();
  if (pg) {
    auto gone = Cluster()->Psql(old_db.substr(old_db.rfind('/') + 1),
                                "SELECT to_regclass('observations') IS NULL");
    ASSERT_TRUE(gone.ok());
    EXPECT_EQ(gone->substr(0, 1), "t");
  } else {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(old_db.c_str(), &db), SQLITE_OK);
    EXPECT_NE(sqlite3_exec(db, "SELECT * FROM observations", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
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

  // One live certificate per machine: a second enrollment of m1 is refused and costs no use.
  Store::EnrollmentToken fleet;
  fleet.name = "fleet";
  fleet.secret_hash = "hash-fleet";
  fleet.created = kT0;
  auto unlimited = store_->AddEnrollmentToken(fleet);
  ASSERT_TRUE(unlimited.ok()) << unlimited.status();
  cert.serial = "03";
  cert.machine_id = "m1";
  cert.issued = kT0 + absl::Minutes(5);
  EXPECT_EQ(store_->AddCertificate(cert, *unlimited).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(store_->FindCertificate("03")->has_value());
  EXPECT_EQ((*store_->FindEnrollmentToken("hash-fleet"))->uses, 0u);
  // A renewal of a live certificate is kept.
  cert.serial = "04";
  ASSERT_TRUE(store_->AddCertificate(cert, 0, "01").ok());

  EXPECT_EQ(*store_->RevokeCertificates("m1", kT0 + absl::Hours(2)), 2);
  EXPECT_EQ(*store_->RevokeCertificates("m1", kT0 + absl::Hours(3)), 0);
  // A renewal that lost the race with a revocation is not kept.
  cert.serial = "05";
  cert.issued = kT0 + absl::Hours(2);
  EXPECT_EQ(store_->AddCertificate(cert, 0, "04").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(store_->FindCertificate("05")->has_value());
  EXPECT_FALSE(*store_->HasLiveCertificate("m1", kT0 + absl::Hours(2)));
  EXPECT_EQ((*store_->FindCertificate("01"))->revoked, kT0 + absl::Hours(2));
  EXPECT_THAT(*store_->CertificatesRevokedSince(kT0 + absl::Hours(1)), SizeIs(2));
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

// Enrollments of one machine id at the same moment (two replicas, or one replica's threads):
// exactly one certificate is kept, whatever the interleaving.
TEST_P(StoreTest, ConcurrentEnrollmentsOfOneMachineKeepOneCertificate) {
  Store::EnrollmentToken fleet;
  fleet.name = "fleet";
  fleet.secret_hash = "hash-race";
  fleet.created = kT0;
  auto token = store_->AddEnrollmentToken(fleet);
  ASSERT_TRUE(token.ok()) << token.status();
  constexpr int kRounds = 10;
  for (int round = 0; round < kRounds; ++round) {
    const std::string machine = common::StrCat("m-race-", round);
    std::vector<absl::Status> results(8);
    std::latch start(static_cast<std::ptrdiff_t>(results.size()));
    std::vector<std::thread> threads;
    for (size_t i = 0; i < results.size(); ++i) {
      threads.emplace_back([&, i] {
        Store::AgentCertificate cert;
        cert.serial = common::StrCat(machine, "-", i);
        cert.machine_id = machine;
        cert.fingerprint = "ff";
        cert.issued = kT0;
        cert.not_after = kT0 + absl::Hours(24);
        start.arrive_and_wait();  // all at once, to overlap the transactions
        results[i] = store_->AddCertificate(cert, *token);
      });
    }
    for (auto& t : threads) t.join();
    int kept = 0;
    for (const auto& result : results) {
      if (result.ok()) {
        ++kept;
      } else {
        EXPECT_EQ(result.code(), absl::StatusCode::kAlreadyExists) << result;
      }
    }
    EXPECT_EQ(kept, 1) << machine;
  }
  EXPECT_EQ((*store_->FindEnrollmentToken("hash-race"))->uses, static_cast<uint32_t>(kRounds));
}

}  // namespace
}  // namespace medic::collector
