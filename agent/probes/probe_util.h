#pragma once

// Small helpers the probes share: reading sources through ProbeContext::fs with errors that name
// the file, deadline checks, and observations.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/probes/probe.h"
#include "common/fs/file_system.h"
#include "common/status/status_macros.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

// Reads a source the probe cannot do without. On failure returns the file system's status,
// with `path` put in front of the message unless the message already names it.
absl::StatusOr<std::string> ReadRequired(const common::FileSystem& fs, std::string_view path);

// Reads a source the machine may simply not have (no swap, no `speed` on a virtual NIC, which
// fails with EINVAL). Any failure means "absent" and gives nullopt.
std::optional<std::string> ReadOptional(const common::FileSystem& fs, std::string_view path);

// `status` with "<path>: " in front of its message (same code), unless the message already
// names the path; OK stays OK.
absl::Status WithPath(const absl::Status& status, std::string_view path);

// Reads a source the probe needs with ReadRequired and parses it with `parse` (a function of
// std::string_view returning absl::StatusOr<T>); a parse error gets the path in front.
template <typename Parse>
auto ReadAndParse(const common::FileSystem& fs, std::string_view path, Parse parse)
    -> decltype(parse(std::string_view())) {
  ASSIGN_OR_RETURN(std::string text, ReadRequired(fs, path));
  auto parsed = parse(text);
  if (!parsed.ok()) return WithPath(parsed.status(), path);
  return parsed;
}

// Like ReadAndParse for a source the machine may not have: nullopt when ReadOptional finds
// nothing. A source that is there but cannot be parsed is an error naming the path.
template <typename Parse>
auto ReadAndParseOptional(const common::FileSystem& fs, std::string_view path, Parse parse)
    -> absl::StatusOr<std::optional<typename decltype(parse(std::string_view()))::value_type>> {
  std::optional<std::string> text = ReadOptional(fs, path);
  if (!text) return std::nullopt;
  auto parsed = parse(*text);
  if (!parsed.ok()) return WithPath(parsed.status(), path);
  return *std::move(parsed);
}

// DeadlineExceeded naming `step` ("statvfs /mnt/nfs") when ctx.clock is past ctx.deadline;
// OK otherwise. Probes call it between slow steps.
absl::Status CheckDeadline(const ProbeContext& ctx, std::string_view step);

// A sysfs attribute's text, trimmed; nullopt when the file is missing, unreadable or blank.
std::optional<std::string> ReadAttribute(const common::FileSystem& fs, std::string_view path);

// Names in `dir` that are `prefix` followed by digits ("hwmon3", "mc0", "cpu12"), in
// ListDir's order; none when `dir` is missing.
std::vector<std::string> NumberedEntries(const common::FileSystem& fs, std::string_view dir,
                                         std::string_view prefix);

// Appends an observation to `report`.
void AddObservation(medic::v1::ProbeReport& report, std::string_view metric,
                    std::string_view resource, double value, std::string_view unit);

}  // namespace medic::agent
