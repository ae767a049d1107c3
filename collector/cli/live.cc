#include "collector/cli/live.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "common/proto/enum_words.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"

namespace medic::cli {
namespace {

std::string Paint(bool color, std::string_view code, std::string_view text) {
  if (!color) return std::string(text);
  return common::StrCat("\033[", code, "m", text, "\033[0m");
}

absl::Status Usage(std::string_view check, std::string_view what) {
  return absl::InvalidArgumentError(common::StrCat(check, ": ", what));
}

}  // namespace

absl::StatusOr<CheckArgs> ParseCheckArgs(const std::vector<std::string>& words) {
  if (words.empty()) {
    return absl::InvalidArgumentError(
        "say which check: health, dns, ping, tcp, http, printers, disk, updates, services or "
        "logs");
  }
  CheckArgs args;
  const std::string& name = words[0];
  const google::protobuf::EnumDescriptor* d = medic::v1::DiagnosticCheck_descriptor();
  for (int i = 1; i < d->value_count(); ++i) {
    auto check = static_cast<medic::v1::DiagnosticCheck>(d->value(i)->number());
    if (common::EnumWord(check) == name) args.check = check;
  }
  if (args.check == medic::v1::DIAGNOSTIC_CHECK_UNSPECIFIED) {
    return absl::InvalidArgumentError(common::StrCat(
        "'", name,
        "' is not a diagnostic; the catalog is health, dns, ping, tcp, http, printers, disk, "
        "updates, services, logs"));
  }
  std::vector<std::string> rest;
  for (size_t i = 1; i < words.size(); ++i) {
    if (size_t eq = words[i].find('='); eq != std::string::npos && eq > 0) {
      args.params[words[i].substr(0, eq)] = words[i].substr(eq + 1);
    } else {
      rest.push_back(words[i]);
    }
  }
  auto too_many = [&](size_t max, std::string_view takes) -> absl::Status {
    if (rest.size() > max) return Usage(name, common::StrCat("takes ", takes));
    return absl::OkStatus();
  };
  switch (args.check) {
    case medic::v1::DIAGNOSTIC_CHECK_DNS:
      if (rest.size() != 1 && !args.params.contains("name")) {
        return Usage(name, "give the name to resolve: medic diagnose HOST dns intranet.corp");
      }
      if (auto s = too_many(1, "one name"); !s.ok()) return s;
      if (!rest.empty()) args.params["name"] = rest[0];
      break;
    case medic::v1::DIAGNOSTIC_CHECK_PING:
      if (auto s = too_many(1, "at most one address (default: the gateway)"); !s.ok()) return s;
      if (!rest.empty()) args.params["host"] = rest[0];
      break;
    case medic::v1::DIAGNOSTIC_CHECK_TCP: {
      if (auto s = too_many(1, "HOST:PORT"); !s.ok()) return s;
      if (rest.empty()) {
        if (args.params.contains("host") && args.params.contains("port")) break;
        return Usage(name, "give HOST:PORT: medic diagnose HOST tcp fileserver:445");
      }
      const size_t colon = rest[0].rfind(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == rest[0].size()) {
        return Usage(name, common::StrCat("'", rest[0], "' is not HOST:PORT"));
      }
      std::string host = rest[0].substr(0, colon);
      if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
      }
      args.params["host"] = host;
      args.params["port"] = rest[0].substr(colon + 1);
      break;
    }
    case medic::v1::DIAGNOSTIC_CHECK_HTTP:
      if (auto s = too_many(1, "one URL (one of the machine's configured targets)"); !s.ok()) {
        return s;
      }
      if (rest.empty() && !args.params.contains("url")) {
        return Usage(name, "give the URL: medic diagnose HOST http http://intranet.corp/health");
      }
      if (!rest.empty()) args.params["url"] = rest[0];
      break;
    case medic::v1::DIAGNOSTIC_CHECK_LOGS:
      if (auto s = too_many(2, "[UNIT|kernel] [LINES]"); !s.ok()) return s;
      for (const std::string& w : rest) {
        uint32_t n = 0;
        if (absl::SimpleAtoi(w, &n)) {
          args.params["lines"] = w;
        } else {
          args.params["unit"] = w;
        }
      }
      break;
    default:
      if (auto s = too_many(0, "no arguments"); !s.ok()) return s;
      break;
  }
  return args;
}

absl::StatusOr<absl::Duration> ParseDurationFlag(const std::string& text) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d <= absl::ZeroDuration() ||
      d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        common::StrCat("'", text, "' is not a duration like 30s, 5m or 1h"));
  }
  return d;
}

std::string RenderResult(const medic::v1::DiagnosticResult& result, bool color) {
  std::string outcome = common::EnumWord(result.outcome());
  for (char& c : outcome) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string painted;
  switch (result.outcome()) {
    case medic::v1::DIAGNOSTIC_OUTCOME_PASSED:
      painted = Paint(color, "32", outcome);
      break;
    case medic::v1::DIAGNOSTIC_OUTCOME_FOUND:
    case medic::v1::DIAGNOSTIC_OUTCOME_ERROR:
      painted = Paint(color, "1;31", outcome);
      break;
    default:
      painted = Paint(color, "33", outcome);
      break;
  }
  std::string out = common::StrCat(Paint(color, "1", result.machine()), "  ",
                                   common::EnumWord(result.check()), "  ", painted);
  if (result.has_took()) {
    common::StrAppend(
        &out, "  ",
        static_cast<int64_t>(absl::ToDoubleMilliseconds(common::FromProtoDuration(result.took())) +
                             0.5),
        " ms");
  }
  common::StrAppend(&out, "  ", result.summary(), "\n");
  for (const std::string& line : result.lines()) common::StrAppend(&out, "    ", line, "\n");
  return out;
}

std::string RenderRunSummary(const std::vector<medic::v1::DiagnosticResult>& results, bool color) {
  std::map<medic::v1::DiagnosticOutcome, std::vector<std::string>> by;
  for (const auto& r : results) by[r.outcome()].push_back(r.machine());
  std::vector<std::string> counts;
  for (const auto& [outcome, hosts] : by) {
    counts.push_back(common::StrCat(hosts.size(), " ", common::EnumWord(outcome)));
  }
  std::string out = common::StrCat(Paint(color, "1", common::StrCat(results.size(), " machines: ")),
                                   absl::StrJoin(counts, ", "), "\n");
  if (auto it = by.find(medic::v1::DIAGNOSTIC_OUTCOME_TIMED_OUT); it != by.end()) {
    common::StrAppend(&out, "Did not answer in time: ", absl::StrJoin(it->second, ", "), "\n");
  }
  if (auto it = by.find(medic::v1::DIAGNOSTIC_OUTCOME_OFFLINE); it != by.end()) {
    common::StrAppend(&out, "Offline: ", absl::StrJoin(it->second, ", "), "\n");
  }
  return out;
}

std::string RenderEvent(const medic::v1::Event& event, bool color) {
  const std::string at =
      absl::FormatTime("%H:%M:%S", common::FromProtoTime(event.at()), absl::LocalTimeZone());
  switch (event.kind_case()) {
    case medic::v1::Event::kFinding: {
      const auto& f = event.finding();
      if (f.has_raised()) {
        return common::StrCat(at, "  ", event.host(), "  ", Paint(color, "1;31", "raised"), "   ",
                              f.raised().code(), "  ", f.raised().summary(), "\n");
      }
      return common::StrCat(at, "  ", event.host(), "  ", Paint(color, "32", "cleared"), "  ",
                            f.cleared().code(), "  ", f.cleared().resource(), "\n");
    }
    case medic::v1::Event::kIncident: {
      const auto& i = event.incident();
      const bool resolved = i.has_resolved_at();
      return common::StrCat(at, "  incident ", i.incident_id(), "  ",
                            resolved ? Paint(color, "32", "resolved") : Paint(color, "33", "open"),
                            "  ", i.code(), " on ", i.resource(), " (", common::EnumWord(i.scope()),
                            ", hosts: ", absl::StrJoin(i.hosts(), ", "), ")\n");
    }
    case medic::v1::Event::kTicket: {
      const auto& t = event.ticket();
      return common::StrCat(at, "  ticket ", t.ticket_id(), "  ", common::EnumWord(t.state()), "  ",
                            t.title(), "\n");
    }
    case medic::v1::Event::kMachine: {
      const bool online = event.machine().state() == medic::v1::MACHINE_STATE_ONLINE;
      return common::StrCat(at, "  ", event.host(), "  ",
                            online ? Paint(color, "32", "online") : Paint(color, "1;31", "offline"),
                            "\n");
    }
    default:
      return common::StrCat(at, "  ", event.host(), "  (an event this medic does not know)\n");
  }
}

int DiagnoseExitCode(const std::vector<medic::v1::DiagnosticResult>& results) {
  int code = 0;
  for (const auto& r : results) {
    if (r.outcome() == medic::v1::DIAGNOSTIC_OUTCOME_FOUND) {
      code = std::max(code, 4);
    } else if (r.outcome() != medic::v1::DIAGNOSTIC_OUTCOME_PASSED) {
      code = 5;
    }
  }
  return code;
}

}  // namespace medic::cli
