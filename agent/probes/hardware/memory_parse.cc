#include "agent/probes/hardware/memory_parse.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "agent/probes/hardware/filesystem_parse.h"
#include "agent/probes/hardware/hardware_util.h"
#include "agent/probes/text.h"

namespace medic::agent {
namespace {

constexpr std::string_view kKeys[] = {"MemTotal", "MemFree",   "MemAvailable", "Buffers",
                                      "Cached",   "SwapTotal", "SwapFree"};

bool IsKnownKey(std::string_view key) {
  for (std::string_view known : kKeys) {
    if (key == known) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<medic::v1::MemoryStatus> ParseMemInfo(std::string_view text) {
  std::map<std::string, uint64_t, std::less<>> bytes;
  for (std::string_view line : SplitLines(text)) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, colon);
    if (!IsKnownKey(key)) continue;
    std::string_view value = Trim(line.substr(colon + 1));
    const bool in_kb = ConsumeSuffix(&value, "kB");
    uint64_t number = 0;
    if (!ParseInt(Trim(value), &number)) {
      return absl::InvalidArgumentError(common::StrCat(
          "/proc/meminfo: ", key, " is not a number: \"", line.substr(colon + 1), "\""));
    }
    bytes[std::string(key)] = in_kb ? number * 1024 : number;
  }
  auto get = [&bytes](std::string_view key) -> uint64_t {
    auto it = bytes.find(key);
    return it == bytes.end() ? 0 : it->second;
  };
  if (!bytes.contains("MemTotal")) {
    return absl::InvalidArgumentError("/proc/meminfo: MemTotal is missing");
  }
  medic::v1::MemoryStatus status;
  status.set_total_bytes(get("MemTotal"));
  status.set_buffers_bytes(get("Buffers"));
  status.set_cached_bytes(get("Cached"));
  status.set_swap_total_bytes(get("SwapTotal"));
  status.set_swap_free_bytes(get("SwapFree"));
  const uint64_t available = bytes.contains("MemAvailable")
                                 ? get("MemAvailable")
                                 : get("MemFree") + get("Buffers") + get("Cached");
  status.set_available_bytes(std::min(available, status.total_bytes()));
  status.set_used_bytes(status.total_bytes() - status.available_bytes());
  return status;
}

absl::StatusOr<medic::v1::Pressure> ParsePressure(std::string_view text) {
  medic::v1::Pressure pressure;
  bool have_some = false;
  for (std::string_view line : SplitLines(text)) {
    std::vector<std::string_view> fields = SplitFields(line);
    if (fields.empty() || (fields[0] != "some" && fields[0] != "full")) continue;
    const bool some = fields[0] == "some";
    double avg10 = 0, avg60 = 0;
    bool have10 = false, have60 = false;
    for (size_t i = 1; i < fields.size(); ++i) {
      std::string_view field = fields[i];
      if (ConsumePrefix(&field, "avg10=")) {
        have10 = ParseDouble(field, &avg10);
      } else if (ConsumePrefix(&field, "avg60=")) {
        have60 = ParseDouble(field, &avg60);
      }
    }
    if (!have10 || !have60) {
      return absl::InvalidArgumentError(
          common::StrCat("pressure: no numeric avg10 and avg60 in \"", line, "\""));
    }
    if (some) {
      have_some = true;
      pressure.set_some_avg10(avg10);
      pressure.set_some_avg60(avg60);
    } else {
      pressure.set_full_avg10(avg10);
      pressure.set_full_avg60(avg60);
    }
  }
  if (!have_some) return absl::InvalidArgumentError("pressure: no \"some\" line");
  return pressure;
}

std::optional<uint64_t> ParseOomKills(std::string_view vmstat) {
  for (std::string_view line : SplitLines(vmstat)) {
    std::vector<std::string_view> fields = SplitFields(line);
    if (fields.size() == 2 && fields[0] == "oom_kill") {
      uint64_t kills = 0;
      if (ParseInt(fields[1], &kills)) return kills;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::vector<medic::v1::Finding> JudgeMemory(const medic::v1::MemoryStatus& memory,
                                            const HardwareThresholds& thresholds,
                                            const std::vector<medic::v1::Finding>& standing) {
  std::vector<medic::v1::Finding> findings;
  if (memory.total_bytes() > 0) {
    const double available_pct = Pct(memory.available_bytes(), memory.total_bytes());
    const bool was = IsStanding(standing, kMemoryPressure, "");
    const double available_mark =
        thresholds.memory_available_low_pct + (was ? kHardwareClearMarginPct : 0);
    const bool available_low = available_pct < available_mark;
    const bool has_psi = memory.has_pressure();
    const double psi_full = memory.pressure().full_avg60();
    const double psi_mark =
        was ? thresholds.memory_psi_full_avg60 / 2 : thresholds.memory_psi_full_avg60;
    const bool psi_high = has_psi && (was ? psi_full >= psi_mark : psi_full > psi_mark);
    if (available_low || psi_high) {
      std::vector<std::string> reasons;
      std::string summary = "Memory under pressure: ";
      if (available_low) {
        reasons.push_back("available_low");
        common::StrAppend(&summary, PctText(available_pct), "% available (",
                          HumanBytes(memory.available_bytes()), " of ",
                          HumanBytes(memory.total_bytes()), ")");
      }
      if (psi_high) {
        reasons.push_back("psi_full");
        common::StrAppend(&summary, available_low ? ", " : "", "all tasks stalled on memory ",
                          PctText(psi_full), "% of the last minute");
      }
      if (memory.has_oom_kills() && memory.oom_kills() > 0) {
        common::StrAppend(&summary, ", ", memory.oom_kills(), " OOM kill",
                          memory.oom_kills() == 1 ? "" : "s", " since boot");
      }
      medic::v1::Finding& finding = findings.emplace_back();
      finding.set_code(std::string(kMemoryPressure));
      finding.set_severity(medic::v1::SEVERITY_WARNING);
      finding.set_summary(summary);
      auto& evidence = *finding.mutable_evidence();
      std::string reason;
      for (const std::string& r : reasons) common::StrAppend(&reason, reason.empty() ? "" : ",", r);
      evidence["reason"] = reason;
      evidence["available_pct"] = PctText(available_pct);
      evidence["available_bytes"] = common::StrCat(memory.available_bytes());
      evidence["total_bytes"] = common::StrCat(memory.total_bytes());
      evidence["threshold_pct"] = absl::StrFormat("%g", thresholds.memory_available_low_pct);
      evidence["threshold_psi_full_avg60"] =
          absl::StrFormat("%g", thresholds.memory_psi_full_avg60);
      if (has_psi) {
        evidence["psi_full_avg60"] = PctText(psi_full);
        evidence["psi_some_avg60"] = PctText(memory.pressure().some_avg60());
      }
      if (memory.has_oom_kills()) evidence["oom_kills"] = common::StrCat(memory.oom_kills());
    }
  }
  if (memory.swap_total_bytes() > 0) {
    const double free_pct = Pct(memory.swap_free_bytes(), memory.swap_total_bytes());
    const double mark = thresholds.swap_free_low_pct +
                        (IsStanding(standing, kSwapExhausted, "") ? kHardwareClearMarginPct : 0);
    if (free_pct < mark) {
      medic::v1::Finding& finding = findings.emplace_back();
      finding.set_code(std::string(kSwapExhausted));
      finding.set_severity(medic::v1::SEVERITY_WARNING);
      finding.set_summary(common::StrCat("Swap nearly full: ", PctText(free_pct), "% free (",
                                         HumanBytes(memory.swap_free_bytes()), " of ",
                                         HumanBytes(memory.swap_total_bytes()), ")"));
      auto& evidence = *finding.mutable_evidence();
      evidence["swap_free_pct"] = PctText(free_pct);
      evidence["swap_free_bytes"] = common::StrCat(memory.swap_free_bytes());
      evidence["swap_total_bytes"] = common::StrCat(memory.swap_total_bytes());
      evidence["threshold_pct"] = absl::StrFormat("%g", thresholds.swap_free_low_pct);
    }
  }
  return findings;
}

}  // namespace medic::agent
