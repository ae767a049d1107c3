// Tickets that run themselves, seen from outside: a real collector process raises, updates
// and closes a ticket from simulated agents, and a local webhook receiver and Jira-style
// helpdesk that fail 30% of calls see each event — even though the collector is killed and
// restarted mid-run.

#include <signal.h>

#include <atomic>
#include <set>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sim/fleet.h"
#include "tests/support/http_receiver.h"
#include "tests/support/process.h"

namespace medic::test {
namespace {

const std::string kBin = MEDIC_BIN_DIR;

class OutboundRestartTest : public ::testing::Test {
 protected:
  std::unique_ptr<Process> StartCollector(const std::string& name) {
    auto collector =
        std::make_unique<Process>(std::vector<std::string>{kBin + "/medic-collector", "--insecure",
                                                           "--config", dir_.File("c.yaml")},
                                  dir_.path(), name);
    EXPECT_TRUE(collector->WaitForStdout("listening on", absl::Seconds(20)))
        << collector->Describe();
    return collector;
  }

  // Every agent (re)connects and has its snapshot acknowledged.
  void ConnectAll() {
    for (auto& a : agents_) a->Connect();
    const absl::Time deadline = absl::Now() + absl::Seconds(15);
    for (auto& a : agents_) {
      while (a->acked() < a->sent() && absl::Now() < deadline) {
        a->Connect();  // a no-op while the stream lives
        absl::SleepFor(absl::Milliseconds(50));
      }
      ASSERT_GE(a->acked(), a->sent()) << a->hostname() << " was not acknowledged";
    }
  }

  void Raise(int from, int to) {
    medic::v1::Finding f;
    f.set_code("net.dns_failure");
    f.set_resource("10.0.0.53");
    f.set_severity(medic::v1::SEVERITY_CRITICAL);
    for (int i = from; i < to; ++i) agents_[i]->Raise(f);
  }

  // Heartbeats every 250ms from every agent, like live machines.
  void StartHeartbeats() {
    heartbeats_ = std::thread([this] {
      while (!stop_) {
        for (auto& a : agents_) a->Heartbeat(absl::Milliseconds(250));
        absl::SleepFor(absl::Milliseconds(250));
      }
    });
  }
  void TearDown() override {
    stop_ = true;
    if (heartbeats_.joinable()) heartbeats_.join();
  }

  TempDir dir_;
  std::vector<std::unique_ptr<sim::SimAgent>> agents_;
  std::atomic<bool> stop_{false};
  std::thread heartbeats_;
};

// Accepted calls by idempotency key for `prefix`, collapsed to the event kinds of MED-1.
std::multiset<std::string> Kinds(const std::map<std::string, int>& accepted) {
  std::multiset<std::string> kinds;
  for (const auto& [key, n] : accepted) kinds.insert(key.substr(key.rfind('/') + 1));
  return kinds;
}

TEST_F(OutboundRestartTest, EachTicketEventArrivesOnceDespiteFailuresAndARestart) {
  HttpReceiver receiver(/*fail_fraction=*/0.3);
  const int port = FreePort();
  WriteFile(dir_.File("c.yaml"),
            "listen: 127.0.0.1:" + std::to_string(port) + "\ndb: " + dir_.File("c.db") +
                "\nheartbeat_interval: 250ms\noffline_after: 3s\nengine_tick: 50ms\n"
                "correlation: {window: 300ms, resolve_after: 500ms, min_hosts: 3}\n"
                "outbound:\n  webhook_url: " +
                receiver.Url("/hook") + "\n  helpdesk_url: " + receiver.Url("/jira") +
                "\n  initial_backoff: 50ms\n  max_backoff: 300ms\n  timeout: 2s\n");
  auto collector = StartCollector("collector-1");
  sim::FleetGroup group;
  group.prefix = "ws";
  group.site = "hq";
  group.subnet = "10.1.0.0/24";
  group.gateway = "10.1.0.1";
  group.dns = {"10.0.0.53"};
  for (int i = 1; i <= 6; ++i) {
    agents_.push_back(std::make_unique<sim::SimAgent>("ws-00" + std::to_string(i), group,
                                                      "127.0.0.1:" + std::to_string(port), 7));
  }
  ASSERT_NO_FATAL_FAILURE(ConnectAll());
  StartHeartbeats();

  // Three hosts: the ticket opens (create).
  Raise(0, 3);
  absl::SleepFor(absl::Milliseconds(600));
  // The collector dies without warning, whatever it was delivering, and comes back.
  EXPECT_EQ(collector->Stop(SIGKILL), 128 + SIGKILL);
  collector = StartCollector("collector-2");
  ASSERT_NO_FATAL_FAILURE(ConnectAll());
  // Two more hosts join the same incident (update), then all clear (close).
  absl::SleepFor(absl::Milliseconds(500));
  Raise(3, 5);
  absl::SleepFor(absl::Milliseconds(800));
  medic::v1::FindingCleared clear;
  clear.set_code("net.dns_failure");
  clear.set_resource("10.0.0.53");
  for (int i = 0; i < 5; ++i) agents_[i]->Clear(clear);

  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    const auto hook = Kinds(receiver.Accepted("/hook"));
    const auto desk = Kinds(receiver.Accepted("/jira"));
    if (hook.contains("close") && desk.contains("close")) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  // Every key the collector queued was accepted; by key, each event is one event.
  const auto hook = receiver.Accepted("/hook");
  const auto desk = receiver.Accepted("/jira");
  std::string seen;
  for (const auto& c : receiver.Calls()) {
    seen += c.method + " " + c.target + " " + c.idempotency_key + " -> " +
            std::to_string(c.status) + "\n";
  }
  EXPECT_EQ(Kinds(hook).count("create"), 1u) << seen << collector->Describe();
  EXPECT_EQ(Kinds(hook).count("close"), 1u) << seen;
  EXPECT_GE(Kinds(hook).count("update"), 1u) << seen;
  EXPECT_EQ(Kinds(desk), Kinds(hook)) << seen;
  for (const auto& [key, n] : hook) {
    EXPECT_TRUE(key.starts_with("MED-1/")) << "one ticket only, across the restart: " << key;
  }
  // Failures happened, and were retried.
  int failed = 0;
  for (const auto& c : receiver.Calls()) failed += c.status == 503;
  EXPECT_GT(failed, 0) << seen;
  // The helpdesk saw the issue created once and then addressed by its key.
  int creates = 0;
  for (const auto& c : receiver.Calls()) {
    creates += c.status == 201;
    if (c.method == "PUT") {
      EXPECT_EQ(c.target, "/jira/rest/api/2/issue/MEDIC-1");
    }
  }
  EXPECT_EQ(creates, 1) << seen;

  stop_ = true;
  heartbeats_.join();
  for (auto& a : agents_) a->Disconnect();
  agents_.clear();
  collector->Stop(SIGTERM);
}

}  // namespace
}  // namespace medic::test
