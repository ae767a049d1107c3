#include "agent/probes/probe_util.h"

#include "agent/probes/text.h"

namespace medic::agent {

absl::StatusOr<std::string> ReadRequired(const common::FileSystem& fs, std::string_view path) {
  absl::StatusOr<std::string> text = fs.ReadFile(path);
  if (!text.ok()) return WithPath(text.status(), path);
  return text;
}

std::optional<std::string> ReadOptional(const common::FileSystem& fs, std::string_view path) {
  absl::StatusOr<std::string> text = fs.ReadFile(path);
  if (!text.ok()) return std::nullopt;
  return *std::move(text);
}

absl::Status WithPath(const absl::Status& status, std::string_view path) {
  if (status.ok() || Contains(common::ToStd(status.message()), path)) return status;
  return absl::Status(status.code(), common::StrCat(path, ": ", status.message()));
}

absl::Status CheckDeadline(const ProbeContext& ctx, std::string_view step) {
  if (ctx.clock.Now() <= ctx.deadline) return absl::OkStatus();
  return absl::DeadlineExceededError(common::StrCat("deadline passed before ", step));
}

void AddObservation(medic::v1::ProbeReport& report, std::string_view metric,
                    std::string_view resource, double value, std::string_view unit) {
  medic::v1::Observation* observation = report.add_observations();
  observation->set_metric(std::string(metric));
  observation->set_resource(std::string(resource));
  observation->set_value(value);
  observation->set_unit(std::string(unit));
}

std::optional<std::string> ReadAttribute(const common::FileSystem& fs, std::string_view path) {
  std::optional<std::string> text = ReadOptional(fs, path);
  if (!text) return std::nullopt;
  const std::string_view trimmed = Trim(*text);
  if (trimmed.empty()) return std::nullopt;
  return std::string(trimmed);
}

std::vector<std::string> NumberedEntries(const common::FileSystem& fs, std::string_view dir,
                                         std::string_view prefix) {
  std::vector<std::string> names;
  absl::StatusOr<std::vector<std::string>> entries = fs.ListDir(dir);
  if (!entries.ok()) return names;
  for (const std::string& entry : *entries) {
    std::string_view rest = entry;
    uint32_t number = 0;
    if (ConsumePrefix(&rest, prefix) && ParseInt(rest, &number)) names.push_back(entry);
  }
  return names;
}

}  // namespace medic::agent
