// Bad input at the edges: each gets one clear line naming the problem and what to do, a
// non-zero exit where the program cannot go on, and nothing already stored is harmed.

#include <signal.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace medic::test {
namespace {

using ::testing::HasSubstr;

const std::string kBin = MEDIC_BIN_DIR;

TEST(BadInputTest, MalformedAgentConfigNamesFileLineAndKey) {
  TempDir dir;
  const std::string config = dir.File("agent.yaml");
  WriteFile(config, "collector: 127.0.0.1:7070\nprobes:\n  cpu:\n    interval: 5x\n");
  RunResult r = RunCommand({kBin + "/medic-agent", "--config", config, "--once"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(config + ":4"));
  EXPECT_THAT(r.err, HasSubstr("probes.cpu.interval"));

  WriteFile(config, "colector: 127.0.0.1:7070\n");
  r = RunCommand({kBin + "/medic-agent", "--config", config, "--once"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(config + ":1"));
  EXPECT_THAT(r.err, HasSubstr("did you mean 'collector'"));
}

TEST(BadInputTest, MissingConfigFileIsNamed) {
  RunResult r = RunCommand(
      {kBin + "/medic-collector", "--insecure", "--config", "/nonexistent/collector.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/collector.yaml"));
}

TEST(BadInputTest, UnopenableDatabaseIsNamedWithWhatToDo) {
  TempDir dir;
  RunResult r = RunCommand({kBin + "/medic-collector", "--insecure", "--listen", "127.0.0.1:0",
                            "--db", dir.File("missing-dir/collector.db")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("missing-dir/collector.db"));
  EXPECT_THAT(r.err, HasSubstr("--db"));
}

TEST(BadInputTest, ForeignFileAsDatabaseIsRefusedAndUntouched) {
  TempDir dir;
  const std::string path = dir.File("important.txt");
  WriteFile(path, "quarterly figures\n");
  RunResult r = RunCommand(
      {kBin + "/medic-collector", "--insecure", "--listen", "127.0.0.1:0", "--db", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("not a Medic database"));
  EXPECT_EQ(RunCommand({"/usr/bin/cat", path}).out, "quarterly figures\n");
}

TEST(BadInputTest, PortInUseIsNamed) {
  TempDir dir;
  Process first({kBin + "/medic-collector", "--insecure", "--listen", "127.0.0.1:0", "--db",
                 dir.File("a.db")},
                dir.path(), "first");
  ASSERT_TRUE(first.WaitForStdout("listening on", absl::Seconds(20))) << first.Describe();
  const std::string out = first.Stdout();
  const size_t at = out.find("listening on ") + 13;
  const std::string address = out.substr(at, out.find(' ', at) - at);
  RunResult r = RunCommand(
      {kBin + "/medic-collector", "--insecure", "--listen", address, "--db", dir.File("b.db")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot listen on " + address));
}

TEST(BadInputTest, OutboundCaFileThatIsMissingOrNotPemIsNamed) {
  TempDir dir;
  const std::string config = dir.File("collector.yaml");
  const auto start = [&](const std::string& yaml) {
    WriteFile(config, yaml);
    return RunCommand({kBin + "/medic-collector", "--insecure", "--listen", "127.0.0.1:0", "--db",
                       dir.File("c.db"), "--config", config});
  };
  RunResult r = start("outbound:\n  helpdesk_url: https://helpdesk.corp/\n  ca_file: " +
                      dir.File("missing.pem") + "\n");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("outbound.ca_file: cannot read '" + dir.File("missing.pem")));
  WriteFile(dir.File("notes.txt"), "not a certificate\n");
  r = start("outbound:\n  helpdesk_url: https://helpdesk.corp/\n  ca_file: " +
            dir.File("notes.txt") + "\n");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("holds no PEM certificate"));
  r = start("outbound:\n  webhook_url: ftp://hooks.corp/\n");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("outbound.webhook_url: 'ftp://hooks.corp/' is not an http:// or "
                               "https:// URL"));
}

TEST(BadInputTest, MalformedNetworkTargetIsNamed) {
  TempDir dir;
  const std::string config = dir.File("agent.yaml");
  WriteFile(config, "network:\n  targets: [\"files.corp\"]\n");
  RunResult r = RunCommand({kBin + "/medic-agent", "--config", config, "--once"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("network.targets: target \"files.corp\": expected HOST:PORT"));
}

TEST(BadInputTest, UnwritableStateDirIsNamed) {
  // A state dir below a regular file cannot be created, even by root.
  TempDir dir;
  WriteFile(dir.File("file"), "");
  RunResult r = RunCommand({kBin + "/medic-agent", "--insecure", "--collector", "127.0.0.1:1",
                            "--state-dir", dir.File("file/state")},
                           absl::Seconds(20));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(dir.File("file")));
  EXPECT_THAT(r.err, HasSubstr("--state-dir"));
}

TEST(BadInputTest, CliAgainstNoCollectorSaysWhatToDo) {
  RunResult r =
      RunCommand({kBin + "/medic", "--insecure", "--collector",
                  "127.0.0.1:" + std::to_string(FreePort()), "--timeout", "3", "machines"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("is medic-collector running"));
}

TEST(BadInputTest, CliForUnknownHostSaysSo) {
  TempDir dir;
  Process collector({kBin + "/medic-collector", "--insecure", "--listen", "127.0.0.1:0", "--db",
                     dir.File("c.db")},
                    dir.path(), "collector");
  ASSERT_TRUE(collector.WaitForStdout("listening on", absl::Seconds(20)));
  const std::string out = collector.Stdout();
  const size_t at = out.find("listening on ") + 13;
  const std::string address = out.substr(at, out.find(' ', at) - at);
  RunResult r =
      RunCommand({kBin + "/medic", "--insecure", "--collector", address, "health", "nobody-here"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no machine named 'nobody-here'"));
}

}  // namespace
}  // namespace medic::test
