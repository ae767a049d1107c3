#include "agent/probes/hardware/cpu_parse.h"

#include <algorithm>
#include <array>

#include "absl/algorithm/container.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "agent/probes/hardware/hardware_util.h"
#include "agent/probes/text.h"

namespace medic::agent {
namespace {

// Parses the numeric columns of one cpu line (everything after the "cpu"/"cpuN" label).
absl::StatusOr<CpuTimes> ParseCpuTimes(std::string_view label, std::string_view columns) {
  std::array<uint64_t, 10> values{};
  size_t count = 0;
  for (std::string_view column : SplitFields(columns, " ")) {
    if (count == values.size()) break;  // columns a future kernel may add
    if (!ParseInt(column, &values[count])) {
      return absl::InvalidArgumentError(common::StrCat("/proc/stat: ", label, " column ", count + 1,
                                                       " is not a number: \"", column, "\""));
    }
    ++count;
  }
  if (count < 4) {
    return absl::InvalidArgumentError(
        common::StrCat("/proc/stat: ", label, " has ", count, " columns, at least 4 expected"));
  }
  CpuTimes t;
  t.user = values[0];
  t.nice = values[1];
  t.system = values[2];
  t.idle = values[3];
  t.iowait = values[4];
  t.irq = values[5];
  t.softirq = values[6];
  t.steal = values[7];
  t.guest = values[8];
  t.guest_nice = values[9];
  return t;
}

double Pct(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

absl::StatusOr<ProcStat> ParseProcStat(std::string_view text) {
  ProcStat stat;
  bool have_total = false;
  for (std::string_view line : SplitLines(text)) {
    if (!StartsWith(line, "cpu")) continue;
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) {
      return absl::InvalidArgumentError(
          common::StrCat("/proc/stat: cpu line without columns: \"", line, "\""));
    }
    const std::string_view label = line.substr(0, space);
    const std::string_view suffix = label.substr(3);
    if (!suffix.empty() && !absl::c_all_of(suffix, absl::ascii_isdigit)) continue;  // not ours
    absl::StatusOr<CpuTimes> times = ParseCpuTimes(label, line.substr(space + 1));
    if (!times.ok()) return times.status();
    if (suffix.empty()) {
      stat.total = *times;
      have_total = true;
    } else {
      stat.cores.push_back(*times);
    }
  }
  if (!have_total) return absl::InvalidArgumentError("/proc/stat: no aggregate \"cpu\" line");
  return stat;
}

absl::StatusOr<LoadAvg> ParseLoadAvg(std::string_view text) {
  std::vector<std::string_view> fields = SplitFields(Trim(text), " ");
  if (fields.size() < 4) {
    return absl::InvalidArgumentError(
        common::StrCat("/proc/loadavg: ", fields.size(), " fields, at least 4 expected"));
  }
  LoadAvg load;
  if (!ParseDouble(fields[0], &load.load1) || !ParseDouble(fields[1], &load.load5) ||
      !ParseDouble(fields[2], &load.load15)) {
    return absl::InvalidArgumentError(
        common::StrCat("/proc/loadavg: load averages are not numbers: \"", Trim(text), "\""));
  }
  const std::vector<std::string_view> tasks = Split(fields[3], '/');
  if (tasks.size() != 2 || !ParseInt(tasks[0], &load.running_tasks) ||
      !ParseInt(tasks[1], &load.total_tasks)) {
    return absl::InvalidArgumentError(
        common::StrCat("/proc/loadavg: expected running/total tasks, got \"", fields[3], "\""));
  }
  return load;
}

absl::StatusOr<CpuInfo> ParseCpuInfo(std::string_view text) {
  CpuInfo info;
  // Keys in order of preference: the first one present in the file names the model.
  constexpr std::array<std::string_view, 4> kModelKeys = {"model name", "Processor", "cpu model",
                                                          "cpu"};
  size_t model_rank = kModelKeys.size();
  for (std::string_view line : SplitLines(text)) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = Trim(line.substr(0, colon));
    const std::string_view value = Trim(line.substr(colon + 1));
    // "processor : 0" on most architectures, "processor 0: version = ..." on s390.
    if (key == "processor" || StartsWith(key, "processor ")) {
      ++info.processors;
      continue;
    }
    for (size_t rank = 0; rank < model_rank; ++rank) {
      if (key == kModelKeys[rank] && !value.empty()) {
        info.model = std::string(value);
        model_rank = rank;
        break;
      }
    }
  }
  if (info.processors == 0) {
    return absl::InvalidArgumentError("/proc/cpuinfo: no \"processor\" entry");
  }
  return info;
}

CpuUsage ComputeCpuUsage(const CpuTimes& previous, const CpuTimes& current) {
  const bool backwards = current.Total() < previous.Total() || current.Idle() < previous.Idle() ||
                         current.iowait < previous.iowait || current.steal < previous.steal;
  const CpuTimes base = (backwards || current.Total() == previous.Total()) ? CpuTimes{} : previous;
  const uint64_t total = current.Total() - base.Total();
  const uint64_t idle = current.Idle() - base.Idle();
  CpuUsage usage;
  usage.usage_pct = Pct(total - std::min(idle, total), total);
  usage.iowait_pct = Pct(current.iowait - base.iowait, total);
  usage.steal_pct = Pct(current.steal - base.steal, total);
  return usage;
}

std::vector<medic::v1::Finding> JudgeCpuLoad(const medic::v1::CpuStatus& cpu,
                                             const HardwareThresholds& thresholds,
                                             const std::vector<medic::v1::Finding>& standing) {
  std::vector<medic::v1::Finding> findings;
  if (cpu.logical_cores() == 0) return findings;
  const double per_core = cpu.load15() / cpu.logical_cores();
  const bool high = IsStanding(standing, kCpuLoadHigh, "")
                        ? per_core >= thresholds.load_per_core_clear
                        : per_core > thresholds.load_per_core_high;
  if (!high) return findings;
  medic::v1::Finding& finding = findings.emplace_back();
  finding.set_code(std::string(kCpuLoadHigh));
  finding.set_severity(medic::v1::SEVERITY_WARNING);
  std::string summary = absl::StrFormat("Load %.2f over 15 minutes on %u cores (%.2f per core)",
                                        cpu.load15(), cpu.logical_cores(), per_core);
  if (cpu.has_pressure()) {
    common::StrAppend(&summary, ", tasks waited for a CPU ", PctText(cpu.pressure().some_avg60()),
                      "% of the last minute");
  }
  finding.set_summary(summary);
  auto& evidence = *finding.mutable_evidence();
  evidence["load15"] = absl::StrFormat("%.2f", cpu.load15());
  evidence["load15_per_core"] = absl::StrFormat("%.2f", per_core);
  evidence["logical_cores"] = common::StrCat(cpu.logical_cores());
  evidence["threshold_per_core"] = absl::StrFormat("%g", thresholds.load_per_core_high);
  if (cpu.has_pressure()) evidence["psi_some_avg60"] = PctText(cpu.pressure().some_avg60());
  return findings;
}

}  // namespace medic::agent
