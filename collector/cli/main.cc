// medic: the technician's command line. A client of the collector's technician API.
//
// Exit codes: 0 done; 1 the collector answered with an error (no such machine, …);
// 2 bad usage; 3 the collector could not be reached.

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "CLI/CLI.hpp"
#include "collector/cli/policy_cmd.h"
#include "collector/cli/render.h"
#include "common/proto/json.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "medic/v1/technician.grpc.pb.h"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUnreachable = 3;
constexpr const char* kDefaultCollector = "127.0.0.1:7070";

// Prints what went wrong and what to do; returns the exit code.
int ReportFailure(const grpc::Status& status, const std::string& collector) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      if (status.error_message().rfind("the collector could not", 0) == 0) {
        std::cerr << "medic: the collector at " << collector
                  << " is up but failing: " << status.error_message()
                  << " — see medic-collector's log\n";
        return kExitError;
      }
      [[fallthrough]];
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      std::cerr << "medic: cannot reach the collector at " << collector << " ("
                << status.error_message()
                << ") — is medic-collector running there? Set --collector or MEDIC_COLLECTOR.\n";
      return kExitUnreachable;
    case grpc::StatusCode::UNIMPLEMENTED:
      std::cerr << "medic: the collector at " << collector
                << " does not offer this yet (UNIMPLEMENTED): " << status.error_message() << "\n";
      return kExitError;
    default:
      std::cerr << "medic: " << status.error_message() << "\n";
      return kExitError;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"medic: ask the collector about the fleet"};
  app.require_subcommand(1);
  const char* env = std::getenv("MEDIC_COLLECTOR");
  std::string collector = env != nullptr && *env != '\0' ? env : kDefaultCollector;
  app.add_option("--collector", collector,
                 "collector HOST:PORT (default $MEDIC_COLLECTOR, else 127.0.0.1:7070)");
  double timeout_seconds = 10;
  app.add_option("--timeout", timeout_seconds, "seconds to wait for the collector")
      ->check(CLI::PositiveNumber);
  bool json = false;
  app.set_version_flag("--version", MEDIC_VERSION);

  auto* machines = app.add_subcommand("machines", "the fleet: every machine and its state");
  machines->add_flag("--json", json, "print the proto JSON mapping");
  std::string state_filter, site_filter, code_filter;
  machines->add_option("--state", state_filter, "online or offline")
      ->check(CLI::IsMember({"online", "offline"}));
  machines->add_option("--site", site_filter, "only machines of this site");
  machines->add_option("--finding", code_filter, "only machines with this finding standing");

  auto* health = app.add_subcommand("health", "everything known about one machine");
  std::string host;
  health->add_option("HOST", host, "hostname or machine id")->required();
  health->add_flag("--json", json, "print the proto JSON mapping");
  auto* tickets = app.add_subcommand("tickets", "tickets medic raised: list, show, ack, resolve");
  tickets->add_flag("--json", json, "print the proto JSON mapping");
  std::string ticket_state;
  tickets->add_option("--state", ticket_state, "open, acknowledged or resolved")
      ->check(CLI::IsMember({"open", "acknowledged", "resolved"}));
  std::string ticket_id, note;
  auto* show = tickets->add_subcommand("show", "one ticket: diagnosis, runbook, history");
  show->add_option("ID", ticket_id, "ticket id (MED-12) or incident id")->required();
  show->add_flag("--json", json, "print the proto JSON mapping");
  auto* ack = tickets->add_subcommand("ack", "acknowledge a ticket: someone is on it");
  ack->add_option("ID", ticket_id, "ticket id")->required();
  ack->add_option("--note", note, "a note for the history");
  auto* resolve = tickets->add_subcommand("resolve", "resolve a ticket by hand");
  resolve->add_option("ID", ticket_id, "ticket id")->required();
  resolve->add_option("--note", note, "what was done")->required();

  auto* incidents = app.add_subcommand("incidents", "incidents and why they were grouped");
  incidents->add_flag("--json", json, "print the proto JSON mapping");
  bool include_resolved = false;
  incidents->add_flag("--all", include_resolved, "include resolved incidents");
  medic::cli::PolicyCommand policy;
  medic::cli::AddPolicyCommands(app, &policy);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" that exit 0; every real usage error exits 2.
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  auto channel = grpc::CreateChannel(collector, grpc::InsecureChannelCredentials());
  auto stub = medic::v1::TechnicianService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)));
  const bool color = !json && isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr;

  if (policy.policy->parsed()) {
    grpc::Status failed;
    const int code = medic::cli::RunPolicyCommand(policy, *stub, context, &failed);
    return code >= 0 ? code : ReportFailure(failed, collector);
  }
  if (machines->parsed()) {
    medic::v1::ListMachinesRequest request;
    if (state_filter == "online") request.set_state(medic::v1::MACHINE_STATE_ONLINE);
    if (state_filter == "offline") request.set_state(medic::v1::MACHINE_STATE_OFFLINE);
    request.mutable_selector()->set_site(site_filter);
    request.set_finding_code(code_filter);
    medic::v1::ListMachinesResponse response;
    grpc::Status status = stub->ListMachines(&context, request, &response);
    if (!status.ok()) return ReportFailure(status, collector);
    const bool filtered = !state_filter.empty() || !site_filter.empty() || !code_filter.empty();
    if (!json && filtered && response.machines().empty()) {
      std::cout << "No machines match.\n";
      return 0;
    }
    std::cout << (json ? medic::common::ToJson(response) + "\n"
                       : medic::cli::RenderMachines(response, absl::Now(), color));
    return 0;
  }
  if (incidents->parsed()) {
    medic::v1::ListIncidentsRequest request;
    request.set_include_resolved(include_resolved);
    medic::v1::ListIncidentsResponse response;
    grpc::Status status = stub->ListIncidents(&context, request, &response);
    if (!status.ok()) return ReportFailure(status, collector);
    std::cout << (json ? medic::common::ToJson(response) + "\n"
                       : medic::cli::RenderIncidents(response, absl::Now(), color));
    return 0;
  }
  if (show->parsed()) {
    medic::v1::GetTicketRequest request;
    request.set_ticket_id(ticket_id);
    medic::v1::Ticket response;
    grpc::Status status = stub->GetTicket(&context, request, &response);
    if (!status.ok()) return ReportFailure(status, collector);
    std::cout << (json ? medic::common::ToJson(response) + "\n"
                       : medic::cli::RenderTicket(response, absl::Now(), color));
    return 0;
  }
  if (ack->parsed() || resolve->parsed()) {
    medic::v1::UpdateTicketRequest request;
    request.set_ticket_id(ticket_id);
    request.set_state(ack->parsed() ? medic::v1::TICKET_STATE_ACKNOWLEDGED
                                    : medic::v1::TICKET_STATE_RESOLVED);
    request.set_note(note);
    const char* user = std::getenv("USER");
    request.set_actor(user != nullptr && *user != '\0' ? user : "technician");
    medic::v1::Ticket response;
    grpc::Status status = stub->UpdateTicket(&context, request, &response);
    if (!status.ok()) return ReportFailure(status, collector);
    std::cout << response.ticket_id() << " is " << (ack->parsed() ? "acknowledged" : "resolved")
              << ": " << response.title() << "\n";
    return 0;
  }
  if (tickets->parsed()) {
    medic::v1::ListTicketsRequest request;
    if (ticket_state == "open") request.set_state(medic::v1::TICKET_STATE_OPEN);
    if (ticket_state == "acknowledged") request.set_state(medic::v1::TICKET_STATE_ACKNOWLEDGED);
    if (ticket_state == "resolved") request.set_state(medic::v1::TICKET_STATE_RESOLVED);
    medic::v1::ListTicketsResponse response;
    grpc::Status status = stub->ListTickets(&context, request, &response);
    if (!status.ok()) return ReportFailure(status, collector);
    std::cout << (json ? medic::common::ToJson(response) + "\n"
                       : medic::cli::RenderTickets(response, absl::Now(), color));
    return 0;
  }
  medic::v1::GetMachineHealthRequest request;
  request.set_host(host);
  medic::v1::MachineHealth response;
  grpc::Status status = stub->GetMachineHealth(&context, request, &response);
  if (!status.ok()) return ReportFailure(status, collector);
  std::cout << (json ? medic::common::ToJson(response) + "\n"
                     : medic::cli::RenderHealth(response, absl::Now(), color));
  return 0;
}
