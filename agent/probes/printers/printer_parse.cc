#include "agent/probes/printers/printer_parse.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "agent/probes/text.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"

namespace medic::agent {
namespace {

using medic::v1::Finding;
using medic::v1::PrinterDevice;
using medic::v1::PrinterQueue;

// Calls `field(key, value)` for each "key=value" of a ';'-separated PWG string.
template <typename Field>
absl::Status ForEachField(std::string_view text, std::string_view what, Field field) {
  for (std::string_view part : Split(text, ';')) {
    part = Trim(part);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError(
          common::StrCat(what, " \"", text, "\": \"", part, "\" is not key=value"));
    }
    RETURN_IF_ERROR(field(part.substr(0, eq), part.substr(eq + 1)));
  }
  return absl::OkStatus();
}

absl::Status ParseIntField(std::string_view what, std::string_view text, std::string_view key,
                           std::string_view value, int* out) {
  if (!ParseInt(value, out)) {
    return absl::InvalidArgumentError(
        common::StrCat(what, " \"", text, "\": ", key, "=", value, " is not a number"));
  }
  return absl::OkStatus();
}

bool IsOneOf(std::string_view keyword, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), keyword) != set.end();
}

// The keywords that mean a device condition, and the finding each one raises.
struct ReasonRule {
  std::string_view code;
  std::initializer_list<std::string_view> keywords;
};
const ReasonRule kReasonRules[] = {
    {kPrinterJam, {"media-jam", "marker-media-jam", "input-tray-jam", "output-tray-jam"}},
    {kPrinterDoorOpen, {"door-open", "cover-open", "interlock-open"}},
    {kPrinterPaperEmpty, {"media-empty", "media-needed", "input-tray-missing"}},
    {kPrinterTonerEmpty,
     {"toner-empty", "marker-supply-empty", "marker-ink-empty", "developer-empty"}},
    {kPrinterTonerLow,
     {"toner-low", "marker-supply-low", "marker-ink-almost-empty", "developer-low"}},
};

// Reasons that are no device error whatever their suffix: queue states CUPS adds, and
// conditions judged elsewhere or harmless.
bool IsBenign(std::string_view keyword) {
  return keyword == "none" || keyword == "paused" || keyword == "moving-to-paused" ||
         keyword == "offline" || keyword == "shutdown" || keyword == "connecting-to-device" ||
         keyword == "identify-printer-requested" || keyword == "printer-restarted" ||
         StartsWith(keyword, "cups-") || StartsWith(keyword, "com.apple.");
}

// A finding being built for one (code, resource), with every queue it stands for.
struct Pending {
  Finding finding;
  std::vector<std::string> queues;
};

class Judge {
 public:
  Finding& Raise(std::string_view code, medic::v1::Severity severity, const std::string& resource,
                 const std::string& queue, std::string summary) {
    Pending& p = pending_[{std::string(code), resource}];
    if (p.finding.code().empty()) {
      p.finding.set_code(std::string(code));
      p.finding.set_severity(severity);
      p.finding.set_resource(resource);
      p.finding.set_summary(std::move(summary));
    }
    if (std::find(p.queues.begin(), p.queues.end(), queue) == p.queues.end()) {
      p.queues.push_back(queue);
    }
    return p.finding;
  }

  std::vector<Finding> Done() {
    std::vector<Finding> out;
    for (auto& [key, p] : pending_) {
      (*p.finding.mutable_evidence())["queue"] = absl::StrJoin(p.queues, ", ");
      out.push_back(std::move(p.finding));
    }
    return out;
  }

 private:
  std::map<std::pair<std::string, std::string>, Pending> pending_;
};

// "printer q1 at ipp://…" or "printer q1 (and q2) at …": the words a technician reads.
std::string Who(const PrinterQueue& queue, const std::string& resource) {
  if (resource == queue.name()) return common::StrCat("printer ", queue.name());
  return common::StrCat("printer ", queue.name(), " at ", resource);
}

std::string Age(const google::protobuf::Duration& d) {
  return common::HumanDuration(absl::Trunc(common::FromProtoDuration(d), absl::Seconds(1)));
}

std::string DescribeJobs(const PrinterQueue& queue) {
  std::vector<std::string> jobs;
  for (const auto& job : queue.jobs()) {
    std::string line =
        common::StrCat(queue.name(), "-", job.id(), " ", job.state(), " for ", Age(job.age()));
    if (!job.user().empty()) common::StrAppend(&line, " (", job.user(), ")");
    jobs.push_back(std::move(line));
  }
  return absl::StrJoin(jobs, "; ");
}

std::string DescribeMarkers(const PrinterDevice& device) {
  std::vector<std::string> parts;
  for (const auto& m : device.markers()) {
    std::string part = common::StrCat(m.name(), " ", DescribeLevel(m.level()));
    if (IsMeasuredLevel(m.low_level())) common::StrAppend(&part, " (low at ", m.low_level(), "%)");
    parts.push_back(std::move(part));
  }
  return absl::StrJoin(parts, ", ");
}

std::string DescribeSupplies(const PrinterDevice& device) {
  std::vector<std::string> parts;
  for (const auto& s : device.supplies()) {
    const std::string name = !s.description().empty() ? s.description()
                             : !s.colorant().empty()  ? common::StrCat(s.colorant(), " ", s.type())
                                                      : s.type();
    // A level in the supply's own unit (sheets, impressions) is a share of its capacity.
    std::string level = DescribeLevel(s.level());
    if (s.level() >= 0 && s.max_capacity() > 0 && s.unit() != "percent") {
      level = common::StrCat(s.level() * 100 / s.max_capacity(), "% (", s.level(), " of ",
                             s.max_capacity(), " ", s.unit(), ")");
    }
    parts.push_back(common::StrCat(name, " ", level));
  }
  return absl::StrJoin(parts, ", ");
}

bool IsColorant(std::string_view type) {
  const std::string t = absl::AsciiStrToLower(std::string(type));
  return t == "toner" || t == "ink" || t == "ink-cartridge" || t == "toner-cartridge" ||
         t == "inkcartridge" || t == "tonercartridge" || t == "solidwax" || t == "solid-wax";
}

// Toner state from levels: "empty", "low" or "". Markers carry their own low mark; a
// consumed printer-supply measured in percent is empty at 0 (it has no low mark of its own).
std::string TonerFromLevels(const PrinterDevice& device) {
  bool low = false;
  for (const auto& m : device.markers()) {
    if (!IsColorant(m.type()) || !IsMeasuredLevel(m.level())) continue;
    if (m.level() == 0) return "empty";
    if (IsMeasuredLevel(m.low_level()) && m.level() <= m.low_level()) low = true;
  }
  for (const auto& s : device.supplies()) {
    if (!IsColorant(s.type()) || s.supply_class() != "supplyThatIsConsumed") continue;
    if (s.unit() == "percent" && s.level() == 0) return "empty";
  }
  return low ? "low" : "";
}

}  // namespace

StateReason NormaliseStateReason(std::string_view raw) {
  std::string_view text = Trim(raw);
  for (std::string_view severity : {"report", "warning", "error"}) {
    std::string_view rest = text;
    if (ConsumeSuffix(&rest, common::StrCat("-", severity)) && !rest.empty()) {
      return {std::string(rest), std::string(severity)};
    }
  }
  return {std::string(text), ""};
}

std::vector<std::string> NormaliseStateReasons(const std::vector<std::string>& raw) {
  std::vector<std::string> out;
  for (const std::string& r : raw) {
    StateReason reason = NormaliseStateReason(r);
    if (reason.keyword.empty() || reason.keyword == "none") continue;
    if (std::find(out.begin(), out.end(), reason.keyword) == out.end()) {
      out.push_back(std::move(reason.keyword));
    }
  }
  return out;
}

std::string DescribeLevel(int level) {
  if (IsMeasuredLevel(level)) return common::StrCat(level, "%");
  switch (level) {
    case -1:
      return "unavailable";
    case -2:
      return "unknown";
    case -3:
      return "some remaining";
  }
  return common::StrCat("invalid (", level, ")");
}

absl::StatusOr<medic::v1::PrinterSupply> ParseSupply(std::string_view text) {
  medic::v1::PrinterSupply supply;
  supply.set_level(-1);
  supply.set_max_capacity(-1);
  RETURN_IF_ERROR(ForEachField(
      text, "printer-supply", [&](std::string_view key, std::string_view value) -> absl::Status {
        int number = 0;
        if (key == "index") {
          RETURN_IF_ERROR(ParseIntField("printer-supply", text, key, value, &number));
          supply.set_index(number);
        } else if (key == "level") {
          RETURN_IF_ERROR(ParseIntField("printer-supply", text, key, value, &number));
          supply.set_level(number);
        } else if (key == "maxcapacity") {
          RETURN_IF_ERROR(ParseIntField("printer-supply", text, key, value, &number));
          supply.set_max_capacity(number);
        } else if (key == "type") {
          supply.set_type(std::string(value));
        } else if (key == "class") {
          supply.set_supply_class(std::string(value));
        } else if (key == "unit") {
          supply.set_unit(std::string(value));
        } else if (key == "colorantname") {
          supply.set_colorant(std::string(value));
        }
        return absl::OkStatus();
      }));
  return supply;
}

absl::StatusOr<medic::v1::PrinterInputTray> ParseInputTray(std::string_view text) {
  medic::v1::PrinterInputTray tray;
  tray.set_level(-2);
  tray.set_max_capacity(-2);
  RETURN_IF_ERROR(ForEachField(
      text, "printer-input-tray",
      [&](std::string_view key, std::string_view value) -> absl::Status {
        int number = 0;
        if (key == "level") {
          RETURN_IF_ERROR(ParseIntField("printer-input-tray", text, key, value, &number));
          tray.set_level(number);
        } else if (key == "maxcapacity") {
          RETURN_IF_ERROR(ParseIntField("printer-input-tray", text, key, value, &number));
          tray.set_max_capacity(number);
        } else if (key == "type") {
          tray.set_type(std::string(value));
        } else if (key == "name") {
          tray.set_name(std::string(value));
        }
        return absl::OkStatus();
      }));
  return tray;
}

std::vector<medic::v1::PrinterMarker> BuildMarkers(const std::vector<std::string>& names,
                                                   const std::vector<std::string>& types,
                                                   const std::vector<int>& levels,
                                                   const std::vector<int>& low_levels,
                                                   const std::vector<std::string>& colors) {
  std::vector<medic::v1::PrinterMarker> markers;
  for (size_t i = 0; i < names.size(); ++i) {
    medic::v1::PrinterMarker& m = markers.emplace_back();
    m.set_name(names[i]);
    if (i < types.size()) m.set_type(types[i]);
    m.set_level(i < levels.size() ? levels[i] : -1);
    m.set_low_level(i < low_levels.size() ? low_levels[i] : -1);
    if (i < colors.size()) m.set_color(colors[i]);
  }
  return markers;
}

std::string UriScheme(std::string_view uri) {
  const size_t colon = uri.find(':');
  if (colon == std::string_view::npos || colon == 0) return "";
  return absl::AsciiStrToLower(std::string(uri.substr(0, colon)));
}

DeviceAccess DeviceAccessOf(std::string_view uri) {
  const std::string scheme = UriScheme(uri);
  if (IsOneOf(scheme, {"ipp", "ipps", "http", "https"})) return DeviceAccess::kIpp;
  if (IsOneOf(scheme, {"socket", "lpd"})) return DeviceAccess::kTcp;
  return DeviceAccess::kNone;
}

std::string PrinterStateName(int state) {
  switch (state) {
    case 3:
      return "idle";
    case 4:
      return "processing";
    case 5:
      return "stopped";
  }
  return "unknown";
}

std::string JobStateName(int state) {
  static constexpr const char* kNames[] = {"pending",  "held",    "processing", "stopped",
                                           "canceled", "aborted", "completed"};
  if (state >= 3 && state <= 9) return kNames[state - 3];
  return "unknown";
}

bool JobInError(const medic::v1::PrinterJob& job) {
  if (job.state() == "stopped" || job.state() == "aborted") return true;
  for (const auto& r : job.state_reasons()) {
    if (EndsWith(r, "-error")) return true;
  }
  return false;
}

std::vector<Finding> JudgePrinters(const medic::v1::PrintersStatus& status,
                                   absl::Duration job_stuck_after) {
  std::map<std::string, const PrinterDevice*> devices;
  for (const auto& d : status.devices()) devices[d.uri()] = &d;
  Judge judge;
  for (const PrinterQueue& q : status.queues()) {
    const std::string resource = q.device_uri().empty() ? q.name() : q.device_uri();
    const PrinterDevice* device = nullptr;
    if (auto it = devices.find(q.device_uri()); it != devices.end()) device = it->second;
    const std::string who = Who(q, resource);

    if (q.state() == "stopped") {
      Finding& f =
          judge.Raise(kPrinterStopped, medic::v1::SEVERITY_WARNING, q.name(), q.name(),
                      common::StrCat("print queue ", q.name(), " is stopped",
                                     q.state_message().empty() ? "" : ": ", q.state_message()));
      (*f.mutable_evidence())["state_reasons"] = absl::StrJoin(q.state_reasons(), ",");
      (*f.mutable_evidence())["device_uri"] = q.device_uri();
    }
    if (!q.accepting_jobs()) {
      judge.Raise(kPrinterNotAccepting, medic::v1::SEVERITY_WARNING, resource, q.name(),
                  common::StrCat(who, " does not accept new jobs"));
    }

    // Offline: the device itself does not answer; without a device query, CUPS's word for it.
    const std::vector<std::string> queue_reasons = NormaliseStateReasons(
        std::vector<std::string>(q.state_reasons().begin(), q.state_reasons().end()));
    const bool cups_says_gone =
        Contains(q.state_message(), "may not exist") ||
        std::find(queue_reasons.begin(), queue_reasons.end(), "offline") != queue_reasons.end();
    if (device != nullptr && device->queried() && !device->answered()) {
      Finding& f = judge.Raise(kPrinterOffline, medic::v1::SEVERITY_CRITICAL, resource, q.name(),
                               common::StrCat(who, " does not answer"));
      (*f.mutable_evidence())["error"] = device->error();
      if (!q.state_message().empty()) (*f.mutable_evidence())["cups_message"] = q.state_message();
    } else if ((device == nullptr || !device->queried()) && cups_says_gone) {
      Finding& f = judge.Raise(kPrinterOffline, medic::v1::SEVERITY_CRITICAL, resource, q.name(),
                               common::StrCat(who, " is unreachable: ", q.state_message()));
      (*f.mutable_evidence())["cups_message"] = q.state_message();
    }

    const absl::Duration oldest = common::FromProtoDuration(q.oldest_job_age());
    if (q.job_count() > 0 && (oldest > job_stuck_after || q.jobs_in_error() > 0)) {
      std::string why = q.jobs_in_error() > 0
                            ? common::StrCat(q.jobs_in_error(), " job(s) in error")
                            : common::StrCat("oldest waiting ", Age(q.oldest_job_age()));
      Finding& f = judge.Raise(
          kPrinterJobStuck, medic::v1::SEVERITY_WARNING, resource, q.name(),
          common::StrCat(who, " has ", q.job_count(), " job(s) not printing (", why, ")"));
      std::string& jobs = (*f.mutable_evidence())["jobs"];
      jobs = jobs.empty() ? DescribeJobs(q) : common::StrCat(jobs, "; ", DescribeJobs(q));
      (*f.mutable_evidence())["oldest_job_age_s"] = common::StrCat(absl::ToInt64Seconds(oldest));
      if (!q.state_message().empty()) (*f.mutable_evidence())["cups_message"] = q.state_message();
    }

    // Device conditions: the device's own reasons when it answered. Otherwise what CUPS passed
    // on from its backend (the only source for usb and other queues not queried); CUPS updates
    // those only while it prints, so they would outlive a repair the device already reports.
    const bool device_answered = device != nullptr && device->answered();
    std::vector<std::string> raw =
        device_answered
            ? std::vector<std::string>(device->raw_state_reasons().begin(),
                                       device->raw_state_reasons().end())
            : std::vector<std::string>(q.state_reasons().begin(), q.state_reasons().end());
    std::set<std::string_view> raised;
    auto raise_condition = [&](std::string_view code, medic::v1::Severity severity,
                               std::string summary, std::string_view reason) {
      if (!raised.insert(code).second) return;
      Finding& f = judge.Raise(code, severity, resource, q.name(), std::move(summary));
      auto& evidence = *f.mutable_evidence();
      if (!reason.empty()) evidence["reason"] = std::string(reason);
      evidence["state_reasons"] = absl::StrJoin(raw, ",");
      if (device != nullptr) {
        if (!device->state_message().empty()) evidence["device_message"] = device->state_message();
        if (!device->markers().empty()) evidence["markers"] = DescribeMarkers(*device);
        if (!device->supplies().empty()) evidence["supplies"] = DescribeSupplies(*device);
        if (!device->state().empty()) evidence["device_state"] = device->state();
      }
    };
    static const std::map<std::string_view, std::pair<medic::v1::Severity, std::string_view>>
        kWords = {
            {kPrinterJam, {medic::v1::SEVERITY_CRITICAL, "is jammed"}},
            {kPrinterDoorOpen, {medic::v1::SEVERITY_WARNING, "has a door or cover open"}},
            {kPrinterPaperEmpty, {medic::v1::SEVERITY_WARNING, "is out of paper"}},
            {kPrinterTonerEmpty, {medic::v1::SEVERITY_CRITICAL, "is out of toner or ink"}},
            {kPrinterTonerLow, {medic::v1::SEVERITY_INFO, "is low on toner or ink"}},
        };
    for (const std::string& r : raw) {
      const StateReason reason = NormaliseStateReason(r);
      const ReasonRule* rule = nullptr;
      for (const ReasonRule& candidate : kReasonRules) {
        if (IsOneOf(reason.keyword, candidate.keywords)) rule = &candidate;
      }
      if (rule != nullptr) {
        const auto& [severity, words] = kWords.at(rule->code);
        raise_condition(rule->code, severity, common::StrCat(who, " ", words), r);
      } else if (reason.severity == "error" && !IsBenign(reason.keyword)) {
        raise_condition(kPrinterError, medic::v1::SEVERITY_CRITICAL,
                        common::StrCat(who, " reports an error: ", reason.keyword), r);
      }
    }
    if (device_answered) {
      const std::string toner = TonerFromLevels(*device);
      if (toner == "empty") {
        raise_condition(kPrinterTonerEmpty, medic::v1::SEVERITY_CRITICAL,
                        common::StrCat(who, " is out of toner or ink"), "");
      } else if (toner == "low") {
        raise_condition(kPrinterTonerLow, medic::v1::SEVERITY_INFO,
                        common::StrCat(who, " is low on toner or ink"), "");
      }
    }
  }
  std::vector<Finding> findings = judge.Done();
  // Empty wins over low on the same device, whichever reason came first.
  std::set<std::string> empty;
  for (const auto& f : findings) {
    if (f.code() == kPrinterTonerEmpty) empty.insert(f.resource());
  }
  std::erase_if(findings, [&](const Finding& f) {
    return f.code() == kPrinterTonerLow && empty.contains(f.resource());
  });
  return findings;
}

}  // namespace medic::agent
