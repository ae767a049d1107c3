// The scenario format medic-sim reads, and how it compares tickets with `expect`.
#include "tests/sim/scenario.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace medic::sim {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kIssueExample = R"(
name: dns-outage-hq
timing:
  heartbeat: 1s
  offline_after: 4s
  window: 5s
  resolve_after: 5s
duration: 40s
fleet:
  - prefix: hq-ws
    count: 40
    site: hq
    subnet: 10.1.0.0/24
    gateway: 10.1.0.1
    dns: [10.0.0.53, 10.0.0.54]
    printers: ["ipp://prn-hq-1.corp.example/ipp/print"]
    os: "Debian GNU/Linux 12"
  - prefix: br-ws
    count: 12
    site: branch
    subnet: 10.2.0.0/24
    gateway: 10.2.0.1
    dns: [10.0.0.53]
events:
  - at: 5s
    hosts: {prefix: hq-ws, count: 25}
    raise: {code: net.dns_failure, resource: 10.0.0.53, severity: critical}
  - at: 8s
    hosts: {names: [hq-ws-007]}
    raise: {code: disk.space_low, resource: "/", severity: warning, evidence: {free_pct: "3"}}
  - at: 20s
    hosts: {prefix: hq-ws, count: 25}
    clear: {code: net.dns_failure, resource: 10.0.0.53}
  - at: 12s
    hosts: {subnet: 10.2.0.0/24}
    disconnect: true
  - at: 30s
    hosts: {subnet: 10.2.0.0/24}
    reconnect: true
expect:
  tickets:
    - {code: net.dns_failure, resource: 10.0.0.53, scope: resource, hosts: 25, state: resolved}
    - {code: disk.space_low, host: hq-ws-007, scope: host, state: open}
    - {code: host.offline, resource: 10.2.0.0/24, scope: subnet, hosts: 12, state: resolved}
)";

TEST(ScenarioTest, ReadsTheIssueExampleExactly) {
  auto s = ParseScenario(kIssueExample, "example.yaml");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->name, "dns-outage-hq");
  EXPECT_EQ(s->offline_after, absl::Seconds(4));
  EXPECT_EQ(s->duration, absl::Seconds(40));
  ASSERT_EQ(s->fleet.size(), 2u);
  EXPECT_EQ(s->fleet[0].dns.size(), 2u);
  EXPECT_EQ(s->fleet[0].printers[0], "ipp://prn-hq-1.corp.example/ipp/print");
  EXPECT_EQ(HostNames(*s).size(), 52u);
  EXPECT_EQ(HostNames(*s)[6], "hq-ws-007");
  ASSERT_EQ(s->events.size(), 5u);
  // Sorted by time: the disconnect at 12s comes before the clear at 20s.
  EXPECT_TRUE(s->events[2].disconnect);
  EXPECT_EQ(s->events[1].raise->evidence().at("free_pct"), "3");
  ASSERT_EQ(s->expect_tickets.size(), 3u);
  EXPECT_EQ(*s->expect_tickets[0].hosts, 25);
  EXPECT_EQ(*s->expect_tickets[1].host, "hq-ws-007");
  EXPECT_EQ(*s->expect_tickets[2].scope, medic::v1::SCOPE_SUBNET);
}

TEST(ScenarioTest, RefusesMistakesNamingTheLine) {
  struct Case {
    const char* why;
    std::string yaml;
    const char* message;
  };
  const std::string head = "name: x\nduration: 5s\nfleet:\n  - {prefix: a, count: 2}\n";
  const Case cases[] = {
      // A misspelt top-level key.
      {"typo", "name: x\nduraton: 5s\n", "2: unknown key 'duraton'"},
      // A duration with an unknown unit.
      {"unit", "name: x\nduration: 5x\nfleet: [{prefix: a, count: 1}]\n", "2: duration:"},
      // An event that does nothing.
      {"no action", head + "events:\n  - {at: 1s, hosts: {all: true}}\n", "6: an event does"},
      // Two actions in one event.
      {"two actions",
       head + "events:\n  - {at: 1s, hosts: {all: true}, disconnect: true, reconnect: true}\n",
       "an event does exactly one"},
      // A host name not in the fleet.
      {"unknown host", head + "events:\n  - {at: 1s, hosts: {names: [b-001]}, disconnect: true}\n",
       "no host is named b-001"},
      // A scope that does not exist.
      {"bad scope", head + "expect:\n  tickets:\n    - {code: x, scope: building}\n",
       "scope: 'building'"},
      // A severity that does not exist.
      {"bad severity",
       head + "events:\n  - {at: 1s, hosts: {all: true}, raise: {code: x, severity: high}}\n",
       "severity: 'high'"},
  };
  for (const auto& c : cases) {
    auto s = ParseScenario(c.yaml, "s.yaml");
    ASSERT_FALSE(s.ok()) << c.why;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(c.message)) << c.why;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr("s.yaml:")) << c.why;
  }
}

medic::v1::Ticket T(std::string code, std::string resource, medic::v1::Scope scope,
                    std::vector<std::string> hosts, medic::v1::TicketState state) {
  medic::v1::Ticket t;
  t.set_code(std::move(code));
  t.set_resource(std::move(resource));
  t.set_scope(scope);
  for (auto& h : hosts) t.add_hosts(std::move(h));
  t.set_state(state);
  return t;
}

TEST(ScenarioTest, ComparesEveryTicketNoMoreNoFewer) {
  auto s = ParseScenario(kIssueExample, "example.yaml");
  ASSERT_TRUE(s.ok());
  std::vector<std::string> many(25, "h");
  std::vector<std::string> twelve(12, "b");
  std::vector<medic::v1::Ticket> actual = {
      T("net.dns_failure", "10.0.0.53", medic::v1::SCOPE_RESOURCE, many,
        medic::v1::TICKET_STATE_RESOLVED),
      T("disk.space_low", "/", medic::v1::SCOPE_HOST, {"hq-ws-007"}, medic::v1::TICKET_STATE_OPEN),
      T("host.offline", "10.2.0.0/24", medic::v1::SCOPE_SUBNET, twelve,
        medic::v1::TICKET_STATE_RESOLVED),
  };
  EXPECT_EQ(CompareTickets(s->expect_tickets, actual), "");

  // One ticket too many.
  actual.push_back(
      T("disk.space_low", "/", medic::v1::SCOPE_HOST, {"hq-ws-008"}, medic::v1::TICKET_STATE_OPEN));
  EXPECT_THAT(CompareTickets(s->expect_tickets, actual),
              HasSubstr("+ raised, not expected: {code: disk.space_low, resource: /, scope: host, "
                        "host: hq-ws-008"));
  actual.pop_back();
  // The outage not resolved at the end.
  actual[2].set_state(medic::v1::TICKET_STATE_OPEN);
  const std::string diff = CompareTickets(s->expect_tickets, actual);
  EXPECT_THAT(diff, HasSubstr("- expected, not raised: {code: host.offline"));
  EXPECT_THAT(diff, HasSubstr("+ raised, not expected: {code: host.offline"));
}

}  // namespace
}  // namespace medic::sim
