// The `agent` probe: the agent's own CPU, memory and spool against its self_limits, with a
// sampler standing in for this process, and once on the real process.

#include "agent/probes/self/self_probe.h"

#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/fixture_file_system.h"
#include "tests/support/probe_harness.h"
#include "tests/support/process.h"

namespace medic::agent {
namespace {

using medic::testing::Collect;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The process as the test wants it: CPU used so far and memory now.
struct FakeProcess {
  absl::Duration cpu;
  uint64_t rss_bytes = 20 << 20;
  SelfSampler Sampler() {
    return [this](const medic::v1::AgentConfig&) -> absl::StatusOr<SelfSample> {
      return SelfSample{.cpu = cpu, .rss_bytes = rss_bytes, .spool_bytes = 4096};
    };
  }
};

class SelfProbeTest : public ::testing::Test {
 protected:
  // One run, a minute after the last, with the findings of the previous run standing.
  ProbeOutput Run() {
    clock_.Advance(absl::Minutes(1));
    absl::StatusOr<ProbeOutput> out = Collect(*probe_, fs_, clock_, config_, standing_);
    EXPECT_TRUE(out.ok()) << out.status();
    standing_ = out.ok() ? out->findings : std::vector<medic::v1::Finding>{};
    return out.ok() ? *out : ProbeOutput{};
  }
  const medic::v1::Finding* Find(const ProbeOutput& out, const std::string& resource) {
    for (const auto& f : out.findings) {
      if (f.code() == "agent.over_budget" && f.resource() == resource) return &f;
    }
    return nullptr;
  }

  FakeProcess process_;
  common::FakeClock clock_;
  medic::testing::FixtureFileSystem fs_{"/nonexistent"};  // the probe never reads it
  medic::v1::AgentConfig config_;
  std::vector<medic::v1::Finding> standing_;
  std::unique_ptr<Probe> probe_ = NewSelfProbe(process_.Sampler());
};

TEST_F(SelfProbeTest, ReportsItsOwnCostAsObservations) {
  ProbeOutput first = Run();
  // No CPU share on the first run: it is a difference of samples.
  EXPECT_EQ(first.report.agent().cpu_pct(), 0);
  EXPECT_EQ(first.report.agent().rss_bytes(), 20u << 20);
  EXPECT_EQ(first.report.agent().spool_bytes(), 4096u);
  EXPECT_EQ(first.report.observations_size(), 2);
  process_.cpu += absl::Seconds(1.2);  // 1.2 s of CPU in a minute: 2%
  ProbeOutput second = Run();
  EXPECT_DOUBLE_EQ(second.report.agent().cpu_pct(), 2.0);
  ASSERT_EQ(second.report.observations_size(), 3);
  EXPECT_EQ(second.report.observations(0).metric(), "agent.cpu_pct");
  EXPECT_DOUBLE_EQ(second.report.observations(0).value(), 2.0);
  EXPECT_EQ(second.report.observations(1).metric(), "agent.rss_bytes");
  EXPECT_EQ(second.report.observations(2).metric(), "agent.spool_bytes");
  EXPECT_THAT(second.findings, IsEmpty());
  EXPECT_EQ(second.slow_down, 1);
}

TEST_F(SelfProbeTest, OverTheCpuBudgetItSlowsTheOtherProbesUntilBackUnder) {
  Run();
  // 12 s of CPU in a minute is 20%, four times the default budget of 5%.
  process_.cpu += absl::Seconds(12);
  ProbeOutput over = Run();
  EXPECT_DOUBLE_EQ(over.slow_down, 4);
  const medic::v1::Finding* f = Find(over, "cpu");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->summary(),
            "the Medic agent used 20.0% of a CPU over the last 1m, over its budget of 5.0%: it "
            "runs its probes 4 times less often until it is back under");
  // Slowed down, it costs a quarter: at its budget, so it stays slowed (and says so).
  process_.cpu += absl::Seconds(3);
  ProbeOutput held = Run();
  EXPECT_DOUBLE_EQ(held.slow_down, 4);
  EXPECT_NE(Find(held, "cpu"), nullptr);
  // Whatever made it expensive is gone: 0.6 s a minute (1%) even at a quarter of the pace.
  process_.cpu += absl::Seconds(0.6);
  ProbeOutput back = Run();
  EXPECT_DOUBLE_EQ(back.slow_down, 1);
  EXPECT_EQ(Find(back, "cpu"), nullptr);
}

TEST_F(SelfProbeTest, SlowDownIsCappedAndTheBudgetIsConfigurable) {
  config_.mutable_self_limits()->set_max_cpu_pct(1);
  Run();
  process_.cpu += absl::Seconds(60);  // a whole CPU
  EXPECT_DOUBLE_EQ(Run().slow_down, kMaxSlowDown);
}

TEST_F(SelfProbeTest, OverTheMemoryBudgetIsAFindingThatClearsBelowNinetyPercent) {
  config_.mutable_self_limits()->set_max_rss_mib(32);
  process_.rss_bytes = 40 << 20;
  ProbeOutput over = Run();
  const medic::v1::Finding* f = Find(over, "memory");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->summary(), "the Medic agent uses 40 MiB of memory, over its budget of 32 MiB");
  EXPECT_EQ(f->evidence().at("budget"), "32 MiB (self_limits.max_rss_mib)");
  // Just under the budget it stays raised (no flapping at the mark) ...
  process_.rss_bytes = 31 << 20;
  EXPECT_NE(Find(Run(), "memory"), nullptr);
  // ... and clears under 90% of it.
  process_.rss_bytes = 28 << 20;
  EXPECT_EQ(Find(Run(), "memory"), nullptr);
}

TEST(SampleThisProcessTest, MeasuresTheRealProcessAndItsSpool) {
  test::TempDir dir;
  std::filesystem::create_directories(dir.File("spool"));
  test::WriteFile(dir.File("spool/00000001.seg"), std::string(10000, 'x'));
  medic::v1::AgentConfig config;
  config.set_state_dir(dir.path());
  absl::StatusOr<SelfSample> sample = SampleThisProcess(config);
  ASSERT_TRUE(sample.ok()) << sample.status();
  EXPECT_EQ(sample->spool_bytes, 10000u);
  EXPECT_GT(sample->rss_bytes, 1u << 20);  // a test binary resides in more than 1 MiB
  // Burn some CPU: the sample counts it.
  volatile uint64_t sink = 0;
  const absl::Time until = absl::Now() + absl::Milliseconds(50);
  while (absl::Now() < until) sink = sink + 1;
  absl::StatusOr<SelfSample> later = SampleThisProcess(config);
  ASSERT_TRUE(later.ok());
  EXPECT_GT(later->cpu, sample->cpu);
  // No spool directory yet: nothing spooled.
  config.set_state_dir(dir.File("absent"));
  EXPECT_EQ(SampleThisProcess(config)->spool_bytes, 0u);
}

}  // namespace
}  // namespace medic::agent
