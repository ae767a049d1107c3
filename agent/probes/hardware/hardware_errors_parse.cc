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

std::string WholeDisk(std::string_view device) {
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  // "nvme0n1p2", "mmcblk0p1": a "p" between the disk's last digit and the partition number.
  size_t digits = device.size();
  while (digits > 0 && is_digit(device[digits - 1])) --digits;
  if (digits == device.size()) return std::string(device);
  if (digits >= 2 && device[digits - 1] == 'p' && is_digit(device[digits - 2])) {
    return std::string(device.substr(0, digits - 1));
  }
  // "sdb1", "vda2", "xvda1", "hda3": letters, then the partition number.
  for (std::string_view prefix : {"sd", "vd", "hd", "xvd"}) {
    if (StartsWith(device, prefix) && digits > prefix.size()) {
      return std::string(device.substr(0, digits));
    }
  }
  return std::string(device);
}

std::optional<KernelError> ClassifyKernelMessage(std::string_view message) {
  for (std::string_view mark : {"I/O error", "medium error", "target error"}) {
    const size_t at = message.find(mark);
    if (at == std::string_view::npos) continue;
    const size_t dev = message.find("dev ", at);
    if (dev == std::string_view::npos) continue;
    std::string_view name = message.substr(dev + 4);
    name = name.substr(0, name.find_first_of(", :"));
    if (name.empty()) continue;
    // An empty CD drive, a VM's phantom floppy, loop and RAM devices log I/O errors that say
    // nothing about a disk.
    for (std::string_view noise : {"sr", "fd", "loop", "ram", "zram", "nbd"}) {
      if (StartsWith(name, noise)) return std::nullopt;
    }
    return KernelError{WholeDisk(name)};
  }
  const bool edac_error =
      Contains(message, "EDAC ") &&
      (Contains(message, " CE ") || Contains(message, " UE ") || Contains(message, "error"));
  if (edac_error || Contains(message, "[Hardware Error]") || Contains(message, "Machine check") ||
      Contains(message, "PCIe Bus Error") || Contains(message, "AER: Corrected error") ||
      Contains(message, "AER: Uncorrected") || Contains(message, "AER: Multiple")) {
    return KernelError{};
  }
  return std::nullopt;
}

void CountKernelErrors(const std::vector<std::string>& messages,
                       std::map<std::string, medic::v1::KernelErrorLines>& lines) {
  for (const std::string& message : messages) {
    std::optional<KernelError> error = ClassifyKernelMessage(message);
    if (!error) continue;
    medic::v1::KernelErrorLines& entry = lines[error->device];
    entry.set_device(error->device);
    entry.set_count(entry.count() + 1);
    entry.set_latest(message);
  }
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
  // Hardware errors the kernel logged (machine checks, EDAC, PCIe): one finding, "kernel".
  for (const medic::v1::KernelErrorLines& lines : status.kernel_errors()) {
    if (!lines.device().empty()) continue;
    const uint64_t rise =
        CounterRise(history, "kernel/hardware", lines.count(), now, /*first_sight_counts=*/true);
    if (!CounterHolds(history, "kernel/hardware", rise,
                      IsStanding(standing, kHardwareErrors, "kernel"), now, quiet)) {
      continue;
    }
    medic::v1::Finding& finding = findings.emplace_back();
    finding.set_code(std::string(kHardwareErrors));
    finding.set_severity(medic::v1::SEVERITY_WARNING);
    finding.set_resource("kernel");
    finding.set_summary(common::StrCat(
        "The kernel logged ", lines.count(), " hardware error", lines.count() == 1 ? "" : "s",
        rise > 0 ? common::StrCat(" (", rise, " new)") : "", "; the latest: ", lines.latest()));
    auto& evidence = *finding.mutable_evidence();
    evidence["kernel_lines"] = common::StrCat(lines.count());
    evidence["new_kernel_lines"] = common::StrCat(rise);
    evidence["latest_kernel_line"] = lines.latest();
    evidence["quiet_period"] = quiet_text;
  }

  // disk.io_errors: a disk's ioerr_cnt and the kernel's I/O error lines about it, together.
  struct DiskSources {
    const medic::v1::DiskErrors* counter = nullptr;
    const medic::v1::KernelErrorLines* lines = nullptr;
  };
  std::map<std::string, DiskSources> disks;
  for (const medic::v1::DiskErrors& disk : status.disks()) disks[disk.device()].counter = &disk;
  for (const medic::v1::KernelErrorLines& lines : status.kernel_errors()) {
    if (!lines.device().empty()) disks[lines.device()].lines = &lines;
  }
  for (const auto& [device, sources] : disks) {
    const bool was_standing = IsStanding(standing, kDiskIoErrors, device);
    uint64_t counter_rise = 0, lines_rise = 0;
    bool holds = false;
    if (sources.counter != nullptr) {
      const std::string key = common::StrCat("disk/", device);
      counter_rise = CounterRise(history, key, sources.counter->io_errors(), now,
                                 /*first_sight_counts=*/true);
      holds |= CounterHolds(history, key, counter_rise, was_standing, now, quiet);
    }
    if (sources.lines != nullptr) {
      const std::string key = common::StrCat("kernel/", device);
      lines_rise =
          CounterRise(history, key, sources.lines->count(), now, /*first_sight_counts=*/true);
      holds |= CounterHolds(history, key, lines_rise, was_standing, now, quiet);
    }
    if (!holds) continue;
    medic::v1::Finding& finding = findings.emplace_back();
    finding.set_code(std::string(kDiskIoErrors));
    finding.set_severity(medic::v1::SEVERITY_WARNING);
    finding.set_resource(device);
    auto& evidence = *finding.mutable_evidence();
    evidence["quiet_period"] = quiet_text;
    std::string summary;
    if (sources.counter != nullptr) {
      const uint64_t count = sources.counter->io_errors();
      summary = counter_rise > 0
                    ? common::StrCat("Disk ", device, " failed ", counter_rise, " new I/O request",
                                     counter_rise == 1 ? "" : "s", " (", count, " since boot)")
                    : common::StrCat("Disk ", device, " failed ", count,
                                     " I/O requests since boot, none new");
      evidence["io_errors"] = common::StrCat(count);
      evidence["new_io_errors"] = common::StrCat(counter_rise);
    }
    if (sources.lines != nullptr) {
      const uint64_t count = sources.lines->count();
      const std::string lines_text =
          common::StrCat(count, " I/O error line", count == 1 ? "" : "s", " in the kernel log",
                         lines_rise > 0 ? common::StrCat(" (", lines_rise, " new)") : "");
      summary = summary.empty() ? common::StrCat("Disk ", device, ": ", lines_text)
                                : common::StrCat(summary, "; ", lines_text);
      common::StrAppend(&summary, "; the latest: ", sources.lines->latest());
      evidence["kernel_lines"] = common::StrCat(count);
      evidence["new_kernel_lines"] = common::StrCat(lines_rise);
      evidence["latest_kernel_line"] = sources.lines->latest();
    }
    finding.set_summary(summary);
  }
  return findings;
}

}  // namespace medic::agent
