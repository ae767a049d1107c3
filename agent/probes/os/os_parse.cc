#include "agent/probes/os/os_parse.h"

#include "absl/algorithm/container.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "agent/probes/text.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"

namespace medic::agent {
namespace {

// Unquotes an os-release value; InvalidArgument says what is wrong with its quoting.
absl::StatusOr<std::string> Unquote(std::string_view value) {
  if (value.empty() || (value.front() != '"' && value.front() != '\'')) {
    return std::string(value);
  }
  const char quote = value.front();
  std::string out;
  for (size_t i = 1; i < value.size(); ++i) {
    const char c = value[i];
    if (c == quote) {
      if (i + 1 != value.size()) {
        return absl::InvalidArgumentError("text after the closing quote");
      }
      return out;
    }
    if (quote == '"' && c == '\\' && i + 1 < value.size() &&
        std::string_view("\"\\$`").find(value[i + 1]) != std::string_view::npos) {
      out.push_back(value[++i]);
      continue;
    }
    out.push_back(c);
  }
  return absl::InvalidArgumentError("unterminated quote");
}

}  // namespace

absl::StatusOr<OsRelease> ParseOsRelease(std::string_view text) {
  OsRelease release;
  int line_number = 0;
  for (std::string_view line : SplitLines(text)) {
    ++line_number;
    line = Trim(line);
    if (line.empty() || line.front() == '#') continue;
    const size_t equals = line.find('=');
    if (equals == std::string_view::npos || equals == 0) {
      return absl::InvalidArgumentError(
          common::StrCat("os-release line ", line_number, " is not KEY=value: \"", line, "\""));
    }
    absl::StatusOr<std::string> value = Unquote(line.substr(equals + 1));
    if (!value.ok()) {
      return absl::InvalidArgumentError(common::StrCat(
          "os-release line ", line_number, ": ", value.status().message(), ": \"", line, "\""));
    }
    release.fields[std::string(line.substr(0, equals))] = *std::move(value);
  }
  auto get = [&release](const std::string& key, std::string_view fallback) {
    auto it = release.fields.find(key);
    return it == release.fields.end() || it->second.empty() ? std::string(fallback) : it->second;
  };
  release.id = get("ID", "linux");
  release.name = get("NAME", "Linux");
  release.pretty_name = get("PRETTY_NAME", "Linux");
  release.version_id = get("VERSION_ID", "");
  return release;
}

absl::StatusOr<absl::Duration> ParseUptime(std::string_view text) {
  std::vector<std::string_view> fields = SplitFields(Trim(text), " ");
  double seconds = 0;
  if (fields.empty() || !ParseDouble(fields[0], &seconds) || seconds < 0) {
    return absl::InvalidArgumentError(
        common::StrCat("/proc/uptime: expected seconds since boot, got \"", Trim(text), "\""));
  }
  return absl::Seconds(seconds);
}

absl::StatusOr<std::string> ParseSingleValue(std::string_view text, std::string_view what) {
  const std::string_view value = Trim(text);
  if (value.empty()) return absl::InvalidArgumentError(common::StrCat(what, " is empty"));
  if (value.find('\n') != std::string_view::npos) {
    return absl::InvalidArgumentError(common::StrCat(what, " spans several lines"));
  }
  return std::string(value);
}

absl::StatusOr<KernelVersion> ParseProcVersion(std::string_view text) {
  std::string_view rest = Trim(text);
  if (!ConsumePrefix(&rest, "Linux version ")) {
    return absl::InvalidArgumentError(
        common::StrCat("/proc/version does not start with \"Linux version\": \"", rest, "\""));
  }
  KernelVersion version;
  version.release = std::string(rest.substr(0, rest.find(' ')));
  if (version.release.empty()) {
    return absl::InvalidArgumentError("/proc/version names no kernel release");
  }
  // The build string starts at the first " #<digit>"; the compiler text before it holds
  // parentheses of its own, so it is found by that mark rather than by matching brackets.
  for (size_t pos = rest.find(" #"); pos != std::string_view::npos;
       pos = rest.find(" #", pos + 1)) {
    if (pos + 2 < rest.size() && absl::ascii_isdigit(rest[pos + 2])) {
      version.build = std::string(rest.substr(pos + 1));
      break;
    }
  }
  return version;
}

absl::StatusOr<std::string> ParseMachineId(std::string_view text) {
  const std::string_view id = Trim(text);
  if (id.size() != 32 || !absl::c_all_of(id, [](char c) {
        return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f');
      })) {
    return absl::InvalidArgumentError(
        common::StrCat("machine-id is not 32 lowercase hex digits: \"", id, "\""));
  }
  return std::string(id);
}

std::optional<medic::v1::Finding> JudgeUptime(absl::Duration uptime, absl::Duration limit) {
  if (uptime <= limit) return std::nullopt;
  medic::v1::Finding finding;
  finding.set_code(std::string(kOsUptimeLong));
  finding.set_severity(medic::v1::SEVERITY_WARNING);
  const std::string up = common::HumanDuration(absl::Trunc(uptime, absl::Hours(1)));
  const std::string over = common::HumanDuration(limit);
  finding.set_summary(common::StrCat("Up ", up, " without a reboot (over ", over, ")"));
  (*finding.mutable_evidence())["uptime"] = up;
  (*finding.mutable_evidence())["limit"] = over;
  return finding;
}

}  // namespace medic::agent
