#include "collector/cli/render.h"

#include "common/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

TEST(HumanBytesTest, PicksTheUnit) {
  struct Case {
    uint64_t bytes;
    const char* expected;
  } cases[] = {
      {0, "0 B"},                            // nothing
      {512, "512 B"},                        // below a KiB stays in bytes
      {1536, "1.5 KiB"},                     // one decimal below 10
      {uint64_t{40} << 30, "40 GiB"},        // whole numbers from 10 up
      {(uint64_t{5} << 30) / 2, "2.5 GiB"},  // a fraction of a GiB
  };
  for (const auto& c : cases) EXPECT_EQ(HumanBytes(c.bytes), c.expected) << c.bytes;
}

TEST(AgoTest, ReadsLikeAPerson) {
  EXPECT_EQ(Ago(kNow, kNow), "just now");
  EXPECT_EQ(Ago(kNow - absl::Seconds(4), kNow), "4s ago");
  EXPECT_EQ(Ago(kNow - absl::Minutes(125), kNow), "2h 5m ago");
  EXPECT_EQ(Ago(absl::UnixEpoch(), kNow), "never");
}

medic::v1::Machine MakeMachine(std::string name, bool online, uint32_t findings,
                               medic::v1::Severity worst) {
  medic::v1::Machine m;
  m.set_hostname(std::move(name));
  m.set_state(online ? medic::v1::MACHINE_STATE_ONLINE : medic::v1::MACHINE_STATE_OFFLINE);
  m.set_os("Debian GNU/Linux 12 (bookworm)");
  m.set_agent_version("0.1.0");
  *m.mutable_last_seen() = common::ToProtoTime(kNow - absl::Seconds(3));
  m.set_open_findings(findings);
  m.set_worst_severity(worst);
  return m;
}

TEST(RenderMachinesTest, MachinesNeedingAttentionComeFirst) {
  medic::v1::ListMachinesResponse r;
  *r.add_machines() = MakeMachine("a-healthy", true, 0, medic::v1::SEVERITY_UNSPECIFIED);
  *r.add_machines() = MakeMachine("b-warning", true, 1, medic::v1::SEVERITY_WARNING);
  *r.add_machines() = MakeMachine("c-offline", false, 0, medic::v1::SEVERITY_UNSPECIFIED);
  const std::string out = RenderMachines(r, kNow, false);
  EXPECT_LT(out.find("c-offline"), out.find("b-warning"));
  EXPECT_LT(out.find("b-warning"), out.find("a-healthy"));
  EXPECT_THAT(out, HasSubstr("1 (worst: warning)"));
  EXPECT_THAT(out, HasSubstr("3 machines, 2 online, 1 offline"));
  EXPECT_THAT(out, Not(HasSubstr("\033[")));  // no colour when not asked
  EXPECT_THAT(RenderMachines(r, kNow, true), HasSubstr("\033["));
}

TEST(RenderMachinesTest, EmptyFleetSaysWhatToDo) {
  EXPECT_THAT(RenderMachines({}, kNow, false), HasSubstr("No machines have reported yet"));
}

TEST(RenderHealthTest, ProblemFirstThenEvidence) {
  medic::v1::MachineHealth h;
  *h.mutable_machine() = MakeMachine("ws-042", true, 1, medic::v1::SEVERITY_CRITICAL);
  auto* f = h.add_findings();
  f->set_code("disk.space_low");
  f->set_resource("/home");
  f->set_severity(medic::v1::SEVERITY_CRITICAL);
  f->set_summary("/home has 3.1% free (1.2 GiB of 40 GiB)");
  (*f->mutable_evidence())["free_pct"] = "3.1";
  *f->mutable_raised_at() = common::ToProtoTime(kNow - absl::Hours(2));
  auto* mem = h.add_reports();
  mem->set_probe("memory");
  mem->set_outcome(medic::v1::PROBE_OUTCOME_OK);
  mem->mutable_memory()->set_total_bytes(uint64_t{16} << 30);
  mem->mutable_memory()->set_available_bytes(uint64_t{4} << 30);
  mem->mutable_memory()->set_used_bytes(uint64_t{12} << 30);
  auto* net = h.add_reports();
  net->set_probe("network");
  net->set_outcome(medic::v1::PROBE_OUTCOME_FAILED);
  net->set_error("/proc/net/route: Permission denied");

  const std::string out = RenderHealth(h, kNow, false);
  EXPECT_THAT(out, HasSubstr("ws-042 — online"));
  EXPECT_THAT(out, HasSubstr("CRITICAL  /home has 3.1% free (1.2 GiB of 40 GiB)"));
  EXPECT_THAT(out, HasSubstr("disk.space_low on /home, since 2h ago"));
  EXPECT_THAT(out, HasSubstr("evidence: free_pct=3.1"));
  EXPECT_THAT(out, HasSubstr("4.0 GiB available of 16 GiB (75% used) · no swap"));
  EXPECT_THAT(out, HasSubstr("network failed: /proc/net/route: Permission denied"));
  EXPECT_LT(out.find("Findings"), out.find("Hardware"));
}

TEST(RenderHealthTest, HealthyMachineSaysSo) {
  medic::v1::MachineHealth h;
  *h.mutable_machine() = MakeMachine("ws-1", true, 0, medic::v1::SEVERITY_UNSPECIFIED);
  EXPECT_THAT(RenderHealth(h, kNow, false), HasSubstr("No problems found."));
}

}  // namespace
}  // namespace medic::cli
