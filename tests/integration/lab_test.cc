// The field test: the whole chain with real parts. `scripts/lab up` builds a virtual office in
// network namespaces (8 workstations running the real agent, enrolled over TLS; two dnsmasq; an
// ippeveprinter with a CUPS queue per workstation; a file server; a router between two subnets)
// and this test injects each fault with `scripts/lab`, then asserts what a technician sees with
// `medic` within a bounded time, and prints the timeline: fault injected → finding on an agent →
// incident → ticket → resolved after the repair. The timeline is also written to
// build/test-artifacts/lab/timeline.txt.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "collector/tickets/http_client.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "medic/v1/technician.pb.h"
#include "tests/support/process.h"

namespace medic::test {
namespace {

using ::testing::HasSubstr;

const std::string kBin = MEDIC_BIN_DIR;
const std::string kLab = std::string(MEDIC_SOURCE_DIR) + "/scripts/lab";
constexpr char kDns1[] = "10.213.3.53";
constexpr char kPrinter[] = "ipp://10.213.3.30/ipp/print";
constexpr char kSubnetB[] = "10.213.2.0/24";
// How long a technician may wait for a ticket, and for it to resolve after the repair.
constexpr absl::Duration kTicketWithin = absl::Seconds(30);
constexpr absl::Duration kResolvedWithin = absl::Seconds(30);

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixNanos(google::protobuf::util::TimeUtil::TimestampToNanoseconds(t));
}

std::string Seconds(absl::Duration d) {
  return absl::StrFormat("%+6.1f s", absl::ToDoubleSeconds(d));
}

std::set<std::string> Hosts(int from, int to) {
  std::set<std::string> out;
  for (int i = from; i <= to; ++i) out.insert("ws-" + std::to_string(i));
  return out;
}

class LabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the lab needs root (namespaces, mounts, cupsd)";
    id_ = "ft" + std::to_string(getpid());
    RunResult up = Lab({"up"}, absl::Seconds(120));
    up_ = true;
    ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
    RunResult env = Lab({"env"});
    ASSERT_EQ(env.exit_code, 0) << env.err;
    for (const char* key : {"MEDIC_COLLECTOR", "MEDIC_CA_FILE", "MEDIC_TOKEN_FILE"}) {
      const std::string prefix = std::string("export ") + key + "=";
      const size_t at = env.out.find(prefix);
      ASSERT_NE(at, std::string::npos) << env.out;
      const size_t start = at + prefix.size();
      medic_env_.push_back(std::string(key) + "=" +
                           env.out.substr(start, env.out.find('\n', start) - start));
    }
  }

  void TearDown() override {
    if (!up_) return;
    RunResult down = Lab({"down"}, absl::Seconds(60));
    EXPECT_EQ(down.exit_code, 0) << down.err;
    if (HasFailure()) {
      for (const auto& entry : std::filesystem::directory_iterator(logs_.path())) {
        std::ifstream in(entry.path());
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (text.size() > 4000) text = "…" + text.substr(text.size() - 4000);
        std::cout << "--- " << entry.path().filename().string() << "\n" << text << "\n";
      }
    }
  }

  RunResult Lab(std::vector<std::string> args, absl::Duration timeout = absl::Seconds(30)) {
    std::vector<std::string> argv = {"/usr/bin/env",
                                     "MEDIC_LAB_ID=" + id_,
                                     "MEDIC_LAB_SKIP_BUILD=1",
                                     "MEDIC_BUILD=" + std::string(MEDIC_BIN_DIR) + "/..",
                                     "MEDIC_LAB_KEEP_LOGS=" + logs_.path(),
                                     "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                                     "bash",
                                     kLab};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, timeout);
  }

  // A value from `scripts/lab env`.
  std::string Env(std::string_view key) const {
    for (const std::string& kv : medic_env_) {
      if (kv.starts_with(key) && kv.size() > key.size() && kv[key.size()] == '=') {
        return kv.substr(key.size() + 1);
      }
    }
    return "";
  }

  RunResult Medic(std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/env"};
    argv.insert(argv.end(), medic_env_.begin(), medic_env_.end());
    argv.push_back(kBin + "/medic");
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, absl::Seconds(20));
  }

  template <typename M>
  M MedicJson(std::vector<std::string> args) {
    args.push_back("--json");
    RunResult r = Medic(args);
    M message;
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &message).ok()) << r.out;
    return message;
  }

  std::vector<medic::v1::Ticket> Tickets() {
    auto response = MedicJson<medic::v1::ListTicketsResponse>({"tickets"});
    return {response.tickets().begin(), response.tickets().end()};
  }

  std::optional<medic::v1::Incident> Incident(const std::string& id) {
    const auto response = MedicJson<medic::v1::ListIncidentsResponse>({"incidents", "--all"});
    for (const auto& i : response.incidents()) {
      if (i.incident_id() == id) return i;
    }
    return std::nullopt;
  }

  // Polls the tickets until one satisfies `want`, at most `within`.
  std::optional<medic::v1::Ticket> WaitForTicket(
      const std::function<bool(const medic::v1::Ticket&)>& want, absl::Duration within) {
    const absl::Time end = absl::Now() + within;
    while (absl::Now() < end) {
      for (const auto& t : Tickets()) {
        if (want(t)) return t;
      }
      absl::SleepFor(absl::Milliseconds(250));
    }
    return std::nullopt;
  }

  // The ticket `id` once resolved, at most `within`.
  std::optional<medic::v1::Ticket> WaitForResolved(const std::string& id) {
    return WaitForTicket(
        [&](const medic::v1::Ticket& t) {
          return t.ticket_id() == id && t.state() == medic::v1::TICKET_STATE_RESOLVED;
        },
        kResolvedWithin);
  }

  // When the first of `hosts`' agents raised `code` on `resource`, as it reported it.
  std::optional<absl::Time> FirstRaised(const std::set<std::string>& hosts, const std::string& code,
                                        const std::string& resource) {
    std::optional<absl::Time> first;
    for (const std::string& host : hosts) {
      auto health = MedicJson<medic::v1::MachineHealth>({"health", host});
      for (const auto& f : health.findings()) {
        if (f.code() != code || f.resource() != resource || !f.has_raised_at()) continue;
        const absl::Time raised = ToTime(f.raised_at());
        if (!first || raised < *first) first = raised;
      }
    }
    return first;
  }

  // One line of the timeline, relative to when the fault was injected.
  void Timeline(const std::string& fault, absl::Time injected, std::optional<absl::Time> finding,
                const medic::v1::Ticket& ticket, std::optional<absl::Time> resolved,
                absl::Time repaired) {
    std::optional<medic::v1::Incident> incident = Incident(ticket.incident_id());
    std::string line = absl::StrFormat(
        "%-30s injected %s", fault, absl::FormatTime("%H:%M:%E3S", injected, absl::UTCTimeZone()));
    line += "  finding " + (finding ? Seconds(*finding - injected) : std::string("     n/a"));
    line += "  incident " +
            (incident ? Seconds(ToTime(incident->opened_at()) - injected) : std::string("n/a"));
    line += "  ticket " + Seconds(ToTime(ticket.opened_at()) - injected) + " (" +
            ticket.ticket_id() + ")";
    line += "  resolved " + (resolved ? Seconds(*resolved - repaired) : std::string("never")) +
            " after repair";
    timeline_.push_back(line);
  }

  std::string id_;
  bool up_ = false;
  TempDir logs_;
  std::vector<std::string> medic_env_;
  std::vector<std::string> timeline_;
};

// The ticket's state when it was last seen resolving, or its resolve time from its history.
std::optional<absl::Time> ResolvedAt(const medic::v1::Ticket& ticket) {
  for (auto it = ticket.history().rbegin(); it != ticket.history().rend(); ++it) {
    if (it->what().starts_with("resolved")) return ToTime(it->at());
  }
  return std::nullopt;
}

TEST_F(LabTest, EachFaultIsOneTicketATechnicianSeesAndItResolvesAfterTheRepair) {
  const std::set<std::string> everyone = Hosts(1, 8);
  size_t tickets_before = 0;

  // The console, as a technician's browser at another desk reaches it: HTTPS with the
  // collector's certificate for the console's address (verified against the lab's CA), and
  // plain HTTP sent there.
  {
    SCOPED_TRACE("the console over the network");
    const std::string console = Env("MEDIC_COLLECTOR").substr(0, Env("MEDIC_COLLECTOR").find(':'));
    std::ifstream ca_file(Env("MEDIC_CA_FILE"));
    const std::string ca((std::istreambuf_iterator<char>(ca_file)),
                         std::istreambuf_iterator<char>());
    auto https = collector::tickets::HttpCall("GET", "https://" + console + ":7080/healthz", "", {},
                                              absl::Seconds(10), ca);
    ASSERT_TRUE(https.ok()) << https.status();
    EXPECT_EQ(https->status, 200);
    auto plain = collector::tickets::HttpCall("GET", "http://" + console + ":7080/", "", {},
                                              absl::Seconds(10));
    ASSERT_TRUE(plain.ok()) << plain.status();
    EXPECT_EQ(plain->status, 308);
    EXPECT_THAT(plain->body, HasSubstr("https://" + console + ":7080/"));
  }

  // --- DNS server 1 killed: one ticket naming every workstation that uses it (all but ws-8,
  // which was set up with dns2 only), no per-host tickets; `medic diagnose` names the server.
  {
    SCOPED_TRACE("break dns1");
    const absl::Time injected = absl::Now();
    ASSERT_EQ(Lab({"break", "dns1"}).exit_code, 0);
    const std::set<std::string> users = Hosts(1, 7);
    auto ticket = WaitForTicket(
        [&](const medic::v1::Ticket& t) {
          return t.code() == "net.dns_failure" && t.resource() == kDns1 &&
                 std::set<std::string>(t.hosts().begin(), t.hosts().end()) == users;
        },
        kTicketWithin);
    ASSERT_TRUE(ticket.has_value()) << Medic({"tickets"}).out << Medic({"incidents"}).out;
    EXPECT_EQ(ticket->scope(), medic::v1::SCOPE_RESOURCE);
    EXPECT_THAT(ticket->title(), HasSubstr(kDns1));
    const auto finding = FirstRaised(users, "net.dns_failure", kDns1);

    RunResult diagnose = Medic({"diagnose", "ws-2", "dns", "files.office.lan"});
    EXPECT_EQ(diagnose.exit_code, 4) << diagnose.out << diagnose.err;  // a check found problems
    EXPECT_THAT(diagnose.out, HasSubstr(std::string(kDns1) + ": files.office.lan failed"));

    const absl::Time repaired = absl::Now();
    ASSERT_EQ(Lab({"repair", "all"}).exit_code, 0);
    auto resolved = WaitForResolved(ticket->ticket_id());
    EXPECT_TRUE(resolved.has_value()) << Medic({"incidents", "--all"}).out;
    const auto tickets = Tickets();
    EXPECT_EQ(tickets.size(), 1u) << Medic({"tickets"}).out;  // no per-host tickets
    Timeline("DNS server 1 killed", injected, finding, *ticket,
             resolved ? ResolvedAt(*resolved) : std::nullopt, repaired);
    tickets_before = tickets.size();
  }

  // --- The printer jams with jobs from ws-1, ws-2 and ws-3 waiting: one printer ticket with
  // their stuck jobs attached; they print and it resolves once the jam is cleared.
  {
    SCOPED_TRACE("break printer-jam");
    const absl::Time injected = absl::Now();
    ASSERT_EQ(Lab({"break", "printer-jam"}).exit_code, 0);
    auto ticket = WaitForTicket(
        [&](const medic::v1::Ticket& t) {
          return t.code() == "printer.jam" && t.resource() == kPrinter &&
                 t.evidence().contains("ws-1 stuck job") &&
                 t.evidence().contains("ws-2 stuck job") && t.evidence().contains("ws-3 stuck job");
        },
        kTicketWithin);
    ASSERT_TRUE(ticket.has_value()) << Medic({"tickets"}).out << Medic({"incidents"}).out;
    EXPECT_EQ(std::set<std::string>(ticket->hosts().begin(), ticket->hosts().end()), everyone);
    EXPECT_THAT(ticket->evidence().at("ws-2 stuck job"), HasSubstr("1 job(s) not printing"));
    const auto finding = FirstRaised(everyone, "printer.jam", kPrinter);

    const absl::Time repaired = absl::Now();
    ASSERT_EQ(Lab({"repair", "all"}).exit_code, 0);
    auto resolved = WaitForResolved(ticket->ticket_id());
    EXPECT_TRUE(resolved.has_value()) << Medic({"incidents", "--all"}).out;
    EXPECT_EQ(Tickets().size(), tickets_before + 1) << Medic({"tickets"}).out;  // no job tickets
    Timeline("printer jammed, 3 jobs wait", injected, finding, *ticket,
             resolved ? ResolvedAt(*resolved) : std::nullopt, repaired);
    tickets_before = Tickets().size();
  }

  // --- The printer switched off: one ticket, every workstation affected.
  {
    SCOPED_TRACE("break printer-off");
    const absl::Time injected = absl::Now();
    ASSERT_EQ(Lab({"break", "printer-off"}).exit_code, 0);
    auto ticket = WaitForTicket(
        [&](const medic::v1::Ticket& t) {
          return t.code() == "printer.offline" && t.resource() == kPrinter &&
                 t.state() == medic::v1::TICKET_STATE_OPEN && t.hosts_size() == 8;
        },
        kTicketWithin);
    ASSERT_TRUE(ticket.has_value()) << Medic({"tickets"}).out << Medic({"incidents"}).out;
    const auto finding = FirstRaised(everyone, "printer.offline", kPrinter);
    const absl::Time repaired = absl::Now();
    ASSERT_EQ(Lab({"repair", "all"}).exit_code, 0);
    auto resolved = WaitForResolved(ticket->ticket_id());
    EXPECT_TRUE(resolved.has_value()) << Medic({"incidents", "--all"}).out;
    EXPECT_EQ(Tickets().size(), tickets_before + 1) << Medic({"tickets"}).out;
    Timeline("printer switched off", injected, finding, *ticket,
             resolved ? ResolvedAt(*resolved) : std::nullopt, repaired);
    tickets_before = Tickets().size();
  }

  // --- Subnet B's gateway link cut: its workstations cannot reach the collector either, so the
  // collector sees them go silent: one subnet ticket. What they saw meanwhile (DNS, the file
  // server, the printer) arrives after the repair and is attached to it, not ticketed.
  {
    SCOPED_TRACE("break gateway subnet-b");
    const std::set<std::string> subnet_b = Hosts(5, 8);
    const absl::Time injected = absl::Now();
    ASSERT_EQ(Lab({"break", "gateway", "subnet-b"}).exit_code, 0);
    auto ticket = WaitForTicket(
        [&](const medic::v1::Ticket& t) {
          return t.code() == "host.offline" && t.scope() == medic::v1::SCOPE_SUBNET &&
                 t.resource() == kSubnetB &&
                 std::set<std::string>(t.hosts().begin(), t.hosts().end()) == subnet_b;
        },
        kTicketWithin);
    ASSERT_TRUE(ticket.has_value()) << Medic({"tickets"}).out << Medic({"incidents"}).out;
    const absl::Time repaired = absl::Now();
    ASSERT_EQ(Lab({"repair", "all"}).exit_code, 0);
    auto resolved = WaitForResolved(ticket->ticket_id());
    EXPECT_TRUE(resolved.has_value()) << Medic({"incidents", "--all"}).out;
    // The findings the agents spooled while cut off, attached as evidence.
    std::optional<medic::v1::Incident> incident = Incident(ticket->incident_id());
    ASSERT_TRUE(incident.has_value());
    std::set<std::string> with_evidence;
    for (const std::string& child : incident->children()) {
      if (child.find("(evidence)") == std::string::npos) continue;
      EXPECT_TRUE(child.find(" net.dns_failure ") != std::string::npos ||
                  child.find(" net.target_unreachable ") != std::string::npos ||
                  child.find(" printer.offline ") != std::string::npos)
          << child;
      with_evidence.insert(child.substr(0, child.find(' ')));
    }
    EXPECT_EQ(with_evidence, subnet_b) << Medic({"incidents", "--all"}).out;
    EXPECT_EQ(Tickets().size(), tickets_before + 1) << Medic({"tickets"}).out;
    // "Finding on agent": the collector's own, as the agents could not report.
    Timeline("subnet B gateway cut", injected, std::nullopt, *ticket,
             resolved ? ResolvedAt(*resolved) : std::nullopt, repaired);
    tickets_before = Tickets().size();
  }

  // --- ws-3's disk filled and ws-4's agent killed, at once: one host ticket each.
  {
    SCOPED_TRACE("fill-disk ws-3, stop-agent ws-4");
    const absl::Time injected = absl::Now();
    ASSERT_EQ(Lab({"fill-disk", "ws-3"}).exit_code, 0);
    ASSERT_EQ(Lab({"stop-agent", "ws-4"}).exit_code, 0);
    auto disk = WaitForTicket(
        [&](const medic::v1::Ticket& t) {
          return t.code() == "disk.space_low" && t.resource() == "/home" &&
                 t.state() == medic::v1::TICKET_STATE_OPEN;
        },
        kTicketWithin);
    auto offline = WaitForTicket(
        [&](const medic::v1::Ticket& t) {
          return t.code() == "host.offline" && t.state() == medic::v1::TICKET_STATE_OPEN;
        },
        kTicketWithin);
    ASSERT_TRUE(disk.has_value()) << Medic({"tickets"}).out << Medic({"incidents"}).out;
    ASSERT_TRUE(offline.has_value()) << Medic({"tickets"}).out << Medic({"incidents"}).out;
    EXPECT_EQ(disk->scope(), medic::v1::SCOPE_HOST);
    EXPECT_THAT(disk->hosts(), ::testing::ElementsAre("ws-3"));
    EXPECT_EQ(offline->scope(), medic::v1::SCOPE_HOST);
    EXPECT_THAT(offline->hosts(), ::testing::ElementsAre("ws-4"));
    const auto disk_finding = FirstRaised({"ws-3"}, "disk.space_low", "/home");
    EXPECT_EQ(Tickets().size(), tickets_before + 2) << Medic({"tickets"}).out;

    const absl::Time repaired = absl::Now();
    ASSERT_EQ(Lab({"repair", "all"}).exit_code, 0);
    auto disk_resolved = WaitForResolved(disk->ticket_id());
    auto offline_resolved = WaitForResolved(offline->ticket_id());
    EXPECT_TRUE(disk_resolved.has_value()) << Medic({"incidents", "--all"}).out;
    EXPECT_TRUE(offline_resolved.has_value()) << Medic({"incidents", "--all"}).out;
    Timeline("ws-3 /home filled", injected, disk_finding, *disk,
             disk_resolved ? ResolvedAt(*disk_resolved) : std::nullopt, repaired);
    Timeline("ws-4 agent killed", injected, std::nullopt, *offline,
             offline_resolved ? ResolvedAt(*offline_resolved) : std::nullopt, repaired);
  }

  std::string text =
      "fault                          when (UTC)          times from injection; resolved from "
      "repair\n";
  for (const std::string& line : timeline_) text += line + "\n";
  std::cout << "\nField test timeline:\n" << text << std::flush;
  const std::string dir = std::string(MEDIC_BIN_DIR) + "/../test-artifacts/lab";
  std::filesystem::create_directories(dir);
  WriteFile(dir + "/timeline.txt", text);
}

}  // namespace
}  // namespace medic::test
