#pragma once

// Pure logic of the updates probe: apt's simulated upgrade and the os.updates_pending judgement.
// No I/O.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

inline constexpr std::string_view kOsUpdatesPending = "os.updates_pending";

struct PendingUpgrade {
  std::string package;  // "openssl"
  std::string origin;   // "Debian-Security:12/stable-security", what apt says of the source
  bool security = false;
};

// Parses the output of `apt-get -s upgrade`: each "Inst PACKAGE [OLD] (NEW ORIGIN [ARCH])" line
// is one pending upgrade, security when its origin names a suite or archive containing
// "security" (any case). Other lines (Conf, headings, kept-back lists) are ignored. A line
// starting with "Inst" without a package name is InvalidArgument naming the line.
absl::StatusOr<std::vector<PendingUpgrade>> ParseAptSimulation(std::string_view text);

// Marks of the judgement.
struct UpdateMarks {
  absl::Duration security_max_age = absl::Hours(24 * 7);
};

// The os.updates_pending finding when status.pending() > 0. Warning; critical when security
// updates are pending and the package lists were last updated more than security_max_age before
// `now` (what those lists offered has waited at least that long). Resource empty (the machine).
// Summary: "12 updates pending, 3 of them security (openssl, libc6, libssl3) — last apt update
// 13d 2h ago", naming at most 5 packages (security ones first) and "…" for more. Evidence holds
// pending, security, packages and last_update.
std::optional<medic::v1::Finding> JudgeUpdates(const medic::v1::UpdatesStatus& status,
                                               const UpdateMarks& marks, absl::Time now);

}  // namespace medic::agent
