#pragma once

// Live diagnostics: the fixed catalog of checks a technician may ask this agent to run now.
// Parameters are validated here, on the agent, before anything runs; nothing outside the
// catalog runs, and the local config may refuse any check.

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/fs/file_system.h"
#include "common/process/command_runner.h"
#include "common/time/clock.h"
#include "medic/v1/config.pb.h"
#include "medic/v1/diagnostics.pb.h"

namespace medic::agent::diagnostics {

// The catalog's words: "health", "dns", "ping", "tcp", "http", "printers", "disk", "updates",
// "services", "logs". Empty for UNSPECIFIED or a value this agent does not know.
std::string_view CheckName(medic::v1::DiagnosticCheck check);
// The check of a word, or nullopt.
std::optional<medic::v1::DiagnosticCheck> CheckByName(std::string_view name);

// DiagnosticsConfig with every default filled in.
struct Limits {
  absl::Duration max_deadline = absl::Seconds(60);
  absl::Duration default_deadline = absl::Seconds(15);
  uint32_t max_lines = 200;
  uint32_t max_bytes = 64 * 1024;
  uint32_t max_concurrent = 4;
};
Limits LimitsFrom(const medic::v1::DiagnosticsConfig& config);

// Checks config.diagnostics() for values the agent cannot run with (an unknown check in
// `disabled`), naming the key.
absl::Status ValidateDiagnosticsConfig(const medic::v1::DiagnosticsConfig& config);

// The checks this agent runs (the catalog less those its config disables), in catalog order:
// what it advertises in Hello.capabilities.
std::vector<std::string> EnabledChecks(const medic::v1::AgentConfig& config);

// What the agent knows of its own network, against which `ping` hosts are checked.
struct LocalNetwork {
  std::vector<std::string> addresses;  // "10.1.0.23/24": interface addresses with prefix
  std::vector<std::string> gateways;   // default gateways
};

// A request after validation: what will run.
struct Plan {
  medic::v1::DiagnosticCheck check = medic::v1::DIAGNOSTIC_CHECK_UNSPECIFIED;
  std::string name;   // dns
  std::string host;   // ping (empty: the gateways), tcp
  uint16_t port = 0;  // tcp
  std::string url;    // http
  std::string unit;   // logs; empty with kernel
  bool kernel = false;
  uint32_t lines = 0;  // logs
  absl::Duration deadline;
};

// Syntax checks. A DNS name (letters, digits, '-', '_', dots; labels of 1–63, 253 in all; one
// trailing dot allowed); an IPv4 or IPv6 literal; a systemd unit name ("cups.service",
// "getty@tty1.service": [A-Za-z0-9:_.@\\-], not starting with "-" or ".", at most 255).
bool IsDnsName(std::string_view name);
bool IsIpLiteral(std::string_view text);
bool IsUnitName(std::string_view unit);
// Whether IPv4/IPv6 `ip` lies inside the network of `cidr_address` ("10.1.0.23/24").
bool InSubnet(std::string_view ip, std::string_view cidr_address);

// Validates `request` against the catalog, the local config and (for ping) the machine's own
// network. Returns the plan, or the reason it is refused: InvalidArgument for an unknown check
// or bad parameters, PermissionDenied for a check disabled here or a target not allowed. Pure.
absl::StatusOr<Plan> Validate(const medic::v1::DiagnosticRequest& request,
                              const medic::v1::AgentConfig& config, const LocalNetwork& network);

// Caps `result`'s lines at `limits` (count and bytes), saying what was cut in a last line.
void CapOutput(const Limits& limits, medic::v1::DiagnosticResult* result);

// Runs diagnostic requests. Run() may be called from several threads at once (each request
// builds its own probes); the objects given to the constructor must outlive it.
class Catalog {
 public:
  Catalog(const medic::v1::AgentConfig& config, const common::FileSystem& fs,
          const common::CommandRunner& commands, const common::Clock& clock);

  // Validates and runs `request` on the calling thread, returning by its deadline (bounded by
  // the local max_deadline; probes stop at it). Always a result: REFUSED with the reason when
  // the request is not allowed (and a warning in the agent's log naming requested_by), ERROR
  // when the check could not run, TIMED_OUT when it overran, else PASSED or FOUND. Every
  // request leaves an audit line in the log.
  medic::v1::DiagnosticResult Run(const medic::v1::DiagnosticRequest& request);

  // Reserves a place for one more request (false: max_concurrent are running; refuse it), and
  // gives it back. Thread-safe.
  bool TryReserve();
  void Release();

  const Limits& limits() const { return limits_; }

 private:
  void RunPlan(const Plan& plan, absl::Time deadline, medic::v1::DiagnosticResult* result);
  LocalNetwork ReadLocalNetwork(absl::Time deadline);

  const medic::v1::AgentConfig& config_;
  const common::FileSystem& fs_;
  const common::CommandRunner& commands_;
  const common::Clock& clock_;
  const Limits limits_;
  std::atomic<uint32_t> running_{0};
};

// A REFUSED result for `request`, saying why (e.g. the agent is busy).
medic::v1::DiagnosticResult Refused(const medic::v1::DiagnosticRequest& request,
                                    std::string reason);

}  // namespace medic::agent::diagnostics
