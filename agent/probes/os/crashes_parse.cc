#include "agent/probes/os/crashes_parse.h"

#include <map>

#include "agent/probes/text.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"

namespace medic::agent {
namespace {

constexpr std::string_view kOopsMarkers[] = {"Oops:", "BUG:", "general protection fault",
                                             "Kernel panic"};

// The time at the start of a kern.log line and the rest of the line after the host name.
std::optional<absl::Time> LineTime(std::string_view line, absl::Time now, absl::TimeZone zone) {
  std::vector<std::string_view> fields = SplitFields(line);
  if (fields.empty()) return std::nullopt;
  absl::Time time;
  std::string error;
  if (fields[0].size() >= 19 && fields[0][4] == '-' && fields[0][10] == 'T') {
    if (absl::ParseTime(absl::RFC3339_full, std::string(fields[0]), &time, &error)) return time;
    return std::nullopt;
  }
  if (fields.size() < 3) return std::nullopt;
  const std::string stamp = common::StrCat(fields[0], " ", fields[1], " ", fields[2]);
  const int year = absl::ToCivilYear(now, zone).year();
  for (int y : {year, year - 1}) {
    if (absl::ParseTime("%Y %b %d %H:%M:%S", common::StrCat(y, " ", stamp), zone, &time, &error) &&
        time <= now + absl::Hours(24)) {
      return time;
    }
  }
  return std::nullopt;
}

std::string Plural(size_t n, std::string_view one, std::string_view many) {
  return common::StrCat(n, " ", n == 1 ? one : many);
}

}  // namespace

ApportReport ParseApportReport(std::string_view text) {
  ApportReport report;
  for (std::string_view line : SplitLines(text)) {
    if (line.empty() || line.front() == ' ') continue;
    const size_t colon = line.find(": ");
    if (colon == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, colon);
    const std::string value(Trim(line.substr(colon + 2)));
    if (key == "ExecutablePath") report.executable_path = value;
    if (key == "ProblemType") report.problem_type = value;
    if (key == "Signal") report.signal = value;
  }
  return report;
}

std::string ProgramFromCrashName(std::string_view name) {
  ConsumeSuffix(&name, ".crash");
  if (const size_t dot = name.rfind('.'); dot != std::string_view::npos) {
    name = name.substr(0, dot);
  }
  if (const size_t underscore = name.rfind('_'); underscore != std::string_view::npos) {
    name = name.substr(underscore + 1);
  }
  return std::string(name);
}

std::optional<std::string> ProgramFromCoredumpName(std::string_view name) {
  std::vector<std::string_view> parts = Split(name, '.');
  if (parts.size() < 6 || parts[0] != "core" || parts[1].empty()) return std::nullopt;
  return std::string(parts[1]);
}

std::vector<medic::v1::CrashReport> FindKernelOopses(std::string_view text, std::string_view path,
                                                     absl::Time since, absl::Time now,
                                                     absl::TimeZone zone) {
  std::vector<medic::v1::CrashReport> oopses;
  for (std::string_view line : SplitLines(text)) {
    bool marked = false;
    for (std::string_view marker : kOopsMarkers) marked = marked || Contains(line, marker);
    if (!marked) continue;
    std::optional<absl::Time> time = LineTime(line, now, zone);
    if (!time || *time < since || *time > now + absl::Hours(24)) continue;
    std::string_view detail = line;
    if (const size_t k = detail.find("kernel: "); k != std::string_view::npos) {
      detail = detail.substr(k + 8);
    }
    if (detail.starts_with("[")) {
      if (const size_t close = detail.find(']'); close != std::string_view::npos) {
        detail = detail.substr(close + 1);
      }
    }
    medic::v1::CrashReport& oops = oopses.emplace_back();
    oops.set_program("kernel");
    oops.set_path(std::string(path));
    *oops.mutable_time() = common::ToProtoTime(*time);
    oops.set_detail(std::string(Trim(detail)));
  }
  return oopses;
}

std::vector<medic::v1::Finding> JudgeCrashes(const medic::v1::CrashesStatus& status) {
  std::map<std::string, std::vector<const medic::v1::CrashReport*>> by_program;
  for (const medic::v1::CrashReport& crash : status.crashes()) {
    by_program[crash.program()].push_back(&crash);
  }
  const std::string window = common::HumanDuration(common::FromProtoDuration(status.window()));
  std::vector<medic::v1::Finding> findings;
  for (const auto& [program, crashes] : by_program) {
    const medic::v1::CrashReport* latest = crashes.front();
    for (const medic::v1::CrashReport* crash : crashes) {
      if (common::FromProtoTime(crash->time()) > common::FromProtoTime(latest->time())) {
        latest = crash;
      }
    }
    medic::v1::Finding& finding = findings.emplace_back();
    finding.set_code(std::string(kOsCrashRecent));
    finding.set_severity(medic::v1::SEVERITY_WARNING);
    finding.set_resource(program);
    if (program == "kernel") {
      finding.set_summary(common::StrCat("Kernel oops in the last ", window, " (",
                                         Plural(crashes.size(), "line", "lines"),
                                         "): ", latest->detail()));
    } else {
      finding.set_summary(common::StrCat(
          program, " crashed ",
          crashes.size() == 1 ? std::string("once") : common::StrCat(crashes.size(), " times"),
          " in the last ", window));
    }
    auto& evidence = *finding.mutable_evidence();
    evidence["count"] = common::StrCat(crashes.size());
    evidence["latest"] = absl::FormatTime(absl::RFC3339_sec, common::FromProtoTime(latest->time()),
                                          absl::UTCTimeZone());
    evidence["path"] = latest->path();
    evidence["detail"] = latest->detail();
  }
  return findings;
}

}  // namespace medic::agent
