#include "agent/probes/os/updates_parse.h"

#include <algorithm>
#include <cctype>

#include "absl/status/status.h"
#include "agent/probes/text.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"

namespace medic::agent {
namespace {

bool ContainsSecurity(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return Contains(lower, "security");
}

constexpr size_t kNamedPackages = 5;

}  // namespace

absl::StatusOr<std::vector<PendingUpgrade>> ParseAptSimulation(std::string_view text) {
  std::vector<PendingUpgrade> upgrades;
  for (std::string_view line : SplitLines(text)) {
    std::string_view rest = line;
    if (!ConsumePrefix(&rest, "Inst ")) {
      if (Trim(line) == "Inst") {
        return absl::InvalidArgumentError(common::StrCat("apt: no package in \"", line, "\""));
      }
      continue;
    }
    std::vector<std::string_view> fields = SplitFields(rest);
    if (fields.empty()) {
      return absl::InvalidArgumentError(common::StrCat("apt: no package in \"", line, "\""));
    }
    PendingUpgrade upgrade;
    upgrade.package = std::string(fields[0]);
    // "(NEW ORIGIN [ARCH])": the origin is everything between the new version and the arch.
    const size_t open = rest.find('(');
    const size_t close = rest.rfind(')');
    if (open != std::string_view::npos && close != std::string_view::npos && close > open) {
      std::vector<std::string_view> parts = SplitFields(rest.substr(open + 1, close - open - 1));
      std::string origin;
      for (size_t k = 1; k < parts.size(); ++k) {
        if (parts[k].starts_with("[")) break;
        if (!origin.empty()) origin += ' ';
        origin += parts[k];
      }
      upgrade.origin = std::move(origin);
    }
    upgrade.security = ContainsSecurity(upgrade.origin);
    upgrades.push_back(std::move(upgrade));
  }
  return upgrades;
}

std::optional<medic::v1::Finding> JudgeUpdates(const medic::v1::UpdatesStatus& status,
                                               const UpdateMarks& marks, absl::Time now) {
  if (status.pending() == 0) return std::nullopt;
  const bool known_since = status.has_last_update();
  const absl::Duration waited =
      known_since ? now - common::FromProtoTime(status.last_update()) : absl::ZeroDuration();
  medic::v1::Finding finding;
  finding.set_code(std::string(kOsUpdatesPending));
  finding.set_severity(status.security() > 0 && known_since && waited > marks.security_max_age
                           ? medic::v1::SEVERITY_CRITICAL
                           : medic::v1::SEVERITY_WARNING);

  std::vector<std::string> named(status.security_packages().begin(),
                                 status.security_packages().end());
  for (const std::string& package : status.packages()) {
    if (std::find(named.begin(), named.end(), package) == named.end()) named.push_back(package);
  }
  std::string list;
  for (size_t k = 0; k < named.size() && k < kNamedPackages; ++k) {
    common::StrAppend(&list, k == 0 ? "" : ", ", named[k]);
  }
  if (named.size() > kNamedPackages) list += ", …";

  std::string summary =
      common::StrCat(status.pending(), status.pending() == 1 ? " update" : " updates", " pending");
  if (status.security() > 0)
    common::StrAppend(&summary, ", ", status.security(), " of them security");
  common::StrAppend(&summary, " (", list, ")");
  if (known_since) {
    common::StrAppend(&summary, " — last ", status.package_manager(), " update ",
                      common::HumanDuration(waited), " ago");
  }
  finding.set_summary(std::move(summary));
  auto& evidence = *finding.mutable_evidence();
  evidence["pending"] = common::StrCat(status.pending());
  evidence["security"] = common::StrCat(status.security());
  std::string packages;
  for (const std::string& package : status.packages()) {
    common::StrAppend(&packages, packages.empty() ? "" : " ", package);
  }
  evidence["packages"] = packages;
  if (known_since) {
    evidence["last_update"] = absl::FormatTime(
        absl::RFC3339_sec, common::FromProtoTime(status.last_update()), absl::UTCTimeZone());
  }
  return finding;
}

}  // namespace medic::agent
