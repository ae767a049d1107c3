// Central policy end to end, with real processes over real TCP: a collector on an SQLite file,
// agents configured by a main file plus a drop-in (as group policy or config management leave
// them), and `medic policy` as a technician runs it.

#include <filesystem>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "medic/v1/fleet.pb.h"
#include "medic/v1/policy.pb.h"
#include "medic/v1/technician.pb.h"
#include "tests/support/process.h"

namespace medic::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kBin = MEDIC_BIN_DIR;

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.File("collector.yaml"), "heartbeat_interval: 1s\noffline_after: 4s\n");
    collector_ = std::make_unique<Process>(
        std::vector<std::string>{kBin + "/medic-collector", "--insecure", "--listen", "127.0.0.1:0",
                                 "--db", dir_.File("collector.db"), "--config",
                                 dir_.File("collector.yaml")},
        dir_.path(), "collector");
    ASSERT_TRUE(collector_->WaitForStdout("listening on", absl::Seconds(20)))
        << collector_->Describe();
    const std::string out = collector_->Stdout();
    const size_t at = out.find("listening on ") + 13;
    address_ = out.substr(at, out.find(' ', at) - at);
  }

  // An agent whose main file sets only its own basics; the collector address, its labels and
  // anything else come from the drop-in `dropin`. Only the memory probe runs, every hour,
  // unless policy says otherwise.
  std::unique_ptr<Process> StartAgent(const std::string& hostname, const std::string& dropin) {
    const std::string etc = dir_.File("etc-" + hostname);
    std::filesystem::create_directories(etc + "/agent.d");
    WriteFile(etc + "/agent.yaml",
              absl::StrCat("state_dir: ", dir_.File("state-" + hostname), "\nhostname: ", hostname,
                           "\nheartbeat_interval: 1s\n"
                           "reconnect: {initial_backoff: 200ms, max_backoff: 1s}\n"
                           "probes: {memory: {interval: 1h}}\n"));
    WriteFile(etc + "/agent.d/50-gpo.yaml", absl::StrCat("collector: ", address_, "\n", dropin));
    return std::make_unique<Process>(
        std::vector<std::string>{kBin + "/medic-agent", "--insecure", "--config",
                                 etc + "/agent.yaml", "--probes", "memory"},
        dir_.path(), "agent-" + hostname);
  }

  RunResult Medic(std::vector<std::string> args) {
    std::vector<std::string> argv = {kBin + "/medic", "--insecure", "--collector", address_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }

  std::string PolicyFile(const std::string& name, const std::string& yaml) {
    WriteFile(dir_.File(name), yaml);
    return dir_.File(name);
  }

  std::optional<medic::v1::MachineHealth> Health(const std::string& host) {
    RunResult r = Medic({"health", host, "--json"});
    medic::v1::MachineHealth health;
    if (r.exit_code != 0 || !google::protobuf::util::JsonStringToMessage(r.out, &health).ok()) {
      return std::nullopt;
    }
    return health;
  }

  // Polls until `host` says it runs policy `version`.
  bool WaitForVersion(const std::string& host, const std::string& version,
                      absl::Duration timeout = absl::Seconds(20)) {
    const absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      auto health = Health(host);
      if (health && health->machine().policy_version() == version) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

  absl::Time MemoryCollectedAt(const std::string& host) {
    auto health = Health(host);
    if (!health) return absl::InfinitePast();
    for (const auto& r : health->reports()) {
      if (r.probe() == "memory") {
        return absl::FromUnixSeconds(r.collected_at().seconds()) +
               absl::Nanoseconds(r.collected_at().nanos());
      }
    }
    return absl::InfinitePast();
  }

  TempDir dir_;
  std::unique_ptr<Process> collector_;
  std::string address_;
};

TEST_F(PolicyTest, GroupPolicyIsPushedAppliedLiveAndReported) {
  ASSERT_EQ(
      Medic({"policy", "set", "all", PolicyFile("all.yaml", "hardware: {load_per_core_high: 3}\n")})
          .exit_code,
      0);
  auto agent = StartAgent("pol-ws-1", "labels: [ou-sales]\n");
  ASSERT_TRUE(WaitForVersion("pol-ws-1", "all@1")) << agent->Describe() << collector_->Describe();
  const absl::Time first = MemoryCollectedAt("pol-ws-1");
  ASSERT_NE(first, absl::InfinitePast());

  // The label's policy shortens the memory probe's interval from 1h: a new collection arrives
  // within seconds, without a restart.
  RunResult set = Medic({"policy", "set", "label=ou-sales",
                         PolicyFile("sales.yaml", "probes:\n  memory:\n    interval: 1s\n")});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_THAT(set.out, HasSubstr("revision 1"));
  ASSERT_TRUE(WaitForVersion("pol-ws-1", "all@1,label=ou-sales@1")) << agent->Describe();
  const absl::Time end = absl::Now() + absl::Seconds(15);
  absl::Time latest = first;
  while (absl::Now() < end && latest <= first + absl::Milliseconds(500)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    latest = MemoryCollectedAt("pol-ws-1");
  }
  EXPECT_GT(latest, first + absl::Milliseconds(500)) << agent->Describe();
  EXPECT_TRUE(agent->Running());

  RunResult health = Medic({"health", "pol-ws-1"});
  EXPECT_THAT(health.out, HasSubstr("policy all@1,label=ou-sales@1"));

  // Preview: where each effective value comes from, and a draft before it is set.
  RunResult preview = Medic({"policy", "preview", "pol-ws-1", "label=ou-sales",
                             PolicyFile("draft.yaml", "probes:\n  memory:\n    interval: 7s\n")});
  ASSERT_EQ(preview.exit_code, 0) << preview.err;
  EXPECT_THAT(preview.out, HasSubstr("interval: 7s  # policy label=ou-sales@0:3"));
  EXPECT_THAT(preview.out, HasSubstr("load_per_core_high: 3  # policy all@1:1"));
  EXPECT_THAT(preview.out, HasSubstr("runs all@1,label=ou-sales@1 now"));
  // A preview changes nothing.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(Health("pol-ws-1")->machine().policy_version(), "all@1,label=ou-sales@1");

  // The version survives the agent's reconnect and shows after a collector restart too.
  RunResult show = Medic({"policy", "show"});
  EXPECT_THAT(show.out, HasSubstr("label=ou-sales @1"));
}

TEST_F(PolicyTest, LocallyForbiddenSettingIsRefusedAndReported) {
  auto agent =
      StartAgent("pol-ws-2", "policy_guard: {forbid: [network], forbid_enable: [smart]}\n");
  ASSERT_TRUE(WaitForVersion("pol-ws-2", "")) << agent->Describe();
  RunResult set =
      Medic({"policy", "set", "host=pol-ws-2",
             PolicyFile("host.yaml",
                        "network: {dns_test_names: [evil.example]}\n"
                        "probes: {smart: {disabled: false}, memory: {interval: 2s}}\n")});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  ASSERT_TRUE(WaitForVersion("pol-ws-2", "host=pol-ws-2@1")) << agent->Describe();
  RunResult preview = Medic({"policy", "preview", "pol-ws-2"});
  ASSERT_EQ(preview.exit_code, 0) << preview.err;
  // What the agent itself said it refused, and why.
  EXPECT_THAT(preview.out,
              HasSubstr("refused when it applied host=pol-ws-2@1: network.dns_test_names: "
                        "forbidden here by policy_guard.forbid (network)"));
  EXPECT_THAT(preview.out, HasSubstr("probe smart stays off here"));
  // The rest applied.
  EXPECT_THAT(preview.out, HasSubstr("interval: 2s  # policy host=pol-ws-2@1"));
  EXPECT_THAT(preview.out, Not(HasSubstr("evil.example")));
  EXPECT_TRUE(agent->WaitForStderr("network.dns_test_names: forbidden here", absl::Seconds(5)))
      << agent->Describe();
}

TEST_F(PolicyTest, CanaryRollsBackOnErrorsAndRollsOutWhenClean) {
  // Both forbid network settings, so whichever is the canary refuses the bad revision.
  const std::string dropin = "labels: [ou-canary]\npolicy_guard: {forbid: [network]}\n";
  auto a = StartAgent("pol-can-a", dropin);
  auto b = StartAgent("pol-can-b", dropin);
  ASSERT_TRUE(WaitForVersion("pol-can-a", "")) << a->Describe();
  ASSERT_TRUE(WaitForVersion("pol-can-b", "")) << b->Describe();
  ASSERT_EQ(Medic({"policy", "set", "label=ou-canary",
                   PolicyFile("good.yaml", "probes: {memory: {interval: 30s}}\n")})
                .exit_code,
            0);
  ASSERT_TRUE(WaitForVersion("pol-can-a", "label=ou-canary@1"));
  ASSERT_TRUE(WaitForVersion("pol-can-b", "label=ou-canary@1"));

  RunResult rollout =
      Medic({"policy", "rollout", "label=ou-canary",
             PolicyFile("bad.yaml", "network: {targets: [\"10.0.0.1:80\"]}\n"), "--canary", "50%"});
  ASSERT_EQ(rollout.exit_code, 0) << rollout.err;
  EXPECT_THAT(rollout.out, HasSubstr("on trial on 1 machine(s)"));
  const std::string canary =
      rollout.out.find("pol-can-a") != std::string::npos ? "pol-can-a" : "pol-can-b";
  const std::string other = canary == "pol-can-a" ? "pol-can-b" : "pol-can-a";
  // The canary reports its refusal; the revision is rolled back and it returns to @1.
  const absl::Time end = absl::Now() + absl::Seconds(20);
  RunResult show;
  while (absl::Now() < end) {
    show = Medic({"policy", "show"});
    if (show.out.find("rollback:") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_THAT(show.out, HasSubstr("rollback: rolled back label=ou-canary@2: " + canary));
  EXPECT_THAT(show.out, Not(HasSubstr("canary @2")));
  EXPECT_TRUE(WaitForVersion(canary, "label=ou-canary@1"));
  EXPECT_EQ(Health(other)->machine().policy_version(), "label=ou-canary@1");

  // A clean revision goes to the canary, then to the whole group.
  rollout =
      Medic({"policy", "rollout", "label=ou-canary",
             PolicyFile("ok.yaml", "probes: {memory: {interval: 20s}}\n"), "--canary", "50%"});
  ASSERT_EQ(rollout.exit_code, 0) << rollout.err;
  EXPECT_TRUE(WaitForVersion("pol-can-a", "label=ou-canary@3")) << collector_->Describe();
  EXPECT_TRUE(WaitForVersion("pol-can-b", "label=ou-canary@3")) << collector_->Describe();
  show = Medic({"policy", "show"});
  EXPECT_THAT(show.out, HasSubstr("label=ou-canary @3"));
}

// The deployment promise as shipped (TLS, enrollment): a machine whose only Medic settings are
// a drop-in with the collector's address, an enrollment token and the organisation's CA enrolls
// by itself, receives its group's policy and shows its version to technicians.
TEST(PolicyEnrollmentTest, AgentFromADropInEnrollsAndRunsItsGroupsPolicy) {
  TempDir dir;
  Process collector(
      {kBin + "/medic-collector", "--listen", "127.0.0.1:0", "--db", dir.File("collector.db")},
      dir.path(), "collector");
  ASSERT_TRUE(collector.WaitForStdout("listening on", absl::Seconds(20))) << collector.Describe();
  const std::string out = collector.Stdout();
  const size_t at = out.find("listening on ") + 13;
  const std::string address = out.substr(at, out.find(' ', at) - at);
  auto admin = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {
        kBin + "/medic", "--collector",          address, "--ca-file", dir.File("ca.pem"),
        "--token-file",  dir.File("admin.token")};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  };
  WriteFile(dir.File("all.yaml"), "probes:\n  memory:\n    interval: 2s\n");
  RunResult set = admin({"policy", "set", "all", dir.File("all.yaml")});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  RunResult token = admin({"enroll-tokens", "create", "--uses", "1"});
  ASSERT_EQ(token.exit_code, 0) << token.err;
  std::string secret = token.out;
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == ' ')) secret.pop_back();

  // The machine: its main file holds only where its state lives; everything else is the drop-in
  // that group policy or config management left.
  const std::string etc = dir.File("etc");
  std::filesystem::create_directories(etc + "/agent.d");
  WriteFile(etc + "/agent.yaml", absl::StrCat("state_dir: ", dir.File("state"), "\n"));
  WriteFile(etc + "/agent.d/50-medic.yaml",
            absl::StrCat("collector: ", address, "\nenrollment_token: \"", secret,
                         "\"\nsecurity: {ca_file: \"", dir.File("ca.pem"), "\"}\n"));
  Process agent({kBin + "/medic-agent", "--config", etc + "/agent.yaml", "--hostname", "gpo-ws-1",
                 "--probes", "memory"},
                dir.path(), "agent");

  const absl::Time end = absl::Now() + absl::Seconds(30);
  std::string health;
  while (absl::Now() < end) {
    RunResult r = admin({"health", "gpo-ws-1"});
    health = r.out;
    if (r.exit_code == 0 && health.find("policy all@1") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  EXPECT_THAT(health, HasSubstr("policy all@1")) << agent.Describe() << collector.Describe();
  // It enrolled (a certificate in its state dir, the token used up) rather than anything else.
  EXPECT_TRUE(std::filesystem::exists(dir.File("state") + "/agent.pem")) << agent.Describe();
  EXPECT_THAT(admin({"enroll-tokens", "list"}).out, HasSubstr("used 1 of 1"));
}

}  // namespace
}  // namespace medic::test
