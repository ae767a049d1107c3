#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "medic/v1/fleet.pb.h"
#include "medic/v1/health.pb.h"

namespace medic::sim {

// One line of `fleet`: hosts prefix-001 … prefix-<count>.
struct FleetGroup {
  std::string prefix;
  int count = 0;
  std::string site, subnet, gateway, os;
  std::vector<std::string> dns, printers, labels;
};

// Which hosts an event is about: {prefix, count}, {names}, {site}, {subnet} or {all}.
struct Selector {
  std::string prefix;
  int count = 0;  // 0: every host of the prefix
  std::vector<std::string> names;
  std::string site, subnet;
  bool all = false;
};

struct Event {
  absl::Duration at;
  Selector hosts;
  std::optional<medic::v1::Finding> raise;
  std::optional<medic::v1::FindingCleared> clear;
  bool disconnect = false;
  bool reconnect = false;
  int line = 0;  // in the scenario file, for messages
};

// One ticket the run must end with. Unset fields match anything.
struct ExpectedTicket {
  std::string code;
  std::optional<std::string> resource, host;
  std::optional<medic::v1::Scope> scope;
  std::optional<int> hosts;
  std::optional<medic::v1::TicketState> state;
  std::string text;  // as written, for the diff
};

struct Scenario {
  std::string name;
  absl::Duration heartbeat = absl::Seconds(1);
  absl::Duration offline_after = absl::Seconds(4);
  absl::Duration window = absl::Seconds(5);
  absl::Duration resolve_after = absl::Seconds(5);
  absl::Duration duration;
  std::vector<FleetGroup> fleet;
  std::vector<Event> events;  // sorted by `at`
  bool has_expect = false;
  std::vector<ExpectedTicket> expect_tickets;
  // Extra collector settings (a CollectorConfig YAML mapping), merged over the timing.
  std::string collector_yaml;
};

// Parses a scenario file's text. Unknown keys, malformed durations, selectors naming no host
// and events that neither raise, clear, disconnect nor reconnect are errors naming the file
// and line.
absl::StatusOr<Scenario> ParseScenario(std::string_view text, std::string_view file);

// The host names of the fleet, in order.
std::vector<std::string> HostNames(const Scenario& scenario);

// Whether `ticket` satisfies `expected`.
bool Matches(const ExpectedTicket& expected, const medic::v1::Ticket& ticket);

// The compact form used in the diff: "{code: x, resource: y, scope: resource, hosts: 25, …}".
std::string Describe(const medic::v1::Ticket& ticket);

// Pairs expected with actual tickets (each used once). Returns "" when every expected
// ticket has its own actual one and no actual ticket is left over; otherwise a readable diff.
std::string CompareTickets(const std::vector<ExpectedTicket>& expected,
                           const std::vector<medic::v1::Ticket>& actual);

}  // namespace medic::sim
