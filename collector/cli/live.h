#pragma once

// `medic diagnose` and `medic watch`: turning words into requests, and results and events
// into lines. Pure, so tests check the text.

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "medic/v1/technician.pb.h"

namespace medic::cli {

// The check and parameters of `medic diagnose … CHECK [ARGS]`:
//   dns NAME | ping [ADDRESS] | tcp HOST:PORT | http URL | logs [UNIT|kernel] [LINES]
//   health | printers | disk | updates | services
// KEY=VALUE arguments are passed as they are. InvalidArgument says what the check takes.
struct CheckArgs {
  medic::v1::DiagnosticCheck check = medic::v1::DIAGNOSTIC_CHECK_UNSPECIFIED;
  std::map<std::string, std::string> params;
};
absl::StatusOr<CheckArgs> ParseCheckArgs(const std::vector<std::string>& words);

// "1h", "90s", "500ms", "2m30s" → a positive duration; InvalidArgument otherwise.
absl::StatusOr<absl::Duration> ParseDurationFlag(const std::string& text);

// One machine's result: a header line (host, check, outcome, time, summary) and its detail
// lines indented.
std::string RenderResult(const medic::v1::DiagnosticResult& result, bool color);

// What a fan-out came to: counts by outcome, then the machines that did not answer in time
// and those offline, by name.
std::string RenderRunSummary(const std::vector<medic::v1::DiagnosticResult>& results, bool color);

// One line for `medic watch`: "12:03:04  ws-7  raised  disk.space_low  / has 3% free".
std::string RenderEvent(const medic::v1::Event& event, bool color);

// `medic diagnose`'s exit code for these results: 0 every machine passed; 4 a check found
// problems on some machine; 5 some machine could not run it (offline, timed out, refused,
// error). The higher one wins.
int DiagnoseExitCode(const std::vector<medic::v1::DiagnosticResult>& results);

}  // namespace medic::cli
