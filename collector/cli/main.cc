// medic: the technician's command line. A client of the collector's technician API.
//
// Exit codes: 0 done; 1 the collector answered with an error (no such machine, …);
// 2 bad usage; 3 the collector could not be reached; `diagnose` also 4 (a check found
// problems) and 5 (a machine could not run it: offline, timed out, refused, error).
//
// The collector: --collector, else $MEDIC_COLLECTOR, else `collector:` in medic's config file
// (--config, default $XDG_CONFIG_HOME/medic/config.yaml or ~/.config/medic/config.yaml), else
// 127.0.0.1:7070. The token and CA likewise (see connection.h).

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <tuple>
#include <vector>

#include "CLI/CLI.hpp"
#include "collector/cli/connection.h"
#include "collector/cli/live.h"
#include "collector/cli/policy_cmd.h"
#include "collector/cli/render.h"
#include "common/proto/enum_words.h"
#include "common/proto/json.h"
#include "common/time/clock.h"
#include "medic/v1/technician.grpc.pb.h"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUnreachable = 3;

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
    case grpc::StatusCode::UNAUTHENTICATED:
      std::cerr << "medic: the collector refused the call: " << status.error_message()
                << "\n  Give an API token with --token-file FILE, MEDIC_TOKEN or token_file in "
                   "medic's config (the first admin token is admin.token in the collector's "
                   "state dir).\n";
      return kExitError;
    case grpc::StatusCode::PERMISSION_DENIED:
      std::cerr << "medic: not allowed: " << status.error_message() << "\n";
      return kExitError;
    case grpc::StatusCode::UNIMPLEMENTED:
      std::cerr << "medic: the collector at " << collector
                << " does not offer this yet (UNIMPLEMENTED): " << status.error_message() << "\n";
      return kExitError;
    default:
      std::cerr << "medic: " << status.error_message() << "\n";
      return kExitError;
  }
}

// The login name, kept beside the token holder as the actor of a ticket change.
std::string User() {
  const char* user = std::getenv("USER");
  return user != nullptr && *user != '\0' ? user : "technician";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"medic: ask the collector about the fleet"};
  app.require_subcommand(1);
  medic::cli::ConnectionOptions connection_options;
  app.add_option("--collector", connection_options.collector,
                 "collector HOST:PORT (default $MEDIC_COLLECTOR, else the config's, else "
                 "127.0.0.1:7070)");
  app.add_option("--config", connection_options.config_file,
                 "medic's config file (default ~/.config/medic/config.yaml if it exists)");
  app.add_option("--token-file", connection_options.token_file,
                 "file holding the API token (default $MEDIC_TOKEN, $MEDIC_TOKEN_FILE, or "
                 "token_file in the config)");
  app.add_option("--ca-file", connection_options.ca_file,
                 "the collector's CA certificate (default $MEDIC_CA_FILE or ca_file in the "
                 "config)");
  app.add_option("--server-name", connection_options.server_name,
                 "the name to check in the collector's certificate (default its host)");
  app.add_flag("--insecure", connection_options.insecure,
               "plaintext, no CA check: only for a collector in --insecure test mode");
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
  std::string subnet_filter, sort_by = "name";
  machines->add_option("--subnet", subnet_filter, "only machines in this subnet (10.1.0.0/24)");
  machines->add_option("--sort", sort_by, "name, state, findings or last-seen")
      ->check(CLI::IsMember({"name", "state", "findings", "last-seen"}));

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

  // --- identity (issue 8): administration ---
  auto* tokens = app.add_subcommand("tokens", "API tokens of technicians (admin)");
  tokens->require_subcommand(1);
  std::string token_name, token_role = "viewer", valid_for, token_id;
  auto* tokens_create = tokens->add_subcommand(
      "create", "make a token; prints the secret once on stdout (keep it in a 0600 file)");
  tokens_create->add_option("NAME", token_name, "who holds it: a person or a tool")->required();
  tokens_create->add_option("--role", token_role, "viewer, technician or admin (default viewer)")
      ->check(CLI::IsMember({"viewer", "technician", "admin"}));
  tokens_create->add_option("--valid-for", valid_for, "e.g. 90d (default: until revoked)");
  auto* tokens_list = tokens->add_subcommand("list", "every token (never the secrets)");
  tokens_list->add_flag("--json", json, "print the proto JSON mapping");
  auto* tokens_revoke = tokens->add_subcommand("revoke", "revoke a token at once");
  tokens_revoke->add_option("ID", token_id, "token id (tok-N)")->required();

  auto* enroll_tokens =
      app.add_subcommand("enroll-tokens", "enrollment tokens for new agents (admin)");
  enroll_tokens->require_subcommand(1);
  uint32_t max_uses = 0;
  auto* enroll_create = enroll_tokens->add_subcommand(
      "create", "make an enrollment token; prints the secret once on stdout");
  enroll_create->add_option("--name", token_name, "what it is for: 'floor 3 rollout'");
  enroll_create->add_option("--uses", max_uses, "how many agents may enroll with it (0: any)");
  enroll_create->add_option("--valid-for", valid_for, "e.g. 7d (default: until revoked)");
  auto* enroll_list = enroll_tokens->add_subcommand("list", "every enrollment token");
  enroll_list->add_flag("--json", json, "print the proto JSON mapping");
  auto* enroll_revoke = enroll_tokens->add_subcommand("revoke", "revoke an enrollment token");
  enroll_revoke->add_option("ID", token_id, "enrollment token id (enr-N)")->required();

  auto* agents = app.add_subcommand("agents", "agent identities (admin)");
  agents->require_subcommand(1);
  std::string reason;
  auto* agents_revoke =
      agents->add_subcommand("revoke", "revoke a machine's certificates and cut its stream now");
  agents_revoke->add_option("HOST", host, "hostname or machine id")->required();
  agents_revoke->add_option("--reason", reason, "kept in the audit log");

  auto* audit = app.add_subcommand("audit", "who did what, when, to what (admin)");
  medic::v1::ListAuditRequest audit_request;
  std::string since;
  uint32_t limit = 0;
  audit->add_option("--actor", *audit_request.mutable_actor(), "only entries whose actor has this");
  audit->add_option("--action", *audit_request.mutable_action(),
                    "only this action (UpdateTicket, Enroll, RevokeAgent, agent.spoofed_id, …)");
  audit->add_option("--target", *audit_request.mutable_target(),
                    "only entries whose target has this");
  audit->add_option("--since", since, "only the last DURATION (e.g. 1h, 7d)");
  audit->add_option("--limit", limit, "at most this many, newest first (default 100)");
  audit->add_flag("--json", json, "print the proto JSON mapping");
  auto* diagnose = app.add_subcommand(
      "diagnose",
      "run a check on machines now: diagnose HOST CHECK [ARGS], or --site/--subnet/--all CHECK "
      "[ARGS]; --results ID shows a run's kept results");
  std::vector<std::string> diagnose_words;
  diagnose->add_option("HOST CHECK ARGS", diagnose_words,
                       "the machine, the check (health, dns NAME, ping [ADDRESS], tcp HOST:PORT, "
                       "http URL, printers, disk, updates, services, logs [UNIT|kernel] [LINES])");
  std::string diag_site, diag_subnet, queue_for, results_id, diag_deadline = "15s";
  bool diag_all = false;
  diagnose->add_option("--site", diag_site, "every machine of this site");
  diagnose->add_option("--subnet", diag_subnet, "every machine in this subnet (CIDR)");
  diagnose->add_flag("--all", diag_all, "every machine");
  diagnose->add_option("--queue-for", queue_for,
                       "keep the request this long for machines that are offline (e.g. 1h); it "
                       "runs when they reconnect");
  diagnose->add_option("--deadline", diag_deadline, "how long machines have to answer (15s)");
  diagnose->add_option("--results", results_id, "show the results kept for run ID");
  diagnose->add_flag("--json", json, "one proto JSON result per line, as they arrive");
  diagnose->allow_extras(false);

  auto* watch = app.add_subcommand("watch",
                                   "live: findings raised and cleared, incidents, tickets, "
                                   "machines going online and offline (Ctrl-C ends)");
  watch->add_flag("--json", json, "one proto JSON event per line");
  medic::cli::PolicyCommand policy;
  medic::cli::AddPolicyCommands(app, &policy);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" that exit 0; every real usage error exits 2.
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  absl::StatusOr<medic::cli::Connection> connection = medic::cli::Connect(connection_options);
  if (!connection.ok()) {
    std::cerr << "medic: " << connection.status().message() << "\n";
    return 2;
  }
  const std::string& collector = connection->collector;
  auto stub = medic::v1::TechnicianService::NewStub(connection->channel);
  const std::shared_ptr<grpc::Channel>& channel = connection->channel;
  grpc::ClientContext context;
  medic::cli::Authenticate(*connection, &context);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)));
  const bool color = !json && isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr;

  absl::Duration valid = absl::ZeroDuration();
  if (!valid_for.empty()) {
    auto parsed = medic::common::ParseDuration(valid_for);
    if (!parsed.ok()) {
      std::cerr << "medic: --valid-for: " << parsed.status().message() << "\n";
      return 2;
    }
    valid = *parsed;
  }
  if (tokens_create->parsed()) {
    medic::v1::CreateApiTokenRequest request;
    request.set_name(token_name);
    request.set_role(token_role == "admin"        ? medic::v1::ROLE_ADMIN
                     : token_role == "technician" ? medic::v1::ROLE_TECHNICIAN
                                                  : medic::v1::ROLE_VIEWER);
    if (valid > absl::ZeroDuration()) {
      *request.mutable_valid_for() = medic::common::ToProtoDuration(valid);
    }
    medic::v1::CreateApiTokenResponse response;
    grpc::Status status = stub->CreateApiToken(&context, request, &response);
    if (!status.ok()) return ReportFailure(status, collector);
    std::cerr << "created " << response.token().id() << " for " << token_name << " (" << token_role
              << "); the secret is shown only now:\n";
    std::cout << response.secret() << "\n";
    return 0;
  }
  if (tokens_list->parsed()) {
    medic::v1::ListApiTokensResponse response;
    grpc::Status status = stub->ListApiTokens(&context, {}, &response);
    if (!status.ok()) return ReportFailure(status, collector);
    if (json) {
      std::cout << medic::common::ToJson(response) << "\n";
      return 0;
    }
    for (const auto& t : response.tokens()) {
      std::cout << t.id() << "\t" << medic::common::EnumWord(t.role()) << "\t" << t.name() << "\t"
                << (t.has_revoked_at() ? "revoked"
                    : t.has_expires_at()
                        ? "expires " +
                              absl::FormatTime(medic::common::FromProtoTime(t.expires_at()))
                        : "active")
                << "\n";
    }
    return 0;
  }
  if (tokens_revoke->parsed() || enroll_revoke->parsed()) {
    medic::v1::RevokeTokenResponse response;
    grpc::Status status;
    if (tokens_revoke->parsed()) {
      medic::v1::RevokeApiTokenRequest request;
      request.set_id(token_id);
      status = stub->RevokeApiToken(&context, request, &response);
    } else {
      medic::v1::RevokeEnrollmentTokenRequest request;
      request.set_id(token_id);
      status = stub->RevokeEnrollmentToken(&context, request, &response);
    }
    if (!status.ok()) return ReportFailure(status, collector);
    std::cout << token_id << " is revoked\n";
    return 0;
  }
  if (enroll_create->parsed()) {
    medic::v1::CreateEnrollmentTokenRequest request;
    request.set_name(token_name);
    request.set_max_uses(max_uses);
    if (valid > absl::ZeroDuration()) {
      *request.mutable_valid_for() = medic::common::ToProtoDuration(valid);
    }
    medic::v1::CreateEnrollmentTokenResponse response;
    grpc::Status status = stub->CreateEnrollmentToken(&context, request, &response);
    if (!status.ok()) return ReportFailure(status, collector);
    std::cerr << "created enrollment token " << response.token().id()
              << (max_uses > 0 ? " for " + std::to_string(max_uses) + " agents" : "")
              << "; give it to agents as enrollment_token_file or MEDIC_ENROLLMENT_TOKEN. The "
                 "secret is shown only now:\n";
    std::cout << response.secret() << "\n";
    return 0;
  }
  if (enroll_list->parsed()) {
    medic::v1::ListEnrollmentTokensResponse response;
    grpc::Status status = stub->ListEnrollmentTokens(&context, {}, &response);
    if (!status.ok()) return ReportFailure(status, collector);
    if (json) {
      std::cout << medic::common::ToJson(response) << "\n";
      return 0;
    }
    for (const auto& t : response.tokens()) {
      std::cout << t.id() << "\t" << t.name() << "\tused " << t.uses()
                << (t.max_uses() > 0 ? " of " + std::to_string(t.max_uses()) : "") << "\t"
                << (t.has_revoked_at() ? "revoked" : "active") << "\n";
    }
    return 0;
  }
  if (agents_revoke->parsed()) {
    medic::v1::RevokeAgentRequest request;
    request.set_host(host);
    request.set_reason(reason);
    medic::v1::RevokeAgentResponse response;
    grpc::Status status = stub->RevokeAgent(&context, request, &response);
    if (!status.ok()) return ReportFailure(status, collector);
    std::cout << response.hostname() << " (" << response.machine_id()
              << "): " << response.certificates_revoked() << " certificates revoked"
              << (response.stream_cut() ? ", its live stream was cut" : ", it was not connected")
              << "\n";
    return 0;
  }
  if (audit->parsed()) {
    if (!since.empty()) {
      auto parsed = medic::common::ParseDuration(since);
      if (!parsed.ok()) {
        std::cerr << "medic: --since: " << parsed.status().message() << "\n";
        return 2;
      }
      *audit_request.mutable_since() = medic::common::ToProtoTime(absl::Now() - *parsed);
    }
    audit_request.set_limit(limit);
    medic::v1::ListAuditResponse response;
    grpc::Status status = stub->ListAudit(&context, audit_request, &response);
    if (!status.ok()) return ReportFailure(status, collector);
    if (json) {
      std::cout << medic::common::ToJson(response) << "\n";
      return 0;
    }
    for (const auto& e : response.entries()) {
      std::cout << absl::FormatTime("%Y-%m-%d %H:%M:%S", medic::common::FromProtoTime(e.at()),
                                    absl::LocalTimeZone())
                << "  " << e.actor() << "  " << e.action()
                << (e.target().empty() ? "" : "  " + e.target()) << "  " << e.result()
                << (e.details().empty() ? "" : "  (" + e.details() + ")") << "\n";
    }
    return 0;
  }
  if (watch->parsed()) {
    grpc::ClientContext stream_context;  // no deadline: runs until interrupted
    medic::cli::Authenticate(*connection, &stream_context);
    // Fail fast when the collector is not there, rather than wait for it silently.
    if (!channel->WaitForConnected(
            std::chrono::system_clock::now() +
            std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)))) {
      return ReportFailure(grpc::Status(grpc::StatusCode::UNAVAILABLE, "no connection"), collector);
    }
    auto reader = stub->WatchEvents(&stream_context, medic::v1::WatchEventsRequest());
    if (!json) std::cerr << "Watching the fleet at " << collector << " (Ctrl-C to stop)…\n";
    medic::v1::Event event;
    while (reader->Read(&event)) {
      std::cout << (json ? medic::common::ToJsonLine(event) + "\n"
                         : medic::cli::RenderEvent(event, color))
                << std::flush;
    }
    grpc::Status status = reader->Finish();
    if (!status.ok()) return ReportFailure(status, collector);
    return 0;
  }
  if (diagnose->parsed()) {
    if (!results_id.empty()) {
      if (!diagnose_words.empty()) {
        std::cerr << "medic: --results ID takes no host or check\n";
        return 2;
      }
      medic::v1::GetDiagnosticResultsRequest request;
      request.set_request_id(results_id);
      medic::v1::GetDiagnosticResultsResponse response;
      grpc::Status status = stub->GetDiagnosticResults(&context, request, &response);
      if (!status.ok()) return ReportFailure(status, collector);
      if (json) {
        std::cout << medic::common::ToJson(response) << "\n";
      } else {
        for (const auto& r : response.results()) std::cout << medic::cli::RenderResult(r, color);
        for (const auto& host : response.waiting()) {
          std::cout << host << "  still offline; the request waits for it until "
                    << absl::FormatTime("%Y-%m-%d %H:%M:%S",
                                        medic::common::FromProtoTime(response.queued_until()),
                                        absl::LocalTimeZone())
                    << "\n";
        }
      }
      std::vector<medic::v1::DiagnosticResult> results(response.results().begin(),
                                                       response.results().end());
      return response.waiting().empty() ? medic::cli::DiagnoseExitCode(results) : 5;
    }
    const bool fan_out = diag_all || !diag_site.empty() || !diag_subnet.empty();
    medic::v1::RunDiagnosticRequest request;
    std::vector<std::string> check_words = diagnose_words;
    if (fan_out) {
      request.mutable_selector()->set_all(diag_all);
      request.mutable_selector()->set_site(diag_site);
      request.mutable_selector()->set_subnet(diag_subnet);
    } else {
      if (diagnose_words.size() < 2) {
        std::cerr << "medic: diagnose needs a machine and a check: medic diagnose HOST CHECK "
                     "[ARGS] (or --site/--subnet/--all CHECK [ARGS])\n";
        return 2;
      }
      request.mutable_selector()->add_hosts(diagnose_words[0]);
      check_words.erase(check_words.begin());
    }
    auto args = medic::cli::ParseCheckArgs(check_words);
    if (!args.ok()) {
      std::cerr << "medic: diagnose " << args.status().message() << "\n";
      return 2;
    }
    request.set_check(args->check);
    for (const auto& [k, v] : args->params) (*request.mutable_params())[k] = v;
    auto deadline = medic::cli::ParseDurationFlag(diag_deadline);
    if (!deadline.ok()) {
      std::cerr << "medic: --deadline: " << deadline.status().message() << "\n";
      return 2;
    }
    *request.mutable_deadline() = medic::common::ToProtoDuration(*deadline);
    if (!queue_for.empty()) {
      auto d = medic::cli::ParseDurationFlag(queue_for);
      if (!d.ok()) {
        std::cerr << "medic: --queue-for: " << d.status().message() << "\n";
        return 2;
      }
      *request.mutable_queue_for() = medic::common::ToProtoDuration(*d);
    }
    // The call may last the deadline, plus the time to reach the collector.
    grpc::ClientContext run_context;
    medic::cli::Authenticate(*connection, &run_context);
    run_context.set_deadline(
        std::chrono::system_clock::now() + absl::ToChronoMilliseconds(*deadline) +
        std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)));
    auto reader = stub->RunDiagnostic(&run_context, request);
    std::vector<medic::v1::DiagnosticResult> results;
    medic::v1::DiagnosticResult result;
    while (reader->Read(&result)) {
      std::cout << (json ? medic::common::ToJsonLine(result) + "\n"
                         : medic::cli::RenderResult(result, color))
                << std::flush;
      results.push_back(result);
    }
    grpc::Status status = reader->Finish();
    if (!status.ok()) return ReportFailure(status, collector);
    if (!json && fan_out) std::cout << medic::cli::RenderRunSummary(results, color);
    if (!json && !results.empty()) {
      std::cout << "Run " << results[0].request_id() << " (medic diagnose --results "
                << results[0].request_id() << ")\n";
    }
    return medic::cli::DiagnoseExitCode(results);
  }

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
    request.mutable_selector()->set_subnet(subnet_filter);
    request.set_finding_code(code_filter);
    medic::v1::ListMachinesResponse response;
    grpc::Status status = stub->ListMachines(&context, request, &response);
    if (!status.ok()) return ReportFailure(status, collector);
    auto* list = response.mutable_machines();
    std::stable_sort(list->begin(), list->end(),
                     [&](const medic::v1::Machine& a, const medic::v1::Machine& b) {
                       if (sort_by == "state") return a.state() > b.state();  // offline first
                       if (sort_by == "findings") {
                         return std::make_tuple(b.worst_severity(), b.open_findings()) <
                                std::make_tuple(a.worst_severity(), a.open_findings());
                       }
                       if (sort_by == "last-seen") {
                         return a.last_seen().seconds() > b.last_seen().seconds();
                       }
                       return a.hostname() < b.hostname();
                     });
    const bool filtered = !state_filter.empty() || !site_filter.empty() || !code_filter.empty() ||
                          !subnet_filter.empty();
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
    request.set_actor(User());
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
