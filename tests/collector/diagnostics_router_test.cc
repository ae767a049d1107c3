// The collector's diagnostics router against a fake agent link and a real (in-memory) SQLite
// store: results matched by id, deadlines, offline machines, queued requests, cancellation.

#include <condition_variable>

#include "collector/diagnostics/router.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::collector::diagnostics {
namespace {

using ::testing::HasSubstr;

// Machines in `connected` take messages; the test plays their agents.
class FakeLink : public AgentLink {
 public:
  bool SendTo(const std::string& machine_id, medic::v1::CollectorMessage message) override {
    std::lock_guard lock(mu_);
    if (!connected.contains(machine_id)) return false;
    sent.emplace_back(machine_id, std::move(message));
    return true;
  }
  std::vector<std::pair<std::string, medic::v1::CollectorMessage>> Sent() {
    std::lock_guard lock(mu_);
    return sent;
  }
  std::set<std::string> connected;  // set before the router runs

 private:
  std::mutex mu_;
  std::vector<std::pair<std::string, medic::v1::CollectorMessage>> sent;
};

// Collects a run's callbacks.
struct Collected {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<medic::v1::DiagnosticResult> results;
  int done = 0;

  Router::ResultFn OnResult() {
    return [this](const medic::v1::DiagnosticResult& r) {
      std::lock_guard lock(mu);
      results.push_back(r);
    };
  }
  Router::DoneFn OnDone() {
    return [this] {
      {
        std::lock_guard lock(mu);
        ++done;
      }
      cv.notify_all();
    };
  }
  bool WaitDone(absl::Duration timeout) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, absl::ToChronoMilliseconds(timeout), [this] { return done > 0; });
  }
  const medic::v1::DiagnosticResult* For(const std::string& host) {
    for (const auto& r : results) {
      if (r.machine() == host) return &r;
    }
    return nullptr;
  }
};

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenSqliteStore(":memory:", {});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    for (auto [id, host] : {std::pair{"m1", "ws-1"}, {"m2", "ws-2"}, {"m3", "ws-3"}}) {
      medic::v1::Hello hello;
      hello.set_machine_id(id);
      hello.set_hostname(host);
      hello.set_epoch(1);
      ASSERT_TRUE(store_->OpenSession(hello, "peer", absl::Now()).ok());
      medic::v1::AgentMessage topology;
      topology.set_sequence(1);
      topology.mutable_topology()->set_site("hq");
      ASSERT_TRUE(store_->Commit(id, 1, topology, absl::Now()).ok());
    }
    link_.connected = {"m1", "m2"};
    RouterOptions options;
    options.grace = absl::Milliseconds(50);
    router_ = std::make_unique<Router>(*store_, link_, common::RealClock::Get(), options);
  }

  medic::v1::RunDiagnosticRequest Health(absl::Duration deadline) {
    medic::v1::RunDiagnosticRequest r;
    r.mutable_selector()->set_site("hq");
    r.set_check(medic::v1::DIAGNOSTIC_CHECK_HEALTH);
    *r.mutable_deadline() = common::ToProtoDuration(deadline);
    return r;
  }

  // What machine `machine_id`'s agent answers to `request`.
  void Answer(const std::string& machine_id, const medic::v1::DiagnosticRequest& request) {
    medic::v1::AgentMessage record;
    record.set_sequence(2);
    auto& r = *record.mutable_diagnostic_result();
    r.set_request_id(request.request_id());
    r.set_check(request.check());
    r.set_outcome(medic::v1::DIAGNOSTIC_OUTCOME_PASSED);
    r.set_summary("all good");
    router_->OnRecord(machine_id, record);
  }

  std::unique_ptr<Store> store_;
  FakeLink link_;
  std::unique_ptr<Router> router_;
};

TEST_F(RouterTest, FanOutMatchesAnswersAndReportsSilentAndOfflineMachines) {
  Collected c;
  auto id = router_->Start(Health(absl::Milliseconds(300)), "alice", c.OnResult(), c.OnDone());
  ASSERT_TRUE(id.ok()) << id.status();
  auto sent = link_.Sent();
  ASSERT_EQ(sent.size(), 2u);  // m3 is not connected
  EXPECT_EQ(sent[0].second.diagnostic_request().requested_by(), "alice");
  EXPECT_TRUE(sent[0].second.diagnostic_request().has_deadline());
  // m1 answers; a result for an id nobody asked for, or from the wrong machine, is ignored.
  for (const auto& [machine, message] : sent) {
    if (machine == "m1") {
      Answer("m2", message.diagnostic_request());
      Answer("m1", message.diagnostic_request());
    }
  }
  ASSERT_TRUE(c.WaitDone(absl::Seconds(5)));
  std::lock_guard lock(c.mu);
  ASSERT_EQ(c.results.size(), 3u);
  ASSERT_NE(c.For("ws-1"), nullptr);
  EXPECT_EQ(c.For("ws-1")->outcome(), medic::v1::DIAGNOSTIC_OUTCOME_PASSED);
  EXPECT_EQ(c.For("ws-1")->request_id(), *id);
  EXPECT_EQ(c.For("ws-2")->outcome(), medic::v1::DIAGNOSTIC_OUTCOME_TIMED_OUT);
  EXPECT_EQ(c.For("ws-3")->outcome(), medic::v1::DIAGNOSTIC_OUTCOME_OFFLINE);
  EXPECT_EQ(c.done, 1);

  auto kept = router_->GetResults(*id);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->results_size(), 3);
}

TEST_F(RouterTest, QueuedRequestIsSentOnReconnectAndItsResultKept) {
  medic::v1::RunDiagnosticRequest request = Health(absl::Seconds(5));
  request.mutable_selector()->clear_site();
  request.mutable_selector()->add_hosts("ws-3");
  *request.mutable_queue_for() = common::ToProtoDuration(absl::Hours(1));
  Collected c;
  auto id = router_->Start(request, "alice", c.OnResult(), c.OnDone());
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(c.WaitDone(absl::Seconds(1)));
  EXPECT_THAT(c.results[0].summary(), HasSubstr("queued for 1h"));
  auto waiting = router_->GetResults(*id);
  ASSERT_TRUE(waiting.ok());
  EXPECT_EQ(waiting->waiting_size(), 1);
  EXPECT_EQ(waiting->results_size(), 0);

  // The machine reconnects: the router sends what waited for it.
  link_.connected.insert("m3");  // no run is sending now
  router_->OnHello("m3", medic::v1::Hello());
  medic::v1::DiagnosticRequest sent;
  for (int i = 0; i < 100 && sent.request_id().empty(); ++i) {
    for (const auto& [machine, message] : link_.Sent()) {
      if (machine == "m3") sent = message.diagnostic_request();
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_FALSE(sent.request_id().empty());
  Answer("m3", sent);
  auto done = router_->GetResults(*id);
  ASSERT_TRUE(done.ok());
  ASSERT_EQ(done->results_size(), 1);
  EXPECT_EQ(done->results(0).outcome(), medic::v1::DIAGNOSTIC_OUTCOME_PASSED);
  EXPECT_EQ(done->results(0).machine(), "ws-3");
  EXPECT_EQ(done->waiting_size(), 0);

  // A second connection does not run it again.
  router_->OnHello("m3", medic::v1::Hello());
  absl::SleepFor(absl::Milliseconds(50));
  int to_m3 = 0;
  for (const auto& [machine, message] : link_.Sent()) to_m3 += machine == "m3";
  EXPECT_EQ(to_m3, 1);
}

TEST_F(RouterTest, RefusesVagueOrUnknownSelections) {
  medic::v1::RunDiagnosticRequest request;
  request.set_check(medic::v1::DIAGNOSTIC_CHECK_HEALTH);
  EXPECT_EQ(router_->Start(request, "a", nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.mutable_selector()->add_hosts("ws-nope");
  auto unknown = router_->Start(request, "a", nullptr, nullptr);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(unknown.status().message(), HasSubstr("ws-nope"));
  EXPECT_EQ(router_->GetResults("D-nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RouterTest, CancelledRunGetsNoMoreCallbacks) {
  Collected c;
  auto id = router_->Start(Health(absl::Milliseconds(100)), "a", c.OnResult(), c.OnDone());
  ASSERT_TRUE(id.ok());
  {
    std::lock_guard lock(c.mu);
    EXPECT_EQ(c.results.size(), 1u);  // ws-3, offline, at once
  }
  router_->Cancel(*id);
  absl::SleepFor(absl::Milliseconds(300));  // past the deadline of the other two
  std::lock_guard lock(c.mu);
  EXPECT_EQ(c.results.size(), 1u);
  EXPECT_EQ(c.done, 0);
}

}  // namespace
}  // namespace medic::collector::diagnostics
