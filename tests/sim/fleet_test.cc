// medic-sim's simulated agent against a real medic-collector on loopback: what it keeps while
// the collector is away, and how it comes back by itself.

#include "tests/sim/fleet.h"

#include <signal.h>
#include <sqlite3.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace medic::sim {
namespace {

const std::string kBin = MEDIC_BIN_DIR;

class SimAgentTest : public ::testing::Test {
 protected:
  void SetUp() override { address_ = absl::StrCat("127.0.0.1:", test::FreePort()); }

  std::unique_ptr<test::Process> StartCollector(const std::string& name) {
    auto collector = std::make_unique<test::Process>(
        std::vector<std::string>{kBin + "/medic-collector", "--insecure", "--listen", address_,
                                 "--db", dir_.File("collector.db")},
        dir_.path(), name);
    EXPECT_TRUE(collector->WaitForStdout("listening on", absl::Seconds(30)))
        << collector->Describe();
    return collector;
  }

  // Sequences stored for `hostname` (duplicates would count twice), and the sequences the
  // gap records stored name as dropped.
  struct Stored {
    std::multiset<uint64_t> sequences;
    std::set<uint64_t> declared_dropped;
  };
  Stored ReadStored(const std::string& hostname) {
    Stored stored;
    sqlite3* db = nullptr;
    EXPECT_EQ(
        sqlite3_open_v2(dir_.File("collector.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
        SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db,
                                 "SELECT d.sequence, d.gap FROM delivered d JOIN machines m "
                                 "USING (machine_id) WHERE m.hostname = ?",
                                 -1, &stmt, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_bind_text(stmt, 1, hostname.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      stored.sequences.insert(sqlite3_column_int64(stmt, 0));
      if (sqlite3_column_type(stmt, 1) != SQLITE_NULL) {
        medic::v1::Gap gap;
        gap.ParseFromArray(sqlite3_column_blob(stmt, 1), sqlite3_column_bytes(stmt, 1));
        stored.declared_dropped.insert(gap.sequences().begin(), gap.sequences().end());
      }
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return stored;
  }

  static medic::v1::ProbeReport Report(int n) {
    medic::v1::ProbeReport r;
    r.set_probe("cpu");
    r.set_outcome(medic::v1::PROBE_OUTCOME_OK);
    auto* o = r.add_observations();
    o->set_metric("cpu.usage_pct");
    o->set_value(n);
    o->set_unit("pct");
    return r;
  }

  static bool WaitAcked(SimAgent& agent, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (agent.acked() < agent.sent() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    return agent.acked() >= agent.sent();
  }

  test::TempDir dir_;
  std::string address_;
};

// The collector is killed; what the agent makes meanwhile waits for it, and goes out once
// the agent has reconnected by itself: each record stored once, none missing.
TEST_F(SimAgentTest, ResendsWhatWasNotAcknowledgedAfterReconnectingByItself) {
  auto collector = StartCollector("collector-1");
  FleetGroup group;
  group.site = "hq";
  SimAgent agent("ws-resend", group, address_, 11);
  agent.set_backoff({.initial = absl::Milliseconds(50), .max = absl::Milliseconds(200)});
  agent.Connect();
  for (int i = 0; i < 5; ++i) agent.Report(Report(i));
  ASSERT_TRUE(WaitAcked(agent, absl::Seconds(10))) << collector->Describe();
  ASSERT_EQ(collector->Stop(SIGKILL), 128 + SIGKILL);
  for (int i = 0; i < 20; ++i) agent.Report(Report(i));
  EXPECT_GE(agent.unacked(), 20u);
  collector = StartCollector("collector-2");
  ASSERT_TRUE(WaitAcked(agent, absl::Seconds(10)))
      << agent.acked() << " of " << agent.sent() << " acknowledged\n"
      << collector->Describe();
  EXPECT_EQ(agent.unacked(), 0u);
  EXPECT_GE(agent.connections().welcomes.size(), 2u);
  agent.Disconnect();
  agent.WaitClosed(absl::Seconds(5));
  ASSERT_EQ(collector->Stop(SIGTERM), 0);
  const Stored stored = ReadStored("ws-resend");
  std::multiset<uint64_t> expected;
  for (uint64_t s = 1; s <= agent.sent(); ++s) expected.insert(s);
  EXPECT_EQ(stored.sequences, expected);
}

// Past its bound the agent drops its oldest records and says which in a gap record, as the
// real agent does when its spool is full.
TEST_F(SimAgentTest, PastItsBoundDropsTheOldestAndNamesThemInAGap) {
  FleetGroup group;
  group.site = "hq";
  SimAgent agent("ws-bound", group, address_, 12);
  agent.set_backoff({.initial = absl::Milliseconds(50), .max = absl::Milliseconds(200)});
  agent.set_max_unacked(6);
  agent.Connect();  // nobody listens yet: the snapshot (1) waits, and the agent retries
  for (int i = 0; i < 10; ++i) agent.Report(Report(i));
  EXPECT_EQ(agent.unacked(), 6u);
  EXPECT_GT(agent.dropped(), 0u);
  auto collector = StartCollector("collector");
  ASSERT_TRUE(WaitAcked(agent, absl::Seconds(10)))
      << agent.acked() << " of " << agent.sent() << " acknowledged\n"
      << collector->Describe();
  agent.Disconnect();
  agent.WaitClosed(absl::Seconds(5));
  ASSERT_EQ(collector->Stop(SIGTERM), 0);
  const Stored stored = ReadStored("ws-bound");
  // Every sequence made is either stored once or named by a gap, never both.
  for (uint64_t s = 1; s <= agent.sent(); ++s) {
    EXPECT_EQ(stored.sequences.count(s) + stored.declared_dropped.count(s), 1u) << "sequence " << s;
  }
  EXPECT_EQ(stored.declared_dropped.size(), agent.dropped());
  EXPECT_TRUE(stored.declared_dropped.contains(1)) << "the oldest (the snapshot) went first";
}

}  // namespace
}  // namespace medic::sim
