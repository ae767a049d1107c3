// The web console in a real headless Chromium, against a real collector fed by simulated
// agents (tests/sim) with a disk fault: the overview shows the machine and its incident,
// the machine page its findings and history charts, a diagnostic shows its result or the
// server's refusal, and acknowledging a ticket on its page shows in the page and the API.
// Screenshots go to <build>/test-artifacts/console/.

#include <signal.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "collector/tickets/http_client.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/sim/fleet.h"
#include "tests/support/devtools.h"
#include "tests/support/process.h"

namespace medic::test {
namespace {

using ::testing::HasSubstr;

const std::string kBin = MEDIC_BIN_DIR;
const std::string kArtifacts = std::string(MEDIC_ARTIFACTS_DIR) + "/console";

struct Collector {
  std::string grpc_address;
  std::string web;  // http://127.0.0.1:PORT
  std::unique_ptr<Process> process;
};

// The one place this file starts a collector: in --insecure test mode unless `secure`, when it
// has TLS for gRPC and the console asks for an API token (its first one in dir/admin.token).
Collector StartCollector(const TempDir& dir, bool secure = false) {
  Collector c;
  c.grpc_address = "127.0.0.1:" + std::to_string(FreePort());
  const std::string web_address = "127.0.0.1:" + std::to_string(FreePort());
  c.web = "http://" + web_address;
  WriteFile(dir.File("c.yaml"), "heartbeat_interval: 1s\noffline_after: 30s\n");
  std::vector<std::string> argv{kBin + "/medic-collector", "--listen",  c.grpc_address,
                                "--http-listen",           web_address, "--db",
                                dir.File("c.db"),          "--config",  dir.File("c.yaml")};
  if (!secure) argv.push_back("--insecure");
  c.process = std::make_unique<Process>(argv, dir.path(), "collector");
  return c;
}

medic::v1::ProbeReport Filesystems(absl::Time at, double free_bytes) {
  medic::v1::ProbeReport r;
  r.set_probe("filesystems");
  *r.mutable_collected_at() =
      google::protobuf::util::TimeUtil::MillisecondsToTimestamp(absl::ToUnixMillis(at));
  auto* o = r.add_observations();
  o->set_metric("fs.free_bytes");
  o->set_resource("/");
  o->set_unit("bytes");
  o->set_value(free_bytes);
  return r;
}

std::string Api(const Collector& c, std::string_view method, std::string_view body, int* status) {
  auto r = collector::tickets::HttpCall("POST", c.web + "/api/v1/" + std::string(method), body,
                                        {{"Content-Type", "application/json"}}, absl::Seconds(30));
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return "";
  if (status != nullptr) *status = r->status;
  return r->body;
}

TEST(ConsoleBrowserTest, OverviewMachineDiagnosticAcknowledge) {
  std::filesystem::create_directories(kArtifacts);
  TempDir dir;
  Collector c = StartCollector(dir);
  ASSERT_TRUE(c.process->WaitForStdout("web console on", absl::Seconds(20)))
      << c.process->Describe();

  sim::FleetGroup group;
  group.prefix = "ws";
  group.site = "hq";
  group.subnet = "10.1.0.0/24";
  sim::SimAgent agent("ws-042", group, c.grpc_address, 1);
  sim::SimAgent healthy("ws-043", group, c.grpc_address, 1);
  agent.Connect();
  healthy.Connect();
  // Four hours of disk filling up, then the fault.
  const absl::Time now = absl::Now();
  for (int h = 4; h >= 0; --h) {
    agent.Report(Filesystems(now - absl::Hours(h), (1 + h) * 2e9));
  }
  medic::v1::Finding f;
  f.set_code("disk.space_low");
  f.set_resource("/");
  f.set_severity(medic::v1::SEVERITY_CRITICAL);
  f.set_summary("/ has 3% free (1.2 GiB of 40 GiB)");
  agent.Raise(f);
  std::string tickets;
  for (int i = 0; i < 100 && tickets.find("MED-1") == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    tickets = Api(c, "ListTickets", "{}", nullptr);
  }
  ASSERT_THAT(tickets, HasSubstr("MED-1"));

  auto started = Browser::Start(dir.path());
  ASSERT_TRUE(started.ok()) << started.status();
  Browser& browser = **started;

  // Overview: the counts, the open incident first, the machine that needs attention.
  ASSERT_TRUE(browser.Navigate(c.web + "/").ok());
  ASSERT_TRUE(browser
                  .WaitFor("document.querySelector('#count-machines .n')?.textContent === '2' && "
                           "document.querySelector('#count-incidents .n')?.textContent === '1'",
                           absl::Seconds(10))
                  .ok());
  auto overview = browser.Evaluate("document.querySelector('main').innerText");
  ASSERT_TRUE(overview.ok()) << overview.status();
  EXPECT_THAT(overview->string_value(), HasSubstr("disk.space_low"));
  EXPECT_THAT(overview->string_value(), HasSubstr("MED-1"));
  auto attention = browser.Evaluate("document.querySelector('#count-attention .n').textContent");
  EXPECT_EQ(attention->string_value(), "1") << "ws-043 is healthy";
  EXPECT_TRUE(browser.Screenshot(kArtifacts + "/overview.png").ok());

  // The machine page, opened from the overview's link.
  ASSERT_TRUE(
      browser.Evaluate("document.querySelector('a[href=\"#/machine/ws-042\"]').click()").ok());
  ASSERT_TRUE(
      browser
          .WaitFor("document.querySelector('main').dataset.page === 'machine'", absl::Seconds(10))
          .ok());
  auto findings = browser.Evaluate("document.querySelector('#findings').innerText");
  EXPECT_THAT(findings->string_value(), HasSubstr("/ has 3% free"));
  auto chart = browser.Evaluate(
      "(() => { const f = document.querySelector('figure.chart[data-metric=\"fs.free_bytes\"]');"
      " return f ? f.dataset.points + ' ' + f.querySelector('svg polyline').getAttribute('points')"
      ".split(' ').length + ' ' + f.querySelector('svg').getAttribute('aria-label') : 'none'; "
      "})()");
  ASSERT_TRUE(chart.ok()) << chart.status();
  EXPECT_THAT(chart->string_value(), HasSubstr("5 5 Disk free on / over the last day"));
  EXPECT_TRUE(browser.Screenshot(kArtifacts + "/machine.png").ok());

  // A DNS check from the page: its result, or the server's own refusal shown as it is.
  ASSERT_TRUE(browser
                  .Evaluate("document.querySelector('#diag-check').value = 'DNS';"
                            "document.querySelector('#diag-params').value = 'name=intranet.corp';"
                            "document.querySelector('#diag-run').click()")
                  .ok());
  ASSERT_TRUE(browser
                  .WaitFor("/(done|failed)\\.$/.test(document.querySelector('#diag-output')"
                           ".textContent)",
                           absl::Seconds(30))
                  .ok());
  auto output = browser.Evaluate("document.querySelector('#diag-output').textContent");
  if (output->string_value().ends_with("failed.")) {
    int status = 0;
    const std::string refusal =
        Api(c, "RunDiagnostic",
            R"({"selector":{"hosts":["ws-042"]},"check":"DIAGNOSTIC_CHECK_DNS",)"
            R"("params":{"name":"intranet.corp"},"deadline":"15s"})",
            &status);
    EXPECT_NE(status, 200) << refusal;
    auto shown = browser.Evaluate("document.querySelector('#diag-error').textContent");
    ASSERT_TRUE(shown.ok()) << shown.status();
    EXPECT_FALSE(shown->string_value().empty());
    EXPECT_THAT(refusal, HasSubstr(shown->string_value())) << "the page shows the server's words";
  } else {
    EXPECT_THAT(output->string_value(), HasSubstr("ws-042: "));
  }
  EXPECT_TRUE(browser.Screenshot(kArtifacts + "/diagnostic.png").ok());

  // The ticket: acknowledge with a note.
  ASSERT_TRUE(browser.Navigate(c.web + "/#/ticket/MED-1").ok());
  ASSERT_TRUE(browser
                  .WaitFor("document.querySelector('#ticket-state')?.innerText === 'open'",
                           absl::Seconds(10))
                  .ok());
  auto runbook = browser.Evaluate("document.querySelector('ol.runbook')?.children.length ?? 0");
  EXPECT_GT(runbook->number_value(), 0) << "runbook steps from the knowledge base";
  ASSERT_TRUE(browser
                  .Evaluate("document.querySelector('#ticket-note').value = 'calling the user';"
                            "document.querySelector('#ticket-actor').value = 'alex';"
                            "document.querySelector('#ack').click()")
                  .ok());
  EXPECT_TRUE(browser
                  .WaitFor("document.querySelector('#ticket-state')?.innerText === 'acknowledged'",
                           absl::Seconds(10))
                  .ok());
  auto history = browser.Evaluate("document.querySelector('main').innerText");
  EXPECT_THAT(history->string_value(), HasSubstr("calling the user"));
  EXPECT_TRUE(browser.Screenshot(kArtifacts + "/ticket.png").ok());
  const std::string ticket = Api(c, "GetTicket", R"({"ticketId":"MED-1"})", nullptr);
  EXPECT_THAT(ticket, HasSubstr("TICKET_STATE_ACKNOWLEDGED"));
  EXPECT_THAT(ticket, HasSubstr("\"actor\":\"alex\""));

  agent.Disconnect();
  healthy.Disconnect();
  agent.WaitClosed(absl::Seconds(2));
  healthy.WaitClosed(absl::Seconds(2));
  c.process->Stop(SIGTERM);
}

// A collector that is not in test mode: the console asks for an API token, says why one was
// refused, shows the fleet once signed in, and forgets the token on "Sign out".
TEST(ConsoleBrowserTest, SignInWithAnApiTokenAndSignOut) {
  std::filesystem::create_directories(kArtifacts);
  TempDir dir;
  Collector c = StartCollector(dir, /*secure=*/true);
  ASSERT_TRUE(c.process->WaitForStdout("web console on", absl::Seconds(20)))
      << c.process->Describe();
  std::ifstream token_file(dir.File("admin.token"));
  std::string admin_token;
  ASSERT_TRUE(std::getline(token_file, admin_token)) << "no first admin token in " << dir.path();
  int status = 0;
  Api(c, "ListMachines", "{}", &status);
  EXPECT_EQ(status, 401) << "the API without a token";

  auto started = Browser::Start(dir.path());
  ASSERT_TRUE(started.ok()) << started.status();
  Browser& browser = **started;
  const auto sign_in_with = [&](const std::string& token) {
    return browser.Evaluate(absl::StrCat("document.querySelector('#token').value = '", token,
                                         "'; document.querySelector('#sign-in button').click()"));
  };

  ASSERT_TRUE(browser.Navigate(c.web + "/").ok());
  ASSERT_TRUE(
      browser.WaitFor("document.querySelector('#sign-in') !== null", absl::Seconds(10)).ok());
  auto first = browser.Evaluate(
      "[document.querySelector('#sign-in-error') === null, "
      "document.querySelector('#sign-out').hidden, document.querySelector('main').innerText]");
  ASSERT_TRUE(first.ok()) << first.status();
  const auto& values = first->list_value().values();
  EXPECT_TRUE(values[0].bool_value()) << "no error before a token was tried";
  EXPECT_TRUE(values[1].bool_value()) << "no sign-out before signing in";
  EXPECT_THAT(values[2].string_value(), HasSubstr("medic tokens create"));
  EXPECT_TRUE(browser
                  .WaitFor("document.querySelector('#live').textContent === 'Not signed in'",
                           absl::Seconds(10))
                  .ok())
      << "the refused event stream says so, not its raw error";
  EXPECT_TRUE(browser.Screenshot(kArtifacts + "/sign-in.png").ok());

  ASSERT_TRUE(sign_in_with("medic_wrong0123").ok());
  ASSERT_TRUE(
      browser.WaitFor("document.querySelector('#sign-in-error') !== null", absl::Seconds(10)).ok());
  auto refused = browser.Evaluate("document.querySelector('#sign-in-error').textContent");
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->string_value(), "the API token is not valid");

  ASSERT_TRUE(sign_in_with(admin_token).ok());
  ASSERT_TRUE(browser
                  .WaitFor("document.querySelector('#count-machines .n')?.textContent === '0' && "
                           "!document.querySelector('#sign-out').hidden",
                           absl::Seconds(10))
                  .ok());
  EXPECT_TRUE(browser
                  .WaitFor("document.querySelector('#live').textContent === 'Live updates on'",
                           absl::Seconds(10))
                  .ok())
      << "the event stream carries the token too";

  ASSERT_TRUE(browser.Evaluate("document.querySelector('#sign-out').click()").ok());
  ASSERT_TRUE(browser
                  .WaitFor("document.querySelector('#sign-in') !== null && "
                           "localStorage.getItem('medicToken') === null",
                           absl::Seconds(10))
                  .ok());
  c.process->Stop(SIGTERM);
}

// /metrics of a real collector with simulated agents: what Prometheus would scrape.
TEST(ConsoleMetricsTest, MetricsShowTheFleet) {
  TempDir dir;
  Collector c = StartCollector(dir);
  ASSERT_TRUE(c.process->WaitForStdout("web console on", absl::Seconds(20)))
      << c.process->Describe();
  sim::FleetGroup group;
  group.prefix = "ws";
  group.site = "hq";
  group.subnet = "10.1.0.0/24";
  sim::SimAgent agent("ws-042", group, c.grpc_address, 1);
  agent.Connect();
  agent.Report(Filesystems(absl::Now(), 5e9));
  medic::v1::Finding f;
  f.set_code("disk.space_low");
  f.set_resource("/");
  f.set_severity(medic::v1::SEVERITY_CRITICAL);
  agent.Raise(f);

  auto scrape = [&] {
    auto r = collector::tickets::HttpCall("GET", c.web + "/metrics", "", {}, absl::Seconds(10));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->body : "";
  };
  std::string text;
  for (int i = 0; i < 100; ++i) {
    text = scrape();
    if (text.find("medic_tickets_open{scope=\"host\",state=\"open\"} 1") != std::string::npos)
      break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_THAT(text, HasSubstr("# TYPE medic_connected_agents gauge\nmedic_connected_agents 1\n"));
  EXPECT_THAT(text, HasSubstr("medic_records_received_total{kind=\"snapshot\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("medic_records_received_total{kind=\"delta\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("medic_ingest_latency_seconds_count{kind=\"delta\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("medic_store_commit_seconds_count 3\n"));
  EXPECT_THAT(text, HasSubstr("medic_store_commit_seconds_bucket{le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("medic_findings_standing{code=\"disk.space_low\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("medic_incidents_open{scope=\"host\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("medic_tickets_open{scope=\"host\",state=\"open\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("medic_machines{state=\"online\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("medic_outbox_depth 0\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE medic_diagnostic_latency_seconds histogram\n"));

  // The history behind the machine page's charts, through the JSON API.
  int status = 0;
  const std::string history =
      Api(c, "GetMachineHistory", R"({"host":"ws-042","metrics":["fs.free_bytes"]})", &status);
  EXPECT_EQ(status, 200) << history;
  EXPECT_THAT(history, HasSubstr(R"("metric":"fs.free_bytes","resource":"/","unit":"bytes")"));
  EXPECT_THAT(history, HasSubstr(R"("value":5000000000)"));

  agent.Disconnect();
  agent.WaitClosed(absl::Seconds(2));
  for (int i = 0; i < 50 && text.find("medic_connected_agents 0") == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    text = scrape();
  }
  EXPECT_THAT(text, HasSubstr("medic_connected_agents 0\n"));
  c.process->Stop(SIGTERM);
}

}  // namespace
}  // namespace medic::test
