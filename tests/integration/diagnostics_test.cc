// Live diagnostics end to end with real processes: a real collector, real medic-agents (their
// probes limited so nothing touches the real network: DNS goes to 127.0.0.1, where nothing
// listens) and simulated agents, driven through the real `medic` CLI.

#include <signal.h>

#include <algorithm>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "medic/v1/technician.grpc.pb.h"
#include "tests/sim/fleet.h"
#include "tests/support/process.h"

namespace medic::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kBin = MEDIC_BIN_DIR;

// One collector and the agents and CLI calls of a test, all started the same way.
class Fleet {
 public:
  Fleet() : address_("127.0.0.1:" + std::to_string(FreePort())) {
    WriteFile(dir_.File("c.yaml"), "heartbeat_interval: 1s\noffline_after: 30s\n");
    collector_ = std::make_unique<Process>(
        std::vector<std::string>{kBin + "/medic-collector", "--insecure", "--listen", address_,
                                 "--db", dir_.File("c.db"), "--config", dir_.File("c.yaml")},
        dir_.path(), "collector");
  }
  bool Ready() { return collector_->WaitForStdout("listening on", absl::Seconds(20)); }

  // A real agent named `host` of site hq: memory and filesystems probes, DNS at 127.0.0.1.
  std::unique_ptr<Process> StartAgent(const std::string& host, const std::string& extra_yaml = "") {
    const std::string config = dir_.File(host + ".yaml");
    WriteFile(config,
              "network:\n  dns_servers: [\"127.0.0.1\"]\nheartbeat_interval: 1s\n" + extra_yaml);
    return std::make_unique<Process>(
        std::vector<std::string>{kBin + "/medic-agent", "--insecure", "--config", config,
                                 "--collector", address_, "--state-dir", dir_.File(host + "-state"),
                                 "--hostname", host, "--site", "hq", "--probes",
                                 "memory,filesystems"},
        dir_.path(), host);
  }

  RunResult Medic(std::vector<std::string> args) {
    args.insert(args.begin(), {kBin + "/medic", "--insecure", "--collector", address_});
    return RunCommand(args);
  }

  // Waits until `medic machines --state STATE` lists `host`.
  bool WaitOnline(const std::string& host, const std::string& state = "online") {
    for (int i = 0; i < 100; ++i) {
      if (Medic({"machines", "--state", state}).out.find(host) != std::string::npos) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    return false;
  }

  const std::string& address() const { return address_; }
  TempDir& dir() { return dir_; }
  std::string Describe() const { return collector_->Describe(); }

 private:
  TempDir dir_;
  const std::string address_;
  std::unique_ptr<Process> collector_;
};

TEST(DiagnosticsTest, DiagnoseOneHostAndRefusals) {
  Fleet fleet;
  ASSERT_TRUE(fleet.Ready()) << fleet.Describe();
  auto agent = fleet.StartAgent("ws-a", "diagnostics:\n  disabled: [logs]\n");
  ASSERT_TRUE(fleet.WaitOnline("ws-a")) << agent->Describe();

  RunResult health = fleet.Medic({"diagnose", "ws-a", "health"});
  EXPECT_EQ(health.exit_code, 0) << health.out << health.err;
  EXPECT_THAT(health.out, HasSubstr("ws-a  health  PASSED"));
  EXPECT_THAT(health.out, HasSubstr("health: 2 probes ran"));

  // Nothing listens on 127.0.0.1:53: the check runs and finds the server refusing.
  RunResult dns = fleet.Medic({"diagnose", "ws-a", "dns", "intranet.corp"});
  EXPECT_EQ(dns.exit_code, 4) << dns.out << dns.err;
  EXPECT_THAT(dns.out, HasSubstr("FOUND"));
  EXPECT_THAT(dns.out, HasSubstr("127.0.0.1: intranet.corp failed: connection refused"));

  RunResult json = fleet.Medic({"diagnose", "ws-a", "disk", "--json"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  // One JSON object per line, as results arrive.
  EXPECT_THAT(json.out, HasSubstr("\"outcome\":\"DIAGNOSTIC_OUTCOME_PASSED\""));
  EXPECT_THAT(json.out, HasSubstr("\"mountPoint\":\"/\""));
  EXPECT_EQ(std::count(json.out.begin(), json.out.end(), '\n'), 1);

  // Disabled by the machine's own config: refused there, with the reason.
  RunResult logs = fleet.Medic({"diagnose", "ws-a", "logs", "cups.service"});
  EXPECT_EQ(logs.exit_code, 5);
  EXPECT_THAT(logs.out, HasSubstr("REFUSED"));
  EXPECT_THAT(logs.out, HasSubstr("disabled on this machine"));

  // A ping outside the machine's subnets, gateway and targets is refused by the agent (a
  // documentation address: refused before anything is sent).
  RunResult ping = fleet.Medic({"diagnose", "ws-a", "ping", "203.0.113.9"});
  EXPECT_EQ(ping.exit_code, 5);
  EXPECT_THAT(ping.out, HasSubstr("neither the gateway, in this machine's subnets"));

  // A check this agent's catalog does not have (a newer collector's) is refused by the agent,
  // which logs who asked (the caller the collector authenticated: in test mode, anyone).
  auto stub = medic::v1::TechnicianService::NewStub(
      grpc::CreateChannel(fleet.address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  medic::v1::RunDiagnosticRequest request;
  request.mutable_selector()->add_hosts("ws-a");
  request.set_check(static_cast<medic::v1::DiagnosticCheck>(42));
  auto reader = stub->RunDiagnostic(&context, request);
  medic::v1::DiagnosticResult result;
  ASSERT_TRUE(reader->Read(&result));
  EXPECT_EQ(result.outcome(), medic::v1::DIAGNOSTIC_OUTCOME_REFUSED);
  EXPECT_THAT(result.summary(), HasSubstr("not in this agent's catalog"));
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_TRUE(agent->WaitForStderr("requested by insecure-mode via", absl::Seconds(5)))
      << agent->Describe();

  RunResult unknown = fleet.Medic({"diagnose", "ws-a", "reboot"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("'reboot' is not a diagnostic"));
  RunResult nobody = fleet.Medic({"diagnose", "ws-zz", "health"});
  EXPECT_EQ(nobody.exit_code, 1);
  EXPECT_THAT(nobody.err, HasSubstr("no machine named 'ws-zz'"));
}

TEST(DiagnosticsTest, FanOutReportsOfflineAndSilentMachines) {
  Fleet fleet;
  ASSERT_TRUE(fleet.Ready()) << fleet.Describe();
  auto agent = fleet.StartAgent("ws-a");
  sim::FleetGroup hq;
  hq.prefix = "ws";
  hq.site = "hq";
  hq.subnet = "10.1.0.0/24";
  hq.dns = {"10.1.0.53"};
  sim::SimAgent answering("ws-sim", hq, fleet.address(), 1);
  answering.Connect();
  sim::SimAgent silent("ws-silent", hq, fleet.address(), 2);
  silent.set_answers_diagnostics(false);
  silent.Connect();
  sim::SimAgent gone("ws-gone", hq, fleet.address(), 3);
  gone.Connect();
  ASSERT_TRUE(fleet.WaitOnline("ws-gone"));
  gone.Disconnect();
  gone.WaitClosed(absl::Seconds(5));
  ASSERT_TRUE(fleet.WaitOnline("ws-a")) << agent->Describe();
  ASSERT_TRUE(fleet.WaitOnline("ws-silent"));

  RunResult run =
      fleet.Medic({"diagnose", "--site", "hq", "--deadline", "2s", "dns", "intranet.corp"});
  EXPECT_EQ(run.exit_code, 5) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("ws-sim  dns  PASSED"));
  EXPECT_THAT(run.out, HasSubstr("10.1.0.53: intranet.corp"));
  EXPECT_THAT(run.out, HasSubstr("ws-a  dns  FOUND"));
  EXPECT_THAT(run.out, HasSubstr("4 machines:"));
  EXPECT_THAT(run.out, HasSubstr("Did not answer in time: ws-silent"));
  EXPECT_THAT(run.out, HasSubstr("Offline: ws-gone"));
}

TEST(DiagnosticsTest, QueuedRequestRunsWhenTheMachineReconnects) {
  Fleet fleet;
  ASSERT_TRUE(fleet.Ready()) << fleet.Describe();
  auto agent = fleet.StartAgent("ws-q");
  ASSERT_TRUE(fleet.WaitOnline("ws-q")) << agent->Describe();
  agent->Stop(SIGTERM);
  agent.reset();
  ASSERT_TRUE(fleet.WaitOnline("ws-q", "offline"));

  RunResult queued = fleet.Medic({"diagnose", "ws-q", "disk", "--queue-for", "1h"});
  EXPECT_EQ(queued.exit_code, 5) << queued.out << queued.err;
  EXPECT_THAT(queued.out, HasSubstr("OFFLINE"));
  EXPECT_THAT(queued.out, HasSubstr("queued for 1h"));
  const size_t at = queued.out.find("--results D-");
  ASSERT_NE(at, std::string::npos) << queued.out;
  const std::string id = queued.out.substr(at + 10, queued.out.find(')', at) - at - 10);

  RunResult waiting = fleet.Medic({"diagnose", "--results", id});
  EXPECT_EQ(waiting.exit_code, 5);
  EXPECT_THAT(waiting.out, HasSubstr("ws-q  still offline"));

  agent = fleet.StartAgent("ws-q");
  RunResult done;
  for (int i = 0; i < 100; ++i) {
    done = fleet.Medic({"diagnose", "--results", id});
    if (done.exit_code == 0) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(done.exit_code, 0) << done.out << done.err << agent->Describe();
  EXPECT_THAT(done.out, HasSubstr("ws-q  disk  PASSED"));
  EXPECT_THAT(done.out, HasSubstr("filesystems probe"));
}

TEST(DiagnosticsTest, WatchShowsAFaultAppearAndClear) {
  Fleet fleet;
  ASSERT_TRUE(fleet.Ready()) << fleet.Describe();
  Process watch({kBin + "/medic", "--insecure", "--collector", fleet.address(), "watch"},
                fleet.dir().path(), "watch");
  ASSERT_TRUE(watch.WaitForStderr("Watching the fleet", absl::Seconds(10))) << watch.Describe();
  sim::FleetGroup hq;
  hq.prefix = "ws";
  hq.site = "hq";
  hq.subnet = "10.1.0.0/24";
  sim::SimAgent agent("ws-w", hq, fleet.address(), 1);
  agent.Connect();
  EXPECT_TRUE(watch.WaitForStdout("ws-w  online", absl::Seconds(10))) << watch.Describe();
  medic::v1::Finding f;
  f.set_code("disk.space_low");
  f.set_resource("/");
  f.set_severity(medic::v1::SEVERITY_CRITICAL);
  f.set_summary("/ has 3% free (1.2 GiB of 40 GiB)");
  agent.Raise(f);
  EXPECT_TRUE(watch.WaitForStdout("raised   disk.space_low  / has 3% free", absl::Seconds(10)))
      << watch.Describe();
  EXPECT_TRUE(watch.WaitForStdout("incident I-1", absl::Seconds(10))) << watch.Describe();
  EXPECT_TRUE(watch.WaitForStdout("ticket MED-1  open", absl::Seconds(10))) << watch.Describe();
  RunResult ack = fleet.Medic({"tickets", "ack", "MED-1"});
  EXPECT_EQ(ack.exit_code, 0) << ack.err;
  EXPECT_TRUE(watch.WaitForStdout("ticket MED-1  acknowledged", absl::Seconds(10)))
      << watch.Describe();
  medic::v1::FindingCleared clear;
  clear.set_code("disk.space_low");
  clear.set_resource("/");
  agent.Clear(clear);
  EXPECT_TRUE(watch.WaitForStdout("cleared  disk.space_low  /", absl::Seconds(10)))
      << watch.Describe();
  agent.Disconnect();
  EXPECT_TRUE(watch.WaitForStdout("ws-w  offline", absl::Seconds(10))) << watch.Describe();
}

}  // namespace
}  // namespace medic::test
