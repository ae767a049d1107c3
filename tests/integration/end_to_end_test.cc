// The foundation's slice end to end, with real processes over real TCP: a collector on an
// SQLite file, an agent on this machine, and the `medic` CLI a technician would run.

#include <signal.h>

#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "medic/v1/fleet.pb.h"
#include "medic/v1/technician.pb.h"
#include "tests/support/process.h"

namespace medic::test {
namespace {

using ::testing::HasSubstr;

const std::string kBin = MEDIC_BIN_DIR;

// An agent config that collects every second, so the test need not wait long, and that
// judges every filesystem short of space, so a finding travels the whole way.
constexpr char kFastAgentConfig[] = R"yaml(
heartbeat_interval: 1s
reconnect: {initial_backoff: 200ms, max_backoff: 1s}
probes:
  cpu: {interval: 1s}
  memory: {interval: 1s}
  filesystems: {interval: 1s}
  network: {interval: 2s}
  # Would ping this machine's real gateway and ask its real resolvers: tests send traffic only
  # to loopback and to namespaces they made (network_namespaces_test covers it there).
  connectivity: {disabled: true}
filesystems:
  space_low_pct: 99.999
  space_critical_pct: 0.0001
)yaml";

class EndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.File("agent.yaml"), kFastAgentConfig);
    WriteFile(dir_.File("collector.yaml"), "heartbeat_interval: 1s\noffline_after: 4s\n");
  }

  std::unique_ptr<Process> StartCollector(const std::string& listen, const std::string& name) {
    auto collector = std::make_unique<Process>(
        std::vector<std::string>{kBin + "/medic-collector", "--insecure", "--listen", listen,
                                 "--db", dir_.File("collector.db"), "--config",
                                 dir_.File("collector.yaml")},
        dir_.path(), name);
    EXPECT_TRUE(collector->WaitForStdout("listening on", absl::Seconds(20)))
        << collector->Describe();
    const std::string out = collector->Stdout();
    const size_t at = out.find("listening on ") + 13;
    address_ = out.substr(at, out.find(' ', at) - at);
    return collector;
  }

  std::unique_ptr<Process> StartAgent(const std::string& hostname) {
    return std::make_unique<Process>(
        std::vector<std::string>{kBin + "/medic-agent", "--insecure", "--collector", address_,
                                 "--config", dir_.File("agent.yaml"), "--state-dir",
                                 dir_.File("state-" + hostname), "--hostname", hostname},
        dir_.path(), "agent-" + hostname);
  }

  RunResult Medic(std::vector<std::string> args) {
    std::vector<std::string> argv = {kBin + "/medic", "--insecure", "--collector", address_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }

  // Polls `medic machines --json` until `hostname` is in `state` with its OS known.
  std::optional<medic::v1::Machine> WaitForMachine(const std::string& hostname,
                                                   medic::v1::MachineState state,
                                                   absl::Duration timeout = absl::Seconds(30)) {
    const absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      RunResult r = Medic({"machines", "--json"});
      medic::v1::ListMachinesResponse response;
      if (r.exit_code == 0 && google::protobuf::util::JsonStringToMessage(r.out, &response).ok()) {
        for (const auto& m : response.machines()) {
          if (m.hostname() == hostname && m.state() == state && !m.os().empty()) return m;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return std::nullopt;
  }

  TempDir dir_;
  std::string address_;
};

TEST_F(EndToEndTest, AgentReportsAndTechnicianSeesItsHealth) {
  auto collector = StartCollector("127.0.0.1:0", "collector");
  auto agent = StartAgent("e2e-ws-1");
  auto machine = WaitForMachine("e2e-ws-1", medic::v1::MACHINE_STATE_ONLINE);
  ASSERT_TRUE(machine.has_value()) << collector->Describe() << agent->Describe();
  EXPECT_EQ(machine->machine_id().size(), 32u);
  EXPECT_GE(machine->open_findings(), 1u);  // disk.space_low on every filesystem

  RunResult table = Medic({"machines"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("e2e-ws-1"));
  EXPECT_THAT(table.out, HasSubstr("online"));

  // Slow probes (apt, systemctl) report a few seconds after the fast ones.
  const std::set<std::string> kEveryProbe{
      "cpu",     "filesystems",     "memory",    "network",  "os",       "thermal",
      "battery", "hardware_errors", "reboot",    "updates",  "services", "time",
      "crashes", "smart",           "inventory", "printers", "agent"};
  medic::v1::MachineHealth health;
  RunResult json;
  const absl::Time end = absl::Now() + absl::Seconds(60);
  do {
    json = Medic({"health", "e2e-ws-1", "--json"});
    ASSERT_EQ(json.exit_code, 0) << json.err;
    health.Clear();
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &health).ok()) << json.out;
    if (health.reports_size() == static_cast<int>(kEveryProbe.size())) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  } while (absl::Now() < end);
  std::set<std::string> probes;
  for (const auto& r : health.reports()) {
    probes.insert(r.probe());
    EXPECT_EQ(r.outcome(), medic::v1::PROBE_OUTCOME_OK) << r.probe() << ": " << r.error();
  }
  EXPECT_EQ(probes, kEveryProbe);
  bool root_low = false;
  for (const auto& f : health.findings())
    root_low |= f.code() == "disk.space_low" && f.resource() == "/";
  EXPECT_TRUE(root_low) << json.out;
  EXPECT_FALSE(health.topology().agent_version().empty());

  RunResult text = Medic({"health", "e2e-ws-1"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  for (const char* section : {"e2e-ws-1 — online", "Findings", "disk.space_low on /", "Hardware",
                              "CPU", "Memory", "Disks", "OS", "Network"}) {
    EXPECT_THAT(text.out, HasSubstr(section));
  }

  // A clean stop: the agent says goodbye and the machine shows offline at once.
  EXPECT_EQ(agent->Stop(SIGTERM), 0) << agent->Describe();
  EXPECT_TRUE(WaitForMachine("e2e-ws-1", medic::v1::MACHINE_STATE_OFFLINE, absl::Seconds(10)));
  EXPECT_EQ(collector->Stop(SIGTERM), 0) << collector->Describe();
}

TEST_F(EndToEndTest, CollectorRestartKeepsDataAndAgentComesBack) {
  auto collector = StartCollector("127.0.0.1:0", "collector-1");
  const std::string first_address = address_;
  auto agent = StartAgent("e2e-ws-2");
  auto before = WaitForMachine("e2e-ws-2", medic::v1::MACHINE_STATE_ONLINE);
  ASSERT_TRUE(before.has_value()) << collector->Describe() << agent->Describe();

  ASSERT_EQ(collector->Stop(SIGTERM), 0) << collector->Describe();
  RunResult down = Medic({"machines"});
  EXPECT_EQ(down.exit_code, 3);
  EXPECT_THAT(down.err, HasSubstr("cannot reach the collector at " + first_address));
  EXPECT_TRUE(agent->Running()) << "the agent must outlive its collector\n" << agent->Describe();

  // Same port, same database: the machine is still known before the agent is back …
  collector = StartCollector(first_address, "collector-2");
  ASSERT_EQ(address_, first_address);
  RunResult listed = Medic({"machines", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr(before->machine_id()));
  // … and the agent reconnects by itself, with the same identity.
  auto after = WaitForMachine("e2e-ws-2", medic::v1::MACHINE_STATE_ONLINE);
  ASSERT_TRUE(after.has_value()) << collector->Describe() << agent->Describe();
  EXPECT_EQ(after->machine_id(), before->machine_id());
  EXPECT_EQ(after->first_seen().seconds(), before->first_seen().seconds());
}

TEST_F(EndToEndTest, AgentWaitsForACollectorThatIsNotThereYet) {
  address_ = absl::StrCat("127.0.0.1:", FreePort());
  auto agent = StartAgent("e2e-ws-3");
  ASSERT_TRUE(agent->WaitForStderr("cannot reach the collector", absl::Seconds(10)))
      << agent->Describe();
  EXPECT_TRUE(agent->Running());
  auto collector = StartCollector(address_, "collector");
  EXPECT_TRUE(WaitForMachine("e2e-ws-3", medic::v1::MACHINE_STATE_ONLINE).has_value())
      << collector->Describe() << agent->Describe();
}

}  // namespace
}  // namespace medic::test
