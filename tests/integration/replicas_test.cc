// Several collector replicas on one real PostgreSQL database (issue 10): a throwaway cluster,
// real medic-collector processes, the fleet simulator spreading its agents over them, a real
// HTTP receiver for the webhook. The correlation scenario must give the same tickets as with
// one collector, also when a replica (the leader, or another) is killed mid-scenario, and a
// diagnostic sent through one replica reaches an agent connected to another.

#include <signal.h>

#include <filesystem>
#include <set>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "medic/v1/technician.grpc.pb.h"
#include "tests/sim/fleet.h"
#include "tests/support/http_receiver.h"
#include "tests/support/postgres_fixture.h"
#include "tests/support/process.h"

namespace medic::test {
namespace {

using ::testing::HasSubstr;

const std::string kBin = MEDIC_BIN_DIR;
const std::string kScenario =
    std::string(MEDIC_FIXTURES) + "/../scenarios/dns_outage_and_dark_subnet.yaml";

// `n` collector replicas on a new database of `cluster`, with the scenario's timing (what
// medic-sim gives the collector it starts itself) and a webhook to `webhook`.
class Replicas {
 public:
  Replicas(PostgresCluster& cluster, int n, const std::string& webhook) {
    auto uri = cluster.CreateDatabase();
    EXPECT_TRUE(uri.ok()) << uri.status();
    uri_ = uri.ok() ? *uri : "";
    for (int i = 0; i < n; ++i) {
      const std::string name = "replica-" + std::to_string(i);
      const std::string config = dir_.File(name + ".yaml");
      // Each replica's own security state (tokens, certificates): see collector/README.md.
      std::filesystem::create_directories(dir_.File(name));
      WriteFile(config,
                "heartbeat_interval: 500ms\noffline_after: 2s\nengine_tick: 100ms\n"
                "correlation: {window: 2s, resolve_after: 2s}\n"
                "outbound: {webhook_url: \"" +
                    webhook + "\", initial_backoff: 100ms}\n" + "security: {state_dir: \"" +
                    dir_.File(name) + "\"}\n" + "replica_name: " + name + "\n");
      addresses_.push_back("127.0.0.1:" + std::to_string(FreePort()));
      collectors_.push_back(std::make_unique<Process>(
          std::vector<std::string>{kBin + "/medic-collector", "--insecure", "--listen",
                                   addresses_.back(), "--http-listen", "", "--db", uri_, "--config",
                                   config},
          dir_.path(), name));
    }
  }

  bool Ready() {
    for (auto& c : collectors_) {
      if (!c->WaitForStdout("listening on", absl::Seconds(20))) return false;
    }
    return true;
  }

  // The replica that leads correlation now; -1 when none says so within `timeout`.
  int Leader(absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      int leader = -1;
      for (size_t i = 0; i < collectors_.size(); ++i) {
        if (!collectors_[i]->Running()) continue;
        const std::string err = collectors_[i]->Stderr();
        const size_t leads = err.rfind("leads correlation");
        const size_t stops = err.rfind("stops leading");
        if (leads != std::string::npos && (stops == std::string::npos || stops < leads)) {
          leader = static_cast<int>(i);
        }
      }
      if (leader >= 0) return leader;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return -1;
  }

  void Kill(int i) { collectors_[i]->Stop(SIGKILL); }
  const std::string& address(int i) const { return addresses_[i]; }
  std::string AllAddresses() const {
    std::string all;
    for (const auto& a : addresses_) all += (all.empty() ? "" : ",") + a;
    return all;
  }
  std::string Describe() const {
    std::string out;
    for (const auto& c : collectors_) out += c->Describe();
    return out;
  }
  TempDir& dir() { return dir_; }
  const std::string& uri() const { return uri_; }

 private:
  TempDir dir_;
  std::string uri_;
  std::vector<std::string> addresses_;
  std::vector<std::unique_ptr<Process>> collectors_;
};

class ReplicasTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = PostgresCluster::Start();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
  }
  static void TearDownTestSuite() { cluster_.reset(); }
  void SetUp() override { ASSERT_NE(cluster_, nullptr); }

  // The scenario, with medic-sim spreading its agents over `replicas`.
  std::unique_ptr<Process> StartScenario(Replicas& replicas) {
    return std::make_unique<Process>(
        std::vector<std::string>{kBin + "/medic-sim", "run", kScenario, "--collector",
                                 replicas.AllAddresses(), "--insecure", "--verbose"},
        replicas.dir().path(), "medic-sim");
  }

  // Every webhook event arrived, each once: one create per ticket, no key accepted twice.
  void ExpectEachEventOnce(size_t tickets) {
    std::map<std::string, int> accepted;
    for (int i = 0; i < 100; ++i) {
      accepted = webhook_.Accepted("/hook");
      size_t creates = 0;
      for (const auto& [key, n] : accepted) creates += key.ends_with("/create");
      if (creates >= tickets) break;
      absl::SleepFor(absl::Milliseconds(50));
    }
    std::set<std::string> created;
    for (const auto& [key, n] : accepted) {
      EXPECT_EQ(n, 1) << "webhook event " << key << " was delivered " << n << " times";
      if (key.ends_with("/create")) created.insert(key.substr(0, key.find('/')));
    }
    EXPECT_EQ(created.size(), tickets);
  }

  static inline std::unique_ptr<PostgresCluster> cluster_;
  HttpReceiver webhook_;
};

TEST_F(ReplicasTest, ThreeReplicasGiveTheTicketsOfOneCollector) {
  Replicas replicas(*cluster_, 3, webhook_.Url("/hook"));
  ASSERT_TRUE(replicas.Ready()) << replicas.Describe();
  ASSERT_GE(replicas.Leader(), 0) << replicas.Describe();
  auto sim = StartScenario(replicas);
  ASSERT_EQ(sim->Wait(absl::Seconds(50)), 0) << sim->Describe() << replicas.Describe();
  EXPECT_THAT(sim->Stdout(), HasSubstr("PASSED"));
  // The agents really were spread: every replica holds some of the 52 machines.
  auto spread = cluster_->Psql(replicas.uri().substr(replicas.uri().rfind('/') + 1),
                               "SELECT count(DISTINCT replica), count(*) FROM machines");
  ASSERT_TRUE(spread.ok()) << spread.status();
  EXPECT_EQ(*spread, "3|52\n");
  ExpectEachEventOnce(3);
}

TEST_F(ReplicasTest, LeaderKilledMidScenarioIsReplacedAndNothingIsLostOrDuplicated) {
  Replicas replicas(*cluster_, 3, webhook_.Url("/hook"));
  ASSERT_TRUE(replicas.Ready()) << replicas.Describe();
  const int leader = replicas.Leader();
  ASSERT_GE(leader, 0) << replicas.Describe();
  auto sim = StartScenario(replicas);
  // The DNS outage is open (25 hosts) and the branch subnet has just gone dark.
  ASSERT_TRUE(sim->WaitForStderr("event of line", absl::Seconds(30))) << sim->Describe();
  absl::SleepFor(absl::Milliseconds(3500));
  replicas.Kill(leader);
  const int next = replicas.Leader();
  EXPECT_GE(next, 0) << replicas.Describe();
  EXPECT_NE(next, leader);
  ASSERT_EQ(sim->Wait(absl::Seconds(50)), 0) << sim->Describe() << replicas.Describe();
  EXPECT_THAT(sim->Stdout(), HasSubstr("PASSED"));
  EXPECT_THAT(sim->Stderr(), HasSubstr("lost its collector; reconnecting"));
  ExpectEachEventOnce(3);
}

TEST_F(ReplicasTest, FollowerKilledMidScenarioItsAgentsMoveToTheOthers) {
  Replicas replicas(*cluster_, 3, webhook_.Url("/hook"));
  ASSERT_TRUE(replicas.Ready()) << replicas.Describe();
  const int leader = replicas.Leader();
  ASSERT_GE(leader, 0) << replicas.Describe();
  const int victim = (leader + 1) % 3;
  auto sim = StartScenario(replicas);
  ASSERT_TRUE(sim->WaitForStderr("event of line", absl::Seconds(30))) << sim->Describe();
  absl::SleepFor(absl::Milliseconds(3500));
  replicas.Kill(victim);
  ASSERT_EQ(sim->Wait(absl::Seconds(50)), 0) << sim->Describe() << replicas.Describe();
  EXPECT_THAT(sim->Stdout(), HasSubstr("PASSED"));
  // Every machine the dead replica held reconnected to another (all 52 are still known; the
  // ones it held at the end were disconnected on purpose by the scenario's end).
  auto held = cluster_->Psql(replicas.uri().substr(replicas.uri().rfind('/') + 1),
                             "SELECT count(*) FILTER (WHERE replica = 'replica-" +
                                 std::to_string(victim) + "'), count(*) FROM machines");
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(*held, "0|52\n");
  EXPECT_EQ(replicas.Leader(), leader);
  ExpectEachEventOnce(3);
}

TEST_F(ReplicasTest, DiagnosticThroughOneReplicaReachesAnAgentOnAnother) {
  Replicas replicas(*cluster_, 2, webhook_.Url("/hook"));
  ASSERT_TRUE(replicas.Ready()) << replicas.Describe();
  sim::FleetGroup hq;
  hq.site = "hq";
  hq.dns = {"10.0.0.53"};
  sim::SimAgent agent("ws-on-b", hq, replicas.address(1), 1);
  agent.Connect();
  for (int i = 0; i < 200 && agent.acked() < 1; ++i) absl::SleepFor(absl::Milliseconds(20));
  ASSERT_GE(agent.acked(), 1u) << replicas.Describe();

  auto stub = medic::v1::TechnicianService::NewStub(
      grpc::CreateChannel(replicas.address(0), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  medic::v1::RunDiagnosticRequest request;
  request.mutable_selector()->add_hosts("ws-on-b");
  request.set_check(medic::v1::DIAGNOSTIC_CHECK_DNS);
  (*request.mutable_params())["name"] = "intranet.corp";
  auto reader = stub->RunDiagnostic(&context, request);
  medic::v1::DiagnosticResult result;
  ASSERT_TRUE(reader->Read(&result)) << replicas.Describe();
  EXPECT_EQ(result.machine(), "ws-on-b");
  EXPECT_EQ(result.outcome(), medic::v1::DIAGNOSTIC_OUTCOME_PASSED) << result.DebugString();
  EXPECT_THAT(result.summary(), HasSubstr("dns intranet.corp on 1 servers"));
  EXPECT_FALSE(reader->Read(&result));
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(agent.diagnostics_answered(), 1u);
}

}  // namespace
}  // namespace medic::test
