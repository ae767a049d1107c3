#include "agent/probes/hardware/hardware_errors_parse.h"

#include "agent/probes/hardware/hardware_util.h"
#include "agent/probes/text.h"
#include "common/time/clock.h"

namespace medic::agent {

uint64_t CounterRise(ErrorHistory& history, const std::string& key, uint64_t count, absl::Time now,
                     bool first_sight_counts) {
  auto it = history.counts.find(key);
  uint64_t rise = 0;
  if (it == history.counts.end()) {
    rise = first_sight_counts ? count : 0;
  } else if (count > it->second) {
    rise = count - it->second;
  }
  history.counts[key] = count;
  if (rise > 0) history.last_rise[key] = now;
  return rise;
}

bool CounterHolds(ErrorHistory& history, const std::string& key, uint64_t rise, bool was_standing,
                  absl::Time now, absl::Duration quiet) {
  if (rise > 0) return true;
  if (!was_standing) return false;
  auto [it, inserted] = history.last_rise.try_emplace(key, now);
  return now - it->second < quiet;
}

std::optional<uint64_t> ParseCounter(std::string_view text) {
  text = Trim(text);
  uint64_t value = 0;
  if (ConsumePrefix(&text, "0x") || ConsumePrefix(&text, "0X")) {
    if (ParseHex(text, &value)) return value;
    return std::nullopt;
  }
  if (ParseInt(text, &value)) return value;
  return std::nullopt;
}

std::optional<uint64_t> ParseMachineChecks(std::string_view interrupts) {
  for (std::string_view line : SplitLines(interrupts)) {
    std::vector<std::string_view> fields = SplitFields(line);
    if (fields.empty() || fields[0] != "MCE:") continue;
    uint64_t total = 0;
    for (size_t i = 1; i < fields.size(); ++i) {
      uint64_t count = 0;
      if (!ParseInt(fields[i], &count)) break;  // the description after the per-CPU columns
      total += count;
    }
    return total;
  }
  return std::nullopt;
}

std::vector<std::string> DimmsWithErrors(const std::vector<DimmCounts>& dimms) {
  std::vector<std::string> out;
  for (const DimmCounts& dimm : dimms) {
    if (dimm.corrected == 0 && dimm.uncorrected == 0) continue;
    out.push_back(
        common::StrCat(dimm.label, " (ce ", dimm.corrected, ", ue ", dimm.uncorrected, ")"));
  }
  return out;
}

std::vector<medic::v1::Finding> JudgeHardwareErrors(const medic::v1::HardwareErrorsStatus& status,
                                                    absl::Time now,
                                                    const HardwareThresholds& thresholds,
                                                    const std::vector<medic::v1::Finding>& standing,
                                                    ErrorHistory& history) {
  const absl::Duration quiet = thresholds.errors_quiet_period;
  const std::string quiet_text = common::HumanDuration(quiet);
  std::vector<medic::v1::Finding> findings;
  for (const medic::v1::MemoryControllerErrors& mc : status.memory_controllers()) {
    const std::string key = common::StrCat(mc.name(), "/ce");
    const uint64_t rise =
        CounterRise(history, key, mc.corrected(), now, /*first_sight_counts=*/false);
    const bool corrected_holds = CounterHolds(
        history, key, rise, IsStanding(standing, kHardwareErrors, mc.name()), now, quiet);
    if (mc.uncorrected() == 0 && !corrected_holds) continue;
    medic::v1::Finding& finding = findings.emplace_back();
    finding.set_code(std::string(kHardwareErrors));
    finding.set_resource(mc.name());
    std::string summary;
    if (mc.uncorrected() > 0) {
      finding.set_severity(medic::v1::SEVERITY_CRITICAL);
      summary =
          common::StrCat("Memory controller ", mc.name(), " has ", mc.uncorrected(),
                         " uncorrected error", mc.uncorrected() == 1 ? "" : "s", " since boot");
      if (rise > 0) common::StrAppend(&summary, " and ", rise, " new corrected");
    } else {
      finding.set_severity(medic::v1::SEVERITY_WARNING);
      summary = rise > 0 ? common::StrCat("Memory controller ", mc.name(), " corrected ", rise,
                                          " new memory error", rise == 1 ? "" : "s", " (",
                                          mc.corrected(), " since boot)")
                         : common::StrCat("Memory controller ", mc.name(), " corrected ",
                                          mc.corrected(), " memory errors since boot, none new");
    }
    if (!mc.dimms_with_errors().empty()) {
      common::StrAppend(&summary, ": ");
      for (int i = 0; i < mc.dimms_with_errors_size(); ++i) {
        common::StrAppend(&summary, i > 0 ? ", " : "", mc.dimms_with_errors(i));
      }
    }
    finding.set_summary(summary);
    auto& evidence = *finding.mutable_evidence();
    evidence["corrected"] = common::StrCat(mc.corrected());
    evidence["uncorrected"] = common::StrCat(mc.uncorrected());
    evidence["new_corrected"] = common::StrCat(rise);
    evidence["quiet_period"] = quiet_text;
    if (!mc.dimms_with_errors().empty()) {
      std::string dimms;
      for (const std::string& dimm : mc.dimms_with_errors()) {
        common::StrAppend(&dimms, dimms.empty() ? "" : "; ", dimm);
      }
      evidence["dimms"] = dimms;
    }
  }
  if (status.has_machine_checks() && status.machine_checks() > 0) {
    medic::v1::Finding& finding = findings.emplace_back();
    finding.set_code(std::string(kHardwareErrors));
    finding.set_severity(medic::v1::SEVERITY_CRITICAL);
    finding.set_resource("mce");
    finding.set_summary(common::StrCat(status.machine_checks(), " machine check exception",
                                       status.machine_checks() == 1 ? "" : "s",
                                       " since boot (uncorrected CPU or memory errors)"));
    (*finding.mutable_evidence())["machine_checks"] = common::StrCat(status.machine_checks());
  }
  for (const medic::v1::DiskErrors& disk : status.disks()) {
    const std::string key = common::StrCat("disk/", disk.device());
    const uint64_t rise =
        CounterRise(history, key, disk.io_errors(), now, /*first_sight_counts=*/true);
    if (!CounterHolds(history, key, rise, IsStanding(standing, kDiskIoErrors, disk.device()), now,
                      quiet)) {
      continue;
    }
    medic::v1::Finding& finding = findings.emplace_back();
    finding.set_code(std::string(kDiskIoErrors));
    finding.set_severity(medic::v1::SEVERITY_WARNING);
    finding.set_resource(disk.device());
    finding.set_summary(
        rise > 0 ? common::StrCat("Disk ", disk.device(), " failed ", rise, " new I/O request",
                                  rise == 1 ? "" : "s", " (", disk.io_errors(), " since boot)")
                 : common::StrCat("Disk ", disk.device(), " failed ", disk.io_errors(),
                                  " I/O requests since boot, none new"));
    auto& evidence = *finding.mutable_evidence();
    evidence["io_errors"] = common::StrCat(disk.io_errors());
    evidence["new_io_errors"] = common::StrCat(rise);
    evidence["quiet_period"] = quiet_text;
  }
  return findings;
}

}  // namespace medic::agent
