#include "agent/probes/hardware/smart_parse.h"

#include <cmath>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "agent/probes/hardware/hardware_util.h"
#include "agent/probes/text.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace medic::agent {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

const Value* Field(const Struct& object, const std::string& key) {
  auto it = object.fields().find(key);
  return it == object.fields().end() ? nullptr : &it->second;
}

const Struct* Object(const Struct& object, const std::string& key) {
  const Value* value = Field(object, key);
  return value != nullptr && value->has_struct_value() ? &value->struct_value() : nullptr;
}

std::string String(const Struct& object, const std::string& key) {
  const Value* value = Field(object, key);
  return value != nullptr && value->kind_case() == Value::kStringValue
             ? std::string(Trim(value->string_value()))
             : std::string();
}

std::optional<bool> Bool(const Struct& object, const std::string& key) {
  const Value* value = Field(object, key);
  if (value == nullptr || value->kind_case() != Value::kBoolValue) return std::nullopt;
  return value->bool_value();
}

std::optional<double> Number(const Struct& object, const std::string& key) {
  const Value* value = Field(object, key);
  if (value == nullptr || value->kind_case() != Value::kNumberValue) return std::nullopt;
  if (!std::isfinite(value->number_value())) return std::nullopt;
  return value->number_value();
}

// A counter: a non-negative whole number.
std::optional<uint64_t> Count(const Struct& object, const std::string& key) {
  std::optional<double> number = Number(object, key);
  if (!number || *number < 0 || *number != std::floor(*number)) return std::nullopt;
  return static_cast<uint64_t>(*number);
}

// The first error smartctl printed in smartctl.messages, else the first message of any kind.
std::string SmartctlMessage(const Struct& root) {
  const Struct* smartctl = Object(root, "smartctl");
  if (smartctl == nullptr) return {};
  const Value* messages = Field(*smartctl, "messages");
  if (messages == nullptr || !messages->has_list_value()) return {};
  std::string first;
  for (const Value& message : messages->list_value().values()) {
    if (!message.has_struct_value()) continue;
    std::string text = String(message.struct_value(), "string");
    if (text.empty()) continue;
    if (String(message.struct_value(), "severity") == "error") return text;
    if (first.empty()) first = std::move(text);
  }
  return first;
}

// The raw values of the ATA attributes the judgement reads.
void ReadAtaAttributes(const Struct& root, medic::v1::SmartDisk& disk) {
  const Struct* attributes = Object(root, "ata_smart_attributes");
  if (attributes == nullptr) return;
  const Value* table = Field(*attributes, "table");
  if (table == nullptr || !table->has_list_value()) return;
  for (const Value& row : table->list_value().values()) {
    if (!row.has_struct_value()) continue;
    std::optional<uint64_t> id = Count(row.struct_value(), "id");
    const Struct* raw = Object(row.struct_value(), "raw");
    if (!id || raw == nullptr) continue;
    std::optional<uint64_t> value = Count(*raw, "value");
    if (!value) continue;
    switch (*id) {
      case 5:
        disk.set_reallocated_sectors(*value);
        break;
      case 197:
        disk.set_pending_sectors(*value);
        break;
      case 198:
        disk.set_offline_uncorrectable(*value);
        break;
      default:
        break;
    }
  }
}

void ReadNvmeLog(const Struct& root, medic::v1::SmartDisk& disk) {
  const Struct* log = Object(root, "nvme_smart_health_information_log");
  if (log == nullptr) return;
  if (auto v = Count(*log, "critical_warning")) disk.set_critical_warning(*v);
  if (auto v = Count(*log, "percentage_used")) disk.set_percentage_used(*v);
  if (auto v = Count(*log, "media_errors")) disk.set_media_errors(*v);
  if (auto v = Count(*log, "available_spare")) disk.set_available_spare(*v);
  if (auto v = Count(*log, "available_spare_threshold")) {
    disk.set_available_spare_threshold(*v);
  }
  if (!disk.has_temperature_celsius()) {
    if (auto v = Number(*log, "temperature")) disk.set_temperature_celsius(std::llround(*v));
  }
  if (!disk.has_power_on_hours()) {
    if (auto v = Count(*log, "power_on_hours")) disk.set_power_on_hours(*v);
  }
}

// "0x04 (NVM subsystem reliability degraded)": an NVMe critical warning and what its bits mean.
std::string CriticalWarningText(uint32_t bits) {
  static constexpr std::string_view kBits[] = {
      "available spare below threshold",    "temperature out of range",
      "NVM subsystem reliability degraded", "media in read-only mode",
      "volatile memory backup failed",      "persistent memory region read-only"};
  std::string meaning;
  for (uint32_t bit = 0; bit < std::size(kBits); ++bit) {
    if ((bits & (1u << bit)) == 0) continue;
    common::StrAppend(&meaning, meaning.empty() ? "" : ", ", kBits[bit]);
  }
  std::string text = absl::StrFormat("0x%02x", bits);
  if (!meaning.empty()) common::StrAppend(&text, " (", meaning, ")");
  return text;
}

// A counter the judgement watches for rises.
struct Counter {
  std::string_view name;  // evidence key and history suffix: "pending_sectors"
  std::string_view text;  // in summaries: "pending sectors"
  bool (medic::v1::SmartDisk::*has)() const;
  uint64_t (medic::v1::SmartDisk::*get)() const;
};

const Counter kCounters[] = {
    {"reallocated_sectors", "reallocated sectors", &medic::v1::SmartDisk::has_reallocated_sectors,
     &medic::v1::SmartDisk::reallocated_sectors},
    {"pending_sectors", "pending sectors", &medic::v1::SmartDisk::has_pending_sectors,
     &medic::v1::SmartDisk::pending_sectors},
    {"offline_uncorrectable", "offline uncorrectable sectors",
     &medic::v1::SmartDisk::has_offline_uncorrectable,
     &medic::v1::SmartDisk::offline_uncorrectable},
    {"media_errors", "media errors", &medic::v1::SmartDisk::has_media_errors,
     &medic::v1::SmartDisk::media_errors},
};

}  // namespace

SmartCandidate ClassifyBlockDevice(std::string_view name) {
  for (std::string_view prefix : {"loop", "ram", "zram", "dm-", "md", "sr", "fd"}) {
    if (StartsWith(name, prefix)) return SmartCandidate::kSkip;
  }
  if (StartsWith(name, "vd") || StartsWith(name, "xvd")) return SmartCandidate::kNoSmart;
  return SmartCandidate::kAsk;
}

absl::StatusOr<medic::v1::SmartDisk> ParseSmartctlJson(std::string_view json,
                                                       uint32_t exit_status) {
  if (Trim(json).empty()) return absl::InvalidArgumentError("smartctl printed nothing");
  Struct root;
  const auto parsed = google::protobuf::util::JsonStringToMessage(std::string(json), &root);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        common::StrCat("smartctl output is not JSON: ", parsed.message().ToString()));
  }
  medic::v1::SmartDisk disk;
  disk.set_exit_status(exit_status);
  if (const Struct* device = Object(root, "device")) disk.set_protocol(String(*device, "protocol"));
  disk.set_model(String(root, "model_name"));
  if (disk.model().empty()) disk.set_model(String(root, "scsi_model_name"));
  disk.set_serial(String(root, "serial_number"));

  if ((exit_status & (kSmartctlBadCommandLine | kSmartctlOpenFailed)) != 0) {
    std::string message = SmartctlMessage(root);
    // --nocheck=standby: "Device is in STANDBY mode, exit(2)" (or SLEEP, IDLE_B, ...).
    if (absl::StrContains(message, "STANDBY") || absl::StrContains(message, "SLEEP")) {
      disk.set_asleep(true);
      disk.set_note("asleep (standby): not woken just to read SMART");
      return disk;
    }
    disk.set_note(message.empty() ? "smartctl could not open the device" : message);
    return disk;
  }
  if (const Struct* support = Object(root, "smart_support")) {
    if (Bool(*support, "available") == false) {
      disk.set_note("no SMART on this device");
      return disk;
    }
  }
  if (const Struct* status = Object(root, "smart_status")) {
    if (std::optional<bool> passed = Bool(*status, "passed")) disk.set_passed(*passed);
  }
  if (const Struct* temperature = Object(root, "temperature")) {
    if (auto v = Number(*temperature, "current")) disk.set_temperature_celsius(std::llround(*v));
  }
  if (const Struct* power_on = Object(root, "power_on_time")) {
    if (auto v = Count(*power_on, "hours")) disk.set_power_on_hours(*v);
  }
  ReadAtaAttributes(root, disk);
  ReadNvmeLog(root, disk);
  if (!disk.has_passed()) {
    std::string message = SmartctlMessage(root);
    if (message.empty()) {
      message = (exit_status & kSmartctlCommandFailed) != 0 ? "a SMART command failed"
                                                            : "smartctl gave no health verdict";
    }
    disk.set_note(message);
  }
  return disk;
}

std::vector<medic::v1::Finding> JudgeSmart(const medic::v1::SmartStatus& status, absl::Time now,
                                           absl::Duration quiet,
                                           const std::vector<medic::v1::Finding>& standing,
                                           ErrorHistory& history) {
  std::vector<medic::v1::Finding> findings;
  for (const medic::v1::SmartDisk& disk : status.disks()) {
    const medic::v1::Finding* was = StandingFinding(standing, kDiskSmartFailing, disk.device());
    // A disk that could not be read this turn (asleep, smartctl failed) cannot be seen to heal:
    // its finding stands as it was.
    if (!disk.note().empty() && !disk.has_passed()) {
      if (was != nullptr) findings.push_back(*was);
      continue;
    }
    bool critical = false;
    bool warning = false;
    bool counters_hold = false;
    std::vector<std::string> reasons;
    std::map<std::string, std::string> evidence;

    if ((disk.has_passed() && !disk.passed()) || (disk.exit_status() & kSmartctlDiskFailing) != 0) {
      critical = true;
      reasons.push_back("SMART overall health self-assessment failed");
    }
    if (disk.has_passed()) evidence["passed"] = disk.passed() ? "true" : "false";
    if (disk.has_critical_warning()) {
      evidence["critical_warning"] = absl::StrFormat("0x%02x", disk.critical_warning());
      if (disk.critical_warning() != 0) {
        critical = true;
        reasons.push_back(
            common::StrCat("NVMe critical warning ", CriticalWarningText(disk.critical_warning())));
      }
    }
    if (disk.has_available_spare() && disk.has_available_spare_threshold()) {
      evidence["available_spare"] = common::StrCat(disk.available_spare());
      evidence["available_spare_threshold"] = common::StrCat(disk.available_spare_threshold());
      if (disk.available_spare() < disk.available_spare_threshold()) {
        critical = true;
        reasons.push_back(common::StrCat("available spare ", disk.available_spare(),
                                         "% below its threshold of ",
                                         disk.available_spare_threshold(), "%"));
      }
    }
    for (const Counter& counter : kCounters) {
      if (!(disk.*counter.has)()) continue;
      const uint64_t count = (disk.*counter.get)();
      evidence[std::string(counter.name)] = common::StrCat(count);
      const std::string key = common::StrCat(disk.device(), "/", counter.name);
      const std::string new_key = common::StrCat("new_", counter.name);
      const uint64_t rise = CounterRise(history, key, count, now, /*first_sight_counts=*/false);
      // Only a counter that raised the standing finding holds it through the quiet period.
      const bool was_rising = was != nullptr && was->evidence().contains(new_key);
      if (count == 0 || !CounterHolds(history, key, rise, was_rising, now, quiet)) continue;
      warning = counters_hold = true;
      evidence[new_key] = common::StrCat(rise);
      reasons.push_back(rise > 0 ? common::StrCat(counter.text, " rose by ", rise, " to ", count)
                                 : common::StrCat(count, " ", counter.text, ", none new"));
    }
    if (disk.has_percentage_used()) {
      evidence["percentage_used"] = common::StrCat(disk.percentage_used());
      if (disk.percentage_used() >= kSmartWearWarningPct) {
        warning = true;
        reasons.push_back(common::StrCat(disk.percentage_used(), "% of its rated endurance used"));
      }
    }
    if (!critical && !warning) continue;

    medic::v1::Finding& finding = findings.emplace_back();
    finding.set_code(std::string(kDiskSmartFailing));
    finding.set_severity(critical ? medic::v1::SEVERITY_CRITICAL : medic::v1::SEVERITY_WARNING);
    finding.set_resource(disk.device());
    std::string summary = common::StrCat("Disk ", disk.device());
    if (!disk.model().empty()) common::StrAppend(&summary, " (", disk.model(), ")");
    common::StrAppend(&summary, ": ");
    for (size_t i = 0; i < reasons.size(); ++i) {
      common::StrAppend(&summary, i > 0 ? "; " : "", reasons[i]);
    }
    finding.set_summary(summary);
    if (counters_hold) evidence["quiet_period"] = common::HumanDuration(quiet);
    if (!disk.model().empty()) evidence["model"] = disk.model();
    if (!disk.serial().empty()) evidence["serial"] = disk.serial();
    finding.mutable_evidence()->insert(evidence.begin(), evidence.end());
  }
  return findings;
}

}  // namespace medic::agent
