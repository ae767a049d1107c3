// medic-sim: drives simulated agents through a scenario's timeline against a collector and
// checks the tickets it raised.
//
//   medic-sim run SCENARIO.yaml [--collector HOST:PORT] [--out RESULT.json]
//
// Without --collector it starts a collector in this process (temporary database) with the
// scenario's timing. Exit codes: 0 the scenario's expect section holds (or it has none);
// 1 it does not (a diff is printed); 2 bad usage or a malformed scenario; 3 no collector.

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_split.h"
#include "collector/collector.h"
#include "common/config/yaml_proto.h"
#include "common/log/log.h"
#include "common/proto/json.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"
#include "grpcpp/create_channel.h"
#include "medic/v1/technician.grpc.pb.h"
#include "tests/sim/fleet.h"
#include "tests/sim/scenario.h"
#include "tests/support/process.h"

namespace {

using medic::sim::Scenario;
using medic::sim::SimAgent;

bool Selected(const medic::sim::Selector& sel, const SimAgent& agent, int index_in_group) {
  if (sel.all) return true;
  if (!sel.names.empty()) {
    return std::find(sel.names.begin(), sel.names.end(), agent.hostname()) != sel.names.end();
  }
  if (!sel.prefix.empty()) {
    return agent.group().prefix == sel.prefix && (sel.count == 0 || index_in_group < sel.count);
  }
  if (!sel.site.empty()) return agent.group().site == sel.site;
  if (!sel.subnet.empty()) return agent.group().subnet == sel.subnet;
  return false;
}

int Run(const std::string& file, std::string collector_address, const std::string& out_file,
        bool verbose) {
  std::ifstream in(file);
  if (!in) {
    std::cerr << "medic-sim: cannot read " << file << "\n";
    return 2;
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<Scenario> parsed = medic::sim::ParseScenario(text.str(), file);
  if (!parsed.ok()) {
    std::cerr << "medic-sim: " << parsed.status().message() << "\n";
    return 2;
  }
  const Scenario& scenario = *parsed;

  medic::test::TempDir temp;
  std::unique_ptr<medic::collector::Collector> collector;
  if (collector_address.empty()) {
    medic::v1::CollectorConfig config = medic::collector::DefaultCollectorConfig();
    config.set_listen("127.0.0.1:0");
    config.set_db(temp.File("collector.db"));
    config.set_log_level(verbose ? medic::v1::LOG_LEVEL_INFO : medic::v1::LOG_LEVEL_WARNING);
    using medic::common::ToProtoDuration;
    *config.mutable_heartbeat_interval() = ToProtoDuration(scenario.heartbeat);
    *config.mutable_offline_after() = ToProtoDuration(scenario.offline_after);
    *config.mutable_correlation()->mutable_window() = ToProtoDuration(scenario.window);
    *config.mutable_correlation()->mutable_resolve_after() =
        ToProtoDuration(scenario.resolve_after);
    *config.mutable_engine_tick() = ToProtoDuration(
        std::clamp(scenario.window / 20, absl::Milliseconds(20), absl::Milliseconds(200)));
    if (!scenario.collector_yaml.empty()) {
      if (absl::Status s =
              medic::common::MergeYaml(scenario.collector_yaml, file + " (collector)", &config);
          !s.ok()) {
        std::cerr << "medic-sim: " << s.message() << "\n";
        return 2;
      }
    }
    medic::common::InitLogging("medic-sim", config.log_level());
    // The simulator's agents speak plaintext: its own collector runs in test mode on loopback.
    auto started = medic::collector::Collector::Start(config, /*insecure=*/true);
    if (!started.ok()) {
      std::cerr << "medic-sim: cannot start a collector: " << started.status().message() << "\n";
      return 3;
    }
    collector = *std::move(started);
    collector_address = collector->address();
  } else {
    medic::common::InitLogging("medic-sim", medic::v1::LOG_LEVEL_WARNING);
    std::cerr << "medic-sim: using the collector at " << collector_address
              << "; the scenario's timing is not applied to it\n";
  }

  // --collector A,B,C: the fleet spreads over replicas, and follows them when one dies.
  const std::vector<std::string> collectors = absl::StrSplit(collector_address, ',');
  const bool replicas = collectors.size() > 1;
  // The fleet connects: hello and snapshot with topology, each acknowledged before time 0.
  std::vector<std::unique_ptr<SimAgent>> agents;
  std::vector<int> index_in_group;
  const uint64_t epoch = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  for (const auto& group : scenario.fleet) {
    for (int i = 1; i <= group.count; ++i) {
      agents.push_back(std::make_unique<SimAgent>(
          medic::common::StrCat(group.prefix, "-", fmt::format("{:03d}", i)), group,
          medic::sim::SpreadTarget(collectors, agents.size()), epoch));
      index_in_group.push_back(i - 1);
    }
  }
  for (auto& a : agents) a->Connect();
  const absl::Time connect_deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < connect_deadline &&
         std::any_of(agents.begin(), agents.end(), [](const auto& a) { return a->acked() < 1; })) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  if (std::any_of(agents.begin(), agents.end(), [](const auto& a) { return a->acked() < 1; })) {
    std::cerr << "medic-sim: not every simulated agent got its snapshot acknowledged by "
              << collector_address << " within 30s\n";
    return 3;
  }

  const absl::Time t0 = absl::Now();
  std::vector<absl::Time> next_heartbeat(agents.size());
  for (size_t i = 0; i < agents.size(); ++i) {
    next_heartbeat[i] =
        t0 + scenario.heartbeat * static_cast<double>(i) / static_cast<double>(agents.size());
  }
  size_t next_event = 0;
  while (true) {
    const absl::Time now = absl::Now();
    if (now - t0 >= scenario.duration) break;
    while (next_event < scenario.events.size() && scenario.events[next_event].at <= now - t0) {
      const medic::sim::Event& e = scenario.events[next_event++];
      std::vector<SimAgent*> hit;
      for (size_t i = 0; i < agents.size(); ++i) {
        if (Selected(e.hosts, *agents[i], index_in_group[i])) hit.push_back(agents[i].get());
      }
      for (SimAgent* a : hit) {
        if (e.raise) a->Raise(*e.raise);
        if (e.clear) a->Clear(*e.clear);
        if (e.disconnect) a->Disconnect();
        if (e.reconnect) a->Connect();
      }
      if (e.disconnect) {
        for (SimAgent* a : hit) a->WaitClosed(absl::Seconds(2));
      }
      if (verbose) {
        std::cerr << "medic-sim: " << medic::common::HumanDuration(now - t0) << " event of line "
                  << e.line << " on " << hit.size() << " hosts\n";
      }
    }
    if (replicas) {
      for (auto& a : agents) {
        if (a->ReconnectIfDropped() && verbose) {
          std::cerr << "medic-sim: " << a->hostname() << " lost its collector; reconnecting\n";
        }
      }
    }
    for (size_t i = 0; i < agents.size(); ++i) {
      if (now < next_heartbeat[i]) continue;
      agents[i]->Heartbeat(scenario.heartbeat);
      next_heartbeat[i] += scenario.heartbeat;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }

  // The outcome, from the technician API like any client would see it.
  auto channel = grpc::CreateChannel(medic::sim::SpreadTarget(collectors, 0),
                                     grpc::InsecureChannelCredentials());
  auto stub = medic::v1::TechnicianService::NewStub(channel);
  medic::v1::ListTicketsResponse tickets;
  medic::v1::ListIncidentsResponse incidents;
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status s = stub->ListTickets(&context, {}, &tickets);
    if (!s.ok()) {
      std::cerr << "medic-sim: listing tickets failed: " << s.error_message() << "\n";
      return 3;
    }
  }
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    medic::v1::ListIncidentsRequest request;
    request.set_include_resolved(true);
    grpc::Status s = stub->ListIncidents(&context, request, &incidents);
    if (!s.ok()) {
      std::cerr << "medic-sim: listing incidents failed: " << s.error_message() << "\n";
      return 3;
    }
  }
  for (auto& a : agents) a->Disconnect();
  for (auto& a : agents) a->WaitClosed(absl::Seconds(2));
  agents.clear();
  if (collector != nullptr) collector->Shutdown(absl::Seconds(2));

  std::vector<medic::v1::Ticket> actual(tickets.tickets().begin(), tickets.tickets().end());
  std::reverse(actual.begin(), actual.end());  // oldest first reads better
  std::cout << "scenario " << scenario.name << ": " << actual.size() << " tickets after "
            << medic::common::HumanDuration(scenario.duration) << "\n";
  for (const auto& t : actual) std::cout << "  " << medic::sim::Describe(t) << "\n";
  std::string diff;
  if (scenario.has_expect) diff = medic::sim::CompareTickets(scenario.expect_tickets, actual);

  if (!out_file.empty()) {
    std::ofstream out(out_file);
    out << "{\"name\": \"" << scenario.name
        << "\", \"passed\": " << (diff.empty() ? "true" : "false")
        << ",\n\"tickets\": " << medic::common::ToJson(tickets)
        << ",\n\"incidents\": " << medic::common::ToJson(incidents) << "}\n";
    if (!out) {
      std::cerr << "medic-sim: cannot write " << out_file << "\n";
      return 2;
    }
  }
  if (!diff.empty()) {
    std::cout << "\nFAILED: the tickets differ from expect.tickets:\n" << diff;
    std::cout << "\nIncidents and why:\n";
    for (const auto& i : incidents.incidents()) {
      std::cout << "  " << i.incident_id() << " " << i.code() << " " << i.resource() << " ("
                << i.hosts_size() << " hosts)\n";
      for (const auto& line : i.explanation()) std::cout << "    " << line << "\n";
    }
    return 1;
  }
  std::cout << (scenario.has_expect ? "PASSED\n" : "(no expect section)\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"medic-sim: simulated agents driven by a scenario file"};
  app.require_subcommand(1);
  auto* run = app.add_subcommand("run", "run a scenario and check its expect section");
  std::string file, collector, out;
  bool verbose = false;
  run->add_option("SCENARIO", file, "scenario YAML file")->required();
  run->add_option("--collector", collector,
                  "HOST:PORT of a running collector (default: start one with the scenario's "
                  "timing), or IP:PORT,IP:PORT,… of replicas to spread the agents over");
  run->add_option("--out", out, "write the incidents and tickets (proto JSON) here");
  run->add_flag("-v,--verbose", verbose, "log the collector and each event");
  bool insecure = false;
  run->add_flag("--insecure", insecure,
                "plaintext channel: with --collector, which must then run with --insecure "
                "(simulated agents do not enroll)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (!collector.empty() && !insecure) {
    std::cerr << "medic-sim: simulated agents speak plaintext and do not enroll: start the "
                 "collector with --insecure and pass --insecure here\n";
    return 2;
  }
  return Run(file, collector, out, verbose);
}
