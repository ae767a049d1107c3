#pragma once

// Pure logic of the services probe: systemctl's list of failed units. No I/O.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

inline constexpr std::string_view kOsServiceFailed = "os.service_failed";

// Parses `systemctl list-units --failed --plain --no-legend --no-pager`: one unit a line,
// "UNIT LOAD ACTIVE SUB DESCRIPTION…" (a leading "●" or "*", which some systemd versions print
// even with --plain, is skipped). Blank lines are skipped. A line with fewer than four fields is
// InvalidArgument naming it.
absl::StatusOr<std::vector<medic::v1::FailedUnit>> ParseFailedUnits(std::string_view text);

// One os.service_failed (warning) per failed unit: resource the unit name, summary
// "nginx.service has failed (A high performance web server)", evidence the unit's line
// (load/active/sub) as `state` and its description.
std::vector<medic::v1::Finding> JudgeServices(const medic::v1::ServicesStatus& status);

}  // namespace medic::agent
