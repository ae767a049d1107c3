#include "agent/probes/os/services_parse.h"

#include "absl/status/status.h"
#include "agent/probes/text.h"
#include "common/strings/str_cat.h"

namespace medic::agent {

absl::StatusOr<std::vector<medic::v1::FailedUnit>> ParseFailedUnits(std::string_view text) {
  std::vector<medic::v1::FailedUnit> units;
  for (std::string_view line : SplitLines(text)) {
    std::string_view rest = Trim(line);
    if (rest.empty()) continue;
    if (!ConsumePrefix(&rest, "●")) ConsumePrefix(&rest, "*");
    rest = Trim(rest);
    std::vector<std::string_view> fields = SplitFields(rest);
    if (fields.size() < 4) {
      return absl::InvalidArgumentError(
          common::StrCat("systemctl: expected UNIT LOAD ACTIVE SUB in \"", line, "\""));
    }
    medic::v1::FailedUnit& unit = units.emplace_back();
    unit.set_unit(std::string(fields[0]));
    unit.set_load(std::string(fields[1]));
    unit.set_active(std::string(fields[2]));
    unit.set_sub(std::string(fields[3]));
    // The description is the rest of the line, with its own spacing.
    std::string_view description = rest;
    for (int k = 0; k < 4; ++k) {
      description = Trim(description);
      const size_t space = description.find_first_of(" \t");
      description = space == std::string_view::npos ? "" : description.substr(space);
    }
    unit.set_description(std::string(Trim(description)));
  }
  return units;
}

std::vector<medic::v1::Finding> JudgeServices(const medic::v1::ServicesStatus& status) {
  std::vector<medic::v1::Finding> findings;
  for (const medic::v1::FailedUnit& unit : status.failed_units()) {
    medic::v1::Finding& finding = findings.emplace_back();
    finding.set_code(std::string(kOsServiceFailed));
    finding.set_severity(medic::v1::SEVERITY_WARNING);
    finding.set_resource(unit.unit());
    std::string summary = common::StrCat(unit.unit(), " has failed");
    if (!unit.description().empty()) common::StrAppend(&summary, " (", unit.description(), ")");
    finding.set_summary(std::move(summary));
    auto& evidence = *finding.mutable_evidence();
    evidence["state"] = common::StrCat(unit.load(), " ", unit.active(), " ", unit.sub());
    evidence["description"] = unit.description();
  }
  return findings;
}

}  // namespace medic::agent
