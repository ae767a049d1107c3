// What only the PostgreSQL store has to get right: replicas sharing one database (migrating
// together, disconnecting only their own machines, queuing one event once), lost connections,
// and databases it must refuse. The contract it shares with SQLite is in sqlite_store_test.cc.

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

}  // namespace
}  // namespace medic::collector
