// What a technician does with tickets, through the real `medic` CLI against a real collector
// fed by simulated agents: list, show, acknowledge, resolve by hand, and the incidents' why.

#include <signal.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sim/fleet.h"
#include "tests/support/process.h"

namespace medic::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kBin = MEDIC_BIN_DIR;

TEST(TicketsCliTest, ListShowAcknowledgeResolve) {
  TempDir dir;
  const std::string address = "127.0.0.1:" + std::to_string(FreePort());
  WriteFile(dir.File("c.yaml"), "heartbeat_interval: 1s\noffline_after: 30s\n");
  Process collector({kBin + "/medic-collector", "--insecure", "--listen", address, "--db",
                     dir.File("c.db"), "--config", dir.File("c.yaml")},
                    dir.path(), "collector");
  ASSERT_TRUE(collector.WaitForStdout("listening on", absl::Seconds(20))) << collector.Describe();
  sim::FleetGroup group;
  group.prefix = "ws";
  group.site = "hq";
  group.subnet = "10.1.0.0/24";
  sim::SimAgent agent("ws-042", group, address, 1);
  agent.Connect();
  medic::v1::Finding f;
  f.set_code("disk.space_low");
  f.set_resource("/");
  f.set_severity(medic::v1::SEVERITY_CRITICAL);
  f.set_summary("/ has 3% free (1.2 GiB of 40 GiB)");
  agent.Raise(f);

  auto medic = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {kBin + "/medic", "--insecure", "--collector", address});
    return RunCommand(args);
  };
  RunResult list;
  for (int i = 0; i < 100; ++i) {
    list = medic({"tickets"});
    if (list.out.find("MED-1") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("ws-042: disk / is almost full"));
  EXPECT_THAT(list.out, HasSubstr("P2"));  // critical on one host

  RunResult show = medic({"tickets", "show", "MED-1"});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("little free space left"));
  EXPECT_THAT(show.out, HasSubstr("Tell the user: Empty the trash"));
  EXPECT_THAT(show.out, HasSubstr("ws-042: / has 3% free"));

  RunResult json = medic({"tickets", "--json"});
  EXPECT_THAT(json.out, HasSubstr("\"state\": \"TICKET_STATE_OPEN\""));

  RunResult ack = medic({"tickets", "ack", "MED-1", "--note", "looking"});
  EXPECT_EQ(ack.exit_code, 0) << ack.err;
  RunResult again = medic({"tickets", "ack", "MED-1"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("acknowledged already"));
  RunResult missing = medic({"tickets", "show", "MED-99"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("no ticket MED-99"));

  RunResult resolve = medic({"tickets", "resolve", "MED-1", "--note", "cleaned /var/tmp"});
  EXPECT_EQ(resolve.exit_code, 0) << resolve.err;
  RunResult open = medic({"tickets", "--state", "open"});
  EXPECT_THAT(open.out, HasSubstr("No tickets."));
  RunResult history = medic({"tickets", "show", "MED-1"});
  EXPECT_THAT(history.out, HasSubstr("acknowledged: looking"));
  EXPECT_THAT(history.out, HasSubstr("resolved: cleaned /var/tmp"));

  RunResult incidents = medic({"incidents"});
  EXPECT_EQ(incidents.exit_code, 0) << incidents.err;
  EXPECT_THAT(incidents.out, HasSubstr("is a fault of that machine alone"));
  RunResult no_note = medic({"tickets", "resolve", "MED-1"});
  EXPECT_EQ(no_note.exit_code, 2) << "a manual resolve needs a note";
  agent.Disconnect();
  agent.WaitClosed(absl::Seconds(2));
  collector.Stop(SIGTERM);
}

}  // namespace
}  // namespace medic::test
