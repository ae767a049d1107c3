// What only the PostgreSQL store has to get right: replicas sharing one database (migrating
// together, disconnecting only their own machines, queuing one event once), lost connections,
// and databases it must refuse. The contract it shares with SQLite is in sqlite_store_test.cc.

#include <algorithm>
#include <thread>

#include "collector/store/store.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/postgres_fixture.h"
#include "tests/support/process.h"

namespace medic::collector {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

medic::v1::Hello MakeHello(std::string id, std::string hostname, uint64_t epoch = 7) {
  medic::v1::Hello hello;
  hello.set_machine_id(std::move(id));
  hello.set_hostname(std::move(hostname));
  hello.set_epoch(epoch);
  return hello;
}

medic::v1::AgentMessage Snapshot(uint64_t sequence, std::string os_name) {
  medic::v1::AgentMessage m;
  m.set_sequence(sequence);
  *m.mutable_sent_at() = common::ToProtoTime(kT0);
  auto* report = m.mutable_snapshot()->add_reports();
  report->set_probe("os");
  report->mutable_os()->set_name(std::move(os_name));
  return m;
}

class PgStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = medic::test::PostgresCluster::Start();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
  }
  static void TearDownTestSuite() { cluster_.reset(); }

  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    auto uri = cluster_->CreateDatabase();
    ASSERT_TRUE(uri.ok()) << uri.status();
    uri_ = *uri;
    database_ = uri_.substr(uri_.rfind('/') + 1);
  }

  std::unique_ptr<Store> Replica(std::string name) {
    StoreOptions options;
    options.replica = std::move(name);
    auto store = OpenPostgresStore(uri_, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  static inline std::unique_ptr<medic::test::PostgresCluster> cluster_;
  std::string uri_;
  std::string database_;
};

TEST_F(PgStoreTest, ReplicasStartingTogetherCreateTheSchemaOnce) {
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { results[i] = OpenPostgresStore(uri_, {}).status(); });
  }
  for (auto& t : threads) t.join();
  for (const auto& s : results) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(*cluster_->Psql(database_, "SELECT count(*) FROM medic_schema"), "1\n");
}

TEST_F(PgStoreTest, DatabaseOfAnotherApplicationIsRefusedAndNamed) {
  ASSERT_TRUE(cluster_->Psql(database_, "CREATE TABLE recipes (name TEXT)").ok());
  auto store = OpenPostgresStore(uri_, {});
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("no Medic schema"));
  EXPECT_THAT(store.status().message(),
              HasSubstr(medic::common::StrCat("127.0.0.1:", cluster_->port(), "/", database_)));
  EXPECT_EQ(*cluster_->Psql(database_,
                            "SELECT count(*) FROM pg_tables WHERE schemaname = "
                            "'public'"),
            "1\n");
}

TEST_F(PgStoreTest, NewerSchemaIsRefused) {
  ASSERT_NE(Replica("a"), nullptr);
  ASSERT_TRUE(cluster_->Psql(database_, "UPDATE medic_schema SET version = 99").ok());
  auto store = OpenPostgresStore(uri_, {});
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("schema version 99"));
}

TEST_F(PgStoreTest, UnreachableServerIsNamed) {
  const int port = medic::test::FreePort();
  auto store =
      OpenPostgresStore(medic::common::StrCat("postgresql://postgres@127.0.0.1:", port, "/x"), {});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(store.status().message(), HasSubstr(medic::common::StrCat("127.0.0.1:", port)));
}

// A failover (or a restarted server) drops every connection: the next call reconnects and
// nothing committed is lost.
TEST_F(PgStoreTest, LostConnectionsAreReconnected) {
  auto store = Replica("a");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->OpenSession(MakeHello("m1", "ws-1"), "p", kT0).ok());
  ASSERT_TRUE(store->Commit("m1", 7, Snapshot(1, "Debian 12"), kT0).ok());
  auto killed = cluster_->Psql("postgres",
                               medic::common::StrCat("SELECT count(pg_terminate_backend(pid)) FROM "
                                                     "pg_stat_activity WHERE datname = '",
                                                     database_, "'"));
  ASSERT_TRUE(killed.ok()) << killed.status();
  ASSERT_NE(*killed, "0\n");
  EXPECT_TRUE(store->Commit("m1", 7, Snapshot(2, "Debian 13"), kT0).ok());
  auto health = store->GetMachineHealth("ws-1", kT0);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->machine().os(), "Debian 13");
  EXPECT_EQ(store->OpenSession(MakeHello("m1", "ws-1"), "p", kT0)->resume_after, 2u);
}

TEST_F(PgStoreTest, RestartingReplicaDisconnectsOnlyItsOwnMachines) {
  auto a = Replica("a");
  auto b = Replica("b");
  ASSERT_TRUE(a != nullptr && b != nullptr);
  ASSERT_TRUE(a->OpenSession(MakeHello("m1", "ws-1"), "p", kT0).ok());
  ASSERT_TRUE(b->OpenSession(MakeHello("m2", "ws-2"), "p", kT0).ok());
  a.reset();
  a = Replica("a");
  ASSERT_TRUE(a->ResetConnections().ok());
  EXPECT_EQ(b->GetMachineHealth("ws-1", kT0)->machine().state(), medic::v1::MACHINE_STATE_OFFLINE);
  EXPECT_EQ(a->GetMachineHealth("ws-2", kT0)->machine().state(), medic::v1::MACHINE_STATE_ONLINE);
}

// Agents of one batch on replica A and of another on replica B commit at the same time: every
// record lands once.
TEST_F(PgStoreTest, ReplicasCommitBatchesConcurrently) {
  auto a = Replica("a");
  auto b = Replica("b");
  ASSERT_TRUE(a != nullptr && b != nullptr);
  constexpr int kMachines = 20;
  for (int m = 0; m < kMachines; ++m) {
    Store& replica = m % 2 == 0 ? *a : *b;
    ASSERT_TRUE(
        replica
            .OpenSession(MakeHello(medic::common::StrCat("m", m), medic::common::StrCat("ws-", m)),
                         "p", kT0)
            .ok());
  }
  std::vector<medic::v1::AgentMessage> records;
  for (int s = 1; s <= 10; ++s) records.push_back(Snapshot(s, medic::common::StrCat("v", s)));
  auto run = [&](Store& replica, int parity) {
    for (int s = 0; s < 10; ++s) {
      std::vector<Store::PendingRecord> batch;
      for (int m = parity; m < kMachines; m += 2) {
        batch.push_back({medic::common::StrCat("m", m), 7, &records[s], kT0});
      }
      for (const auto& r : replica.CommitBatch(batch)) EXPECT_TRUE(r.ok()) << r;
    }
  };
  std::thread ta([&] { run(*a, 0); });
  std::thread tb([&] { run(*b, 1); });
  ta.join();
  tb.join();
  EXPECT_EQ(*cluster_->Psql(database_,
                            "SELECT count(*), count(DISTINCT (machine_id, sequence)) "
                            "FROM delivered"),
            "200|200\n");
  EXPECT_EQ(a->GetMachineHealth("ws-3", kT0)->machine().os(), "v10");
}

// Two replicas queue the same ticket event (one retried a transaction another had finished):
// the helpdesk gets it once.
TEST_F(PgStoreTest, SameOutboxEventFromTwoReplicasIsQueuedOnce) {
  auto a = Replica("a");
  auto b = Replica("b");
  ASSERT_TRUE(a != nullptr && b != nullptr);
  medic::v1::Ticket ticket;
  ticket.set_ticket_id("MED-1");
  ticket.set_incident_id("I-1");
  Store::OutboxEvent event{"MED-1:1:create", "MED-1", "create", "webhook", "{}"};
  std::thread ta([&] { EXPECT_TRUE(a->SaveTicket(ticket, {event}).ok()); });
  std::thread tb([&] { EXPECT_TRUE(b->SaveTicket(ticket, {event}).ok()); });
  ta.join();
  tb.join();
  EXPECT_EQ(*a->OutboxPending(), 1);
  EXPECT_EQ(b->DueOutbox(absl::Now(), 10)->size(), 1u);
}

// A diagnostic queued through one replica is handed to the machine once, by the replica that
// holds its stream.
TEST_F(PgStoreTest, QueuedDiagnosticIsTakenByOneReplicaOnly) {
  auto a = Replica("a");
  auto b = Replica("b");
  ASSERT_TRUE(a != nullptr && b != nullptr);
  Store::QueuedDiagnostic q;
  q.run_id = "D-1";
  q.machine_id = "m1";
  q.hostname = "ws-1";
  q.queued_until = kT0 + absl::Hours(1);
  ASSERT_TRUE(b->OpenSession(MakeHello("m1", "ws-1"), "p", kT0).ok());
  ASSERT_TRUE(a->QueueDiagnostic(q).ok());
  // m1's stream is on B: A (which queued it) does not take it, B does, once.
  auto by_a = a->TakeQueuedDiagnostics("m1", kT0);
  auto by_b = b->TakeQueuedDiagnostics("m1", kT0);
  auto again = b->TakeQueuedDiagnostics("m1", kT0);
  ASSERT_TRUE(by_a.ok() && by_b.ok() && again.ok());
  EXPECT_TRUE(by_a->empty());
  EXPECT_EQ(by_b->size(), 1u);
  EXPECT_TRUE(again->empty());
  medic::v1::DiagnosticResult result;
  ASSERT_TRUE(b->SaveQueuedResult("D-1", "m1", result).ok());
  auto run = a->QueuedRun("D-1");
  ASSERT_EQ(run->size(), 1u);
  EXPECT_TRUE((*run)[0].result.has_value());
}

// A replica's former security.db moved into the shared database: everything once, a repeat
// (a crash between the import and the file's rename) adds nothing, tokens get new ids.
TEST_F(PgStoreTest, SecurityStateIsImportedOnce) {
  std::unique_ptr<Store> db = Replica("r1");
  Store::ApiToken here;
  here.name = "admin";
  here.role = medic::v1::ROLE_ADMIN;
  here.secret_hash = "hash-a";
  here.created = kT0;
  ASSERT_TRUE(db->AddApiToken(here).ok());

  Store::SecurityState state;
  state.api_tokens.push_back(here);  // the same secret: skipped
  Store::ApiToken other = here;
  other.id = 1;
  other.name = "old";
  other.secret_hash = "hash-b";
  state.api_tokens.push_back(other);
  Store::AgentCertificate cert;
  cert.serial = "0f";
  cert.machine_id = "m1";
  cert.fingerprint = "aa";
  cert.issued = kT0;
  cert.not_after = kT0 + absl::Hours(1);
  cert.revoked = kT0 + absl::Minutes(5);
  state.certificates.push_back(cert);
  state.identity_alerts.push_back({"m1", "cloned", kT0});
  medic::v1::AuditEntry entry;
  *entry.mutable_at() = common::ToProtoTime(kT0);
  entry.set_actor("admin (tok-1)");
  entry.set_action("CreateApiToken");
  entry.set_result("ok");
  state.audit.push_back(entry);

  auto added = db->ImportSecurityState(state);
  ASSERT_TRUE(added.ok()) << added.status();
  ASSERT_EQ(added->api_tokens.size(), 1u);
  EXPECT_EQ(added->api_tokens[0].name, "old");
  EXPECT_GT(added->api_tokens[0].id, 1);  // the database's own id, not the file's
  EXPECT_EQ((*db->FindApiToken("hash-b"))->id, added->api_tokens[0].id);
  EXPECT_EQ(added->certificates.size(), 1u);
  EXPECT_EQ(added->audit.size(), 1u);
  EXPECT_EQ((*db->FindCertificate("0f"))->revoked, kT0 + absl::Minutes(5));

  auto again = Replica("r2")->ImportSecurityState(state);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->api_tokens.empty());
  EXPECT_TRUE(again->certificates.empty());
  EXPECT_TRUE(again->identity_alerts.empty());
  EXPECT_TRUE(again->audit.empty());
  EXPECT_EQ(db->ListAudit({})->size(), 1u);
  EXPECT_EQ(db->ListApiTokens()->size(), 2u);
}

// Replicas starting together on a new database make one first admin token, not several.
TEST_F(PgStoreTest, ReplicasStartingTogetherMakeOneFirstAdminToken) {
  std::vector<std::unique_ptr<Store>> replicas;
  for (int i = 0; i < 4; ++i) replicas.push_back(Replica("r" + std::to_string(i)));
  std::vector<std::thread> threads;
  std::vector<int64_t> ids(4, -1);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      Store::ApiToken token;
      token.name = "admin";
      token.role = medic::v1::ROLE_ADMIN;
      token.secret_hash = "hash-" + std::to_string(i);
      token.created = kT0;
      auto id = replicas[i]->AddApiToken(token, /*only_if_first=*/true);
      if (id.ok()) ids[i] = *id;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::count_if(ids.begin(), ids.end(), [](int64_t id) { return id > 0; }), 1);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 0), 3);
  EXPECT_EQ(replicas[0]->ListApiTokens()->size(), 1u);
}

}  // namespace
}  // namespace medic::collector
