// The printers probe against a real private cupsd and real IPP Everywhere printers
// (ippeveprinter), with real faults: queues disabled and rejecting, a printer killed with a job
// pending, toner and paper run out through the printer's own forms, a jam and an open cover
// reported by the printer's engine. Each fault raises exactly its finding on the right resource
// and clears once repaired. Needs root; each test has its own cupsd, bus and ports.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "agent/probes/printers/printer_probe.h"
#include "common/fs/file_system.h"
#include "common/process/command_runner.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "medic/v1/health.pb.h"
#include "tests/support/cups_fixture.h"
#include "tests/support/process.h"

namespace medic::test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

// (code, resource) of each finding, to compare whole sets.
std::vector<std::pair<std::string, std::string>> Keys(
    const std::vector<medic::v1::Finding>& findings) {
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& f : findings) keys.emplace_back(f.code(), f.resource());
  return keys;
}

const medic::v1::Finding* Find(const std::vector<medic::v1::Finding>& findings,
                               std::string_view code) {
  for (const auto& f : findings) {
    if (f.code() == code) return &f;
  }
  return nullptr;
}

class PrintersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "a private cupsd needs root (CI runs as root)";
    auto cups = CupsFixture::Start();
    ASSERT_TRUE(cups.ok()) << cups.status();
    cups_ = *std::move(cups);
    config_.mutable_printers()->set_cups_server(cups_->server());
    // The default: a printer on loopback answers in milliseconds, but a loaded 2-core CI
    // machine can stall it past a second.
    *config_.mutable_printers()->mutable_device_timeout() =
        common::ToProtoDuration(absl::Seconds(3));
  }

  // A printer and a queue printing to it; returns the device URI.
  std::string AddPrinter(const std::string& printer, const std::string& queue) {
    auto uri = cups_->StartPrinter(printer);
    EXPECT_TRUE(uri.ok()) << uri.status();
    EXPECT_TRUE(cups_->AddQueue(queue, *uri).ok());
    return *uri;
  }

  void Ok(const absl::Status& status) { ASSERT_TRUE(status.ok()) << status; }

  // One collection, as the agent's scheduler runs it: real clock, 10 s deadline.
  agent::ProbeOutput Collect() {
    agent::ProbeContext ctx{fs_,      commands_, clock_, config_, clock_.Now() + absl::Seconds(10),
                            standing_};
    absl::StatusOr<agent::ProbeOutput> out = probe_->Collect(ctx);
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) return {};
    EXPECT_TRUE(out->report.has_printers());
    return *std::move(out);
  }
  std::vector<medic::v1::Finding> Findings() { return Collect().findings; }

  std::unique_ptr<CupsFixture> cups_;
  medic::v1::AgentConfig config_;
  std::unique_ptr<agent::Probe> probe_ = agent::NewPrintersProbe();
  common::RootedFileSystem fs_{"/"};
  common::NoCommandRunner commands_;
  common::RealClock clock_;
  std::vector<medic::v1::Finding> standing_;
};

TEST_F(PrintersTest, HealthyQueuesShareOneDeviceQuery) {
  const std::string uri = AddPrinter("Office", "office");
  Ok(cups_->AddQueue("office-duplex", uri));
  Ok(cups_->Run({"lpadmin", "-d", "office"}).status());
  Ok(cups_->Print("office").status());
  Ok(cups_->WaitForNoJobs("office", absl::Seconds(10)));

  agent::ProbeOutput out = Collect();
  const auto& status = out.report.printers();
  EXPECT_TRUE(status.print_system_present());
  EXPECT_EQ(status.default_queue(), "office");
  ASSERT_EQ(status.queues_size(), 2);
  EXPECT_EQ(status.queues(0).name(), "office");
  EXPECT_TRUE(status.queues(0).is_default());
  EXPECT_EQ(status.queues(0).device_uri(), uri);
  EXPECT_EQ(status.queues(0).state(), "idle");
  EXPECT_TRUE(status.queues(0).accepting_jobs());
  EXPECT_EQ(status.queues(0).job_count(), 0u);
  EXPECT_FALSE(status.queues(1).is_default());
  // Two queues, one device: asked once.
  ASSERT_EQ(status.devices_size(), 1);
  const auto& device = status.devices(0);
  EXPECT_EQ(device.uri(), uri);
  EXPECT_THAT(device.queues(), ElementsAre("office", "office-duplex"));
  EXPECT_TRUE(device.answered()) << device.error();
  EXPECT_EQ(device.state(), "idle");
  EXPECT_FALSE(device.supplies().empty());
  EXPECT_FALSE(device.input_trays().empty());
  EXPECT_THAT(out.findings, IsEmpty());
}

TEST_F(PrintersTest, DisabledQueueIsStoppedUntilEnabled) {
  AddPrinter("Office", "office");
  Ok(cups_->Run({"cupsdisable", "-r", "toner being replaced", "office"}).status());
  auto findings = Findings();
  ASSERT_THAT(Keys(findings), ElementsAre(Pair("printer.stopped", "office")));
  EXPECT_THAT(findings[0].summary(), HasSubstr("toner being replaced"));

  Ok(cups_->Run({"cupsenable", "office"}).status());
  EXPECT_THAT(Findings(), IsEmpty());
}

TEST_F(PrintersTest, RejectingQueueIsNotAcceptingUntilAccepting) {
  const std::string uri = AddPrinter("Office", "office");
  Ok(cups_->Run({"cupsreject", "office"}).status());
  EXPECT_THAT(Keys(Findings()), ElementsAre(Pair("printer.not_accepting", uri)));
  Ok(cups_->Run({"cupsaccept", "office"}).status());
  EXPECT_THAT(Findings(), IsEmpty());
}

TEST_F(PrintersTest, KilledPrinterWithJobIsOfflineAndStuckUntilBack) {
  *config_.mutable_printers()->mutable_job_stuck_after() =
      common::ToProtoDuration(absl::Seconds(1));
  const std::string uri = AddPrinter("Office", "office");
  Ok(cups_->KillPrinter("Office"));
  absl::StatusOr<int> job = cups_->Print("office");
  ASSERT_TRUE(job.ok()) << job.status();
  absl::SleepFor(absl::Milliseconds(1500));

  agent::ProbeOutput out = Collect();
  EXPECT_THAT(Keys(out.findings),
              UnorderedElementsAre(Pair("printer.offline", uri), Pair("printer.job_stuck", uri)));
  const auto* stuck = Find(out.findings, "printer.job_stuck");
  ASSERT_NE(stuck, nullptr);
  EXPECT_THAT(stuck->evidence().at("jobs"), HasSubstr(common::StrCat("office-", *job)));
  EXPECT_EQ(stuck->evidence().at("queue"), "office");
  const auto* offline = Find(out.findings, "printer.offline");
  ASSERT_NE(offline, nullptr);
  EXPECT_THAT(offline->summary(), HasSubstr("printer office at " + uri));
  ASSERT_EQ(out.report.printers().queues_size(), 1);
  EXPECT_EQ(out.report.printers().queues(0).job_count(), 1u);

  // Back on: the job prints and both findings clear.
  Ok(cups_->RestartPrinter("Office"));
  Ok(cups_->WaitForNoJobs("office", absl::Seconds(20)));
  EXPECT_THAT(Findings(), IsEmpty());
}

TEST_F(PrintersTest, TonerLowThenEmptyFromSuppliesUntilReplaced) {
  const std::string uri = AddPrinter("Office", "office");
  // supply0 is the waste tank, supply1 the black toner.
  Ok(cups_->SetSupplies("Office", "supply0=10&supply1=5"));
  auto findings = Findings();
  ASSERT_THAT(Keys(findings), ElementsAre(Pair("printer.toner_low", uri)));
  EXPECT_THAT(findings[0].evidence().at("supplies"), HasSubstr("Black Toner 5%"));

  Ok(cups_->SetSupplies("Office", "supply0=10&supply1=0"));
  findings = Findings();
  ASSERT_THAT(Keys(findings), ElementsAre(Pair("printer.toner_empty", uri)));
  EXPECT_THAT(findings[0].evidence().at("supplies"), HasSubstr("Black Toner 0%"));

  Ok(cups_->SetSupplies("Office", "supply0=10&supply1=100"));
  EXPECT_THAT(Findings(), IsEmpty());
}

// ippeveprinter's media form for its two trays; level1 (the main tray's sheets) goes after it.
// Every field must be sent: the printer clears what a submission leaves out.
constexpr char kMediaForm[] =
    "size1=na_letter_8.5x11in&type1=stationery&size3=na_number-10_4.125x9.5in&type3=envelope&"
    "level3=-2";

TEST_F(PrintersTest, PaperEmptyFromMediaUntilRefilled) {
  const std::string uri = AddPrinter("Office", "office");
  Ok(cups_->SetMedia("Office", common::StrCat(kMediaForm, "&level1=0")));
  agent::ProbeOutput out = Collect();
  ASSERT_THAT(Keys(out.findings), ElementsAre(Pair("printer.paper_empty", uri)));
  bool main_empty = false;
  for (const auto& tray : out.report.printers().devices(0).input_trays()) {
    if (tray.name() == "main") main_empty = tray.level() == 0;
  }
  EXPECT_TRUE(main_empty) << out.report.printers().devices(0).DebugString();

  Ok(cups_->SetMedia("Office", common::StrCat(kMediaForm, "&level1=250")));
  EXPECT_THAT(Findings(), IsEmpty());
}

TEST_F(PrintersTest, JamAndCoverOpenFromTheEngineUntilCleared) {
  const std::string uri = AddPrinter("Office", "office");
  Ok(cups_->SetStateLines("Office", {"STATE: +media-jam,cover-open"}));
  Ok(cups_->Print("office").status());
  Ok(cups_->WaitForNoJobs("office", absl::Seconds(10)));
  auto findings = Findings();
  EXPECT_THAT(Keys(findings),
              UnorderedElementsAre(Pair("printer.jam", uri), Pair("printer.door_open", uri)));
  const auto* jam = Find(findings, "printer.jam");
  ASSERT_NE(jam, nullptr);
  EXPECT_EQ(jam->severity(), medic::v1::SEVERITY_CRITICAL);
  EXPECT_THAT(jam->evidence().at("state_reasons"), HasSubstr("media-jam"));

  Ok(cups_->SetStateLines("Office", {"STATE: -media-jam,cover-open"}));
  Ok(cups_->Print("office").status());
  Ok(cups_->WaitForNoJobs("office", absl::Seconds(10)));
  EXPECT_THAT(Findings(), IsEmpty());
}

// Marker levels the engine reports: low at its own mark, and the IPP special values (-3
// "some remaining") are not read as numbers.
TEST_F(PrintersTest, MarkerLevelsFromTheEngine) {
  const std::string uri = AddPrinter("Office", "office");
  Ok(cups_->SetStateLines(
      "Office", {"ATTR: marker-names=Black,Cyan marker-types=toner,toner marker-levels=7,-3 "
                 "marker-low-levels=10,10 marker-colors=#000000,#00FFFF"}));
  Ok(cups_->Print("office").status());
  Ok(cups_->WaitForNoJobs("office", absl::Seconds(10)));
  agent::ProbeOutput out = Collect();
  ASSERT_THAT(Keys(out.findings), ElementsAre(Pair("printer.toner_low", uri)));
  EXPECT_THAT(out.findings[0].evidence().at("markers"),
              HasSubstr("Black 7% (low at 10%), Cyan some remaining"));
  ASSERT_EQ(out.report.printers().devices_size(), 1);
  EXPECT_EQ(out.report.printers().devices(0).markers_size(), 2);
}

// A device that accepts the connection and never answers costs its timeout, not the deadline.
TEST_F(PrintersTest, HangingAndRefusingDevicesAreOfflineWithinTheirTimeout) {
  *config_.mutable_printers()->mutable_device_timeout() = common::ToProtoDuration(absl::Seconds(1));
  const int hang_fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(hang_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(hang_fd, 8), 0);
  socklen_t len = sizeof(addr);
  getsockname(hang_fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string hanging =
      common::StrCat("ipp://127.0.0.1:", ntohs(addr.sin_port), "/ipp/print");
  const std::string refusing = common::StrCat("socket://127.0.0.1:", FreePort());
  Ok(cups_->AddQueue("hangs", hanging, /*raw=*/true));
  Ok(cups_->AddQueue("refuses", refusing, /*raw=*/true));
  const std::string healthy = AddPrinter("Office", "office");

  const absl::Time start = absl::Now();
  agent::ProbeOutput out = Collect();
  const absl::Duration took = absl::Now() - start;
  close(hang_fd);
  // device_timeout 1s: connect, then a read that never completes.
  EXPECT_LT(took, absl::Seconds(4));
  EXPECT_THAT(Keys(out.findings), UnorderedElementsAre(Pair("printer.offline", hanging),
                                                       Pair("printer.offline", refusing)));
  for (const auto& d : out.report.printers().devices()) {
    EXPECT_EQ(d.answered(), d.uri() == healthy) << d.uri() << ": " << d.error();
  }
}

TEST(PrintersNoCupsTest, NoSchedulerIsNoPrintSystem) {
  TempDir dir;
  medic::v1::AgentConfig config;
  config.mutable_printers()->set_cups_server(dir.File("cups.sock"));
  common::RootedFileSystem fs("/");
  common::NoCommandRunner commands;
  common::RealClock clock;
  std::vector<medic::v1::Finding> standing;
  agent::ProbeContext ctx{fs, commands, clock, config, clock.Now() + absl::Seconds(5), standing};
  auto out = agent::NewPrintersProbe()->Collect(ctx);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->report.printers().print_system_present());
  EXPECT_THAT(out->report.printers().note(), HasSubstr("no print system"));
  EXPECT_THAT(out->report.printers().note(), HasSubstr(dir.File("cups.sock")));
  EXPECT_THAT(out->findings, IsEmpty());
}

// The done-when check: a jammed printer with a job waiting, seen through the real agent binary.
TEST_F(PrintersTest, AgentOnceJsonShowsJamAndStuckJob) {
  const std::string uri = AddPrinter("Office", "office");
  Ok(cups_->SetStateLines("Office", {"STATE: +media-jam"}));
  Ok(cups_->SetJobSeconds("Office", 10));
  Ok(cups_->Print("office").status());
  absl::SleepFor(absl::Milliseconds(1500));

  const std::string yaml =
      common::StrCat("printers:\n  cups_server: ", cups_->server(), "\n  job_stuck_after: 1s\n");
  WriteFile(cups_->dir() + "/agent.yaml", yaml);
  // Only the printers probe: nothing else may raise a finding, or send traffic off this machine.
  RunResult r = RunCommand({std::string(MEDIC_BIN_DIR) + "/medic-agent", "--once", "--json",
                            "--probes", "printers", "--config", cups_->dir() + "/agent.yaml",
                            "--state-dir", cups_->dir()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  medic::v1::Snapshot snapshot;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &snapshot).ok()) << r.out;
  std::vector<medic::v1::Finding> findings(snapshot.findings().begin(), snapshot.findings().end());
  EXPECT_THAT(Keys(findings),
              UnorderedElementsAre(Pair("printer.jam", uri), Pair("printer.job_stuck", uri)))
      << r.out;
  EXPECT_THAT(snapshot.topology().printer_uris(), ElementsAre(uri));

  // The human view of the same run: which printer, what is wrong, which job waits since when.
  RunResult human =
      RunCommand({std::string(MEDIC_BIN_DIR) + "/medic-agent", "--once", "--probes", "printers",
                  "--config", cups_->dir() + "/agent.yaml", "--state-dir", cups_->dir()});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_THAT(human.out, HasSubstr("Printers"));
  EXPECT_THAT(human.out, HasSubstr("office"));
  EXPECT_THAT(human.out, HasSubstr("jammed"));
  EXPECT_THAT(human.out, HasSubstr("office-1"));
}

}  // namespace
}  // namespace medic::test
