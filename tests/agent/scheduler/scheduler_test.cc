#include "agent/scheduler/scheduler.h"

#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A probe whose result the test sets: a finding standing or not, a failure, or a slow run.
class FakeProbe : public Probe {
 public:
  explicit FakeProbe(std::string name) : name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    ++runs;
    if (!fail_with.ok()) return fail_with;
    if (sleep > absl::ZeroDuration()) absl::SleepFor(sleep);
    ProbeOutput out;
    out.slow_down = slow_down;
    if (finding) {
      medic::v1::Finding f;
      f.set_code("disk.space_low");
      f.set_resource("/");
      f.set_severity(medic::v1::SEVERITY_WARNING);
      out.findings.push_back(f);
    }
    return out;
  }
  int runs = 0;
  bool finding = false;
  absl::Status fail_with;
  absl::Duration sleep;
  double slow_down = 0;

 private:
  std::string name_;
};

class SchedulerTest : public ::testing::Test {
 protected:
  // Adds a probe; the returned pointer stays valid while the scheduler lives.
  FakeProbe* Add(std::string name, absl::Duration interval,
                 absl::Duration deadline = absl::Seconds(1), bool slow = false) {
    auto probe = std::make_unique<FakeProbe>(std::move(name));
    FakeProbe* raw = probe.get();
    entries_.push_back({std::move(probe), interval, deadline, slow});
    return raw;
  }
  Scheduler& Make() {
    scheduler_ = std::make_unique<Scheduler>(
        io_, std::move(entries_), fs_, commands_, clock_, config_, tracker_,
        [this](std::vector<ProbeRun> cycle) { cycles_.push_back(std::move(cycle)); });
    return *scheduler_;
  }
  static std::vector<std::string> Names(const std::vector<ProbeRun>& cycle) {
    std::vector<std::string> names;
    for (const auto& run : cycle) names.push_back(run.report.probe());
    return names;
  }

  boost::asio::io_context io_;
  common::RootedFileSystem fs_{"/"};
  common::NoCommandRunner commands_;
  common::FakeClock clock_;
  medic::v1::AgentConfig config_;
  FindingTracker tracker_;
  std::vector<ProbeEntry> entries_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<std::vector<ProbeRun>> cycles_;
};

TEST_F(SchedulerTest, ProbesWithEqualIntervalsRunInOneCycle) {
  Add("cpu", absl::Milliseconds(40));
  Add("memory", absl::Milliseconds(40));
  Add("filesystems", absl::Milliseconds(80));
  Scheduler& scheduler = Make();
  scheduler.Start();
  io_.run_for(std::chrono::milliseconds(400));
  scheduler.Stop();
  ASSERT_GE(cycles_.size(), 4u);
  int with_filesystems = 0;
  for (const auto& cycle : cycles_) {
    const auto names = Names(cycle);
    // cpu and memory always together; filesystems joins every other cycle, never alone.
    ASSERT_GE(names.size(), 2u);
    EXPECT_EQ(names[0], "cpu");
    EXPECT_EQ(names[1], "memory");
    if (names.size() == 3) ++with_filesystems;
  }
  EXPECT_GE(with_filesystems, 1);
  EXPECT_LT(with_filesystems, static_cast<int>(cycles_.size()));
}

TEST_F(SchedulerTest, OverItsCpuBudgetTheAgentStretchesEveryOtherProbesInterval) {
  FakeProbe* judge = Add("agent", absl::Milliseconds(50));
  FakeProbe* cpu = Add("cpu", absl::Milliseconds(50));
  judge->slow_down = 4;
  Scheduler& scheduler = Make();
  scheduler.RunAllOnce(/*wait_for_slow=*/true);
  scheduler.Start();
  io_.run_for(std::chrono::milliseconds(1000));
  // The judge keeps its pace (about 20 runs); cpu runs about a quarter as often. (Intervals
  // well above the scheduler's 20 ms cycle slack, which would blur them.)
  EXPECT_GE(judge->runs, 2 * cpu->runs) << "judge " << judge->runs << ", cpu " << cpu->runs;
  // Back under budget: both at their interval again.
  judge->slow_down = 1;
  const int judge_before = judge->runs;
  const int cpu_before = cpu->runs;
  io_.restart();
  io_.run_for(std::chrono::milliseconds(480));
  scheduler.Stop();
  const int judge_after = judge->runs - judge_before;
  const int cpu_after = cpu->runs - cpu_before;
  EXPECT_GE(cpu_after, judge_after - 2) << "judge " << judge_after << ", cpu " << cpu_after;
}

TEST_F(SchedulerTest, SlowProbeNeverDelaysTheFastCycle) {
  Add("cpu", absl::Milliseconds(30));
  FakeProbe* updates = Add("updates", absl::Milliseconds(30), absl::Seconds(5), /*slow=*/true);
  updates->sleep = absl::Milliseconds(250);
  Scheduler& scheduler = Make();
  scheduler.RunAllOnce(/*wait_for_slow=*/false);
  scheduler.Start();
  io_.run_for(std::chrono::milliseconds(400));
  scheduler.Stop();
  // The fast probe kept its pace while apt-like work ran; the slow one reported on its own,
  // and skipped the turns that came while it was still running.
  int cpu_runs = 0, updates_cycles = 0;
  for (const auto& cycle : cycles_) {
    for (const auto& name : Names(cycle)) {
      if (name == "cpu") ++cpu_runs;
      if (name == "updates") {
        ++updates_cycles;
        EXPECT_EQ(cycle.size(), 1u);
      }
    }
  }
  EXPECT_GE(cpu_runs, 6);
  EXPECT_GE(updates_cycles, 1);
  EXPECT_LE(updates->runs, 2);
}

TEST_F(SchedulerTest, HangingSlowProbeNeverHoldsUpAnotherSlowProbe) {
  // A printer that does not answer must not hold up the network checks.
  FakeProbe* printers = Add("printers", absl::Seconds(60), absl::Seconds(5), /*slow=*/true);
  printers->sleep = absl::Milliseconds(600);
  FakeProbe* services = Add("services", absl::Milliseconds(50), absl::Seconds(5), /*slow=*/true);
  Scheduler& scheduler = Make();
  scheduler.RunAllOnce(/*wait_for_slow=*/false);
  scheduler.Start();
  io_.run_for(std::chrono::milliseconds(400));
  scheduler.Stop();
  // services ran its turns while printers was still inside its first collection.
  EXPECT_EQ(printers->runs, 1);
  EXPECT_GE(services->runs, 4);
}

TEST_F(SchedulerTest, RunAllOnceIsOneCycleOfEveryProbe) {
  Add("cpu", absl::Seconds(15));
  Add("os", absl::Seconds(300));
  Make().RunAllOnce(/*wait_for_slow=*/true);
  ASSERT_EQ(cycles_.size(), 1u);
  EXPECT_THAT(Names(cycles_[0]), ElementsAre("cpu", "os"));
  EXPECT_EQ(cycles_[0][0].report.outcome(), medic::v1::PROBE_OUTCOME_OK);
  EXPECT_TRUE(cycles_[0][0].report.has_collected_at());
  EXPECT_TRUE(cycles_[0][0].report.has_took());
}

TEST_F(SchedulerTest, FailedProbeKeepsItsFindingsStanding) {
  FakeProbe* probe = Add("filesystems", absl::Seconds(60));
  Scheduler& scheduler = Make();
  probe->finding = true;
  scheduler.RunAllOnce(/*wait_for_slow=*/true);
  ASSERT_EQ(cycles_[0][0].events.size(), 1u);
  EXPECT_TRUE(cycles_[0][0].events[0].has_raised());

  // The probe cannot see the disk now: that is no reason to say the disk is fine.
  probe->fail_with = absl::PermissionDeniedError("/proc/self/mounts: Permission denied");
  scheduler.RunAllOnce(/*wait_for_slow=*/true);
  const ProbeRun& failed = cycles_[1][0];
  EXPECT_EQ(failed.report.outcome(), medic::v1::PROBE_OUTCOME_FAILED);
  EXPECT_EQ(failed.report.error(), "/proc/self/mounts: Permission denied");
  // The disk finding stays; the only change is a finding about the agent itself.
  ASSERT_EQ(failed.events.size(), 1u);
  EXPECT_EQ(failed.events[0].raised().code(), "agent.probe_failed");
  EXPECT_EQ(failed.events[0].raised().resource(), "filesystems");
  EXPECT_EQ(tracker_.Standing("filesystems").size(), 1u);

  // The next good run clears the agent finding, and the disk finding is still standing.
  probe->fail_with = absl::OkStatus();
  scheduler.RunAllOnce(/*wait_for_slow=*/true);
  ASSERT_EQ(cycles_[2][0].events.size(), 1u);
  EXPECT_TRUE(cycles_[2][0].events[0].has_cleared());
  EXPECT_EQ(cycles_[2][0].events[0].cleared().code(), "agent.probe_failed");
}

TEST_F(SchedulerTest, OverrunIsReportedTimedOut) {
  FakeProbe* probe = Add("network", absl::Seconds(60), absl::Milliseconds(5));
  probe->sleep = absl::Milliseconds(30);
  Make().RunAllOnce(/*wait_for_slow=*/true);
  const auto& report = cycles_[0][0].report;
  EXPECT_EQ(report.outcome(), medic::v1::PROBE_OUTCOME_TIMED_OUT);
  EXPECT_THAT(report.error(), ::testing::HasSubstr("over its deadline of 5ms"));
  ASSERT_EQ(cycles_[0][0].events.size(), 1u);
  EXPECT_EQ(cycles_[0][0].events[0].raised().code(), "agent.probe_timeout");
  EXPECT_EQ(cycles_[0][0].events[0].raised().resource(), "network");
}

}  // namespace
}  // namespace medic::agent
