#include "agent/probes/os/time_parse.h"

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "agent/probes/text.h"
#include "common/strings/str_cat.h"

namespace medic::agent {
namespace {

std::string OffsetText(double seconds) { return absl::StrFormat("%+.6fs", seconds); }

}  // namespace

absl::StatusOr<medic::v1::TimeSyncStatus> ParseTimedatectl(std::string_view text) {
  std::map<std::string, std::string, std::less<>> values;
  for (std::string_view line : SplitLines(text)) {
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    values[std::string(Trim(line.substr(0, eq)))] = std::string(Trim(line.substr(eq + 1)));
  }
  auto synced = values.find("NTPSynchronized");
  if (synced == values.end() || (synced->second != "yes" && synced->second != "no")) {
    return absl::InvalidArgumentError("timedatectl: no NTPSynchronized=yes|no");
  }
  medic::v1::TimeSyncStatus status;
  status.set_source("timedatectl");
  status.set_synchronized(synced->second == "yes");
  if (auto ntp = values.find("NTP"); ntp != values.end()) {
    status.set_detail(common::StrCat("NTP=", ntp->second));
  }
  return status;
}

absl::StatusOr<medic::v1::TimeSyncStatus> ParseChronyTracking(std::string_view text) {
  std::vector<std::string_view> fields = Split(Trim(text), ',');
  if (fields.size() < 14) {
    return absl::InvalidArgumentError(
        common::StrCat("chronyc tracking: expected 14 fields, got ", fields.size()));
  }
  int stratum = 0;
  double offset = 0;
  if (!ParseInt(fields[2], &stratum) || !ParseDouble(fields[4], &offset)) {
    return absl::InvalidArgumentError(
        common::StrCat("chronyc tracking: bad stratum or offset in \"", Trim(text), "\""));
  }
  const std::string_view leap = Trim(fields[13]);
  medic::v1::TimeSyncStatus status;
  status.set_source("chrony");
  status.set_synchronized(stratum > 0 && leap != "Not synchronised");
  status.set_offset_known(true);
  status.set_offset_seconds(offset);
  status.set_detail(common::StrCat("reference ", fields[1], ", stratum ", stratum, ", ", leap));
  return status;
}

medic::v1::TimeSyncStatus FromKernelClock(const KernelClock& clock) {
  medic::v1::TimeSyncStatus status;
  status.set_source("kernel");
  status.set_synchronized(!clock.unsynchronized);
  if (!clock.unsynchronized) {
    status.set_offset_known(true);
    status.set_offset_seconds(clock.est_error_seconds);
  }
  status.set_detail(clock.unsynchronized ? "adjtimex: STA_UNSYNC" : "adjtimex: synchronized");
  return status;
}

std::optional<medic::v1::Finding> JudgeTimeSync(const medic::v1::TimeSyncStatus& status) {
  if (status.source().empty() || status.synchronized()) return std::nullopt;
  medic::v1::Finding finding;
  finding.set_code(std::string(kOsTimeUnsynced));
  finding.set_severity(medic::v1::SEVERITY_WARNING);
  std::string summary = "Clock not synchronised";
  if (status.offset_known()) {
    common::StrAppend(&summary, ", offset ", OffsetText(status.offset_seconds()));
  }
  common::StrAppend(&summary, " (", status.source());
  if (!status.detail().empty()) common::StrAppend(&summary, ": ", status.detail());
  summary += ")";
  finding.set_summary(std::move(summary));
  auto& evidence = *finding.mutable_evidence();
  evidence["source"] = status.source();
  evidence["detail"] = status.detail();
  if (status.offset_known()) evidence["offset_seconds"] = OffsetText(status.offset_seconds());
  return finding;
}

}  // namespace medic::agent
