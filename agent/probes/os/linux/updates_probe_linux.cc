// The updates probe on Linux.

#include "absl/status/status.h"
#include "agent/probes/os/os_probes.h"
#include "agent/probes/os/updates_parse.h"
#include "agent/probes/probe_util.h"
#include "agent/probes/text.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"

namespace medic::agent {
namespace {

constexpr size_t kMaxOutput = 4 << 20;
constexpr std::string_view kUpdateStamp = "/var/lib/apt/periodic/update-success-stamp";
constexpr std::string_view kAptLists = "/var/lib/apt/lists";

// Package managers the probe recognises but cannot count updates of yet.
struct Unsupported {
  std::string_view name;
  std::string_view program;
};
constexpr Unsupported kUnsupported[] = {
    {"dnf", "/usr/bin/dnf"}, {"yum", "/usr/bin/yum"}, {"zypper", "/usr/bin/zypper"}};

std::string FirstLine(std::string_view text) {
  std::vector<std::string_view> lines = SplitLines(Trim(text));
  return lines.empty() ? std::string() : std::string(Trim(lines.front()));
}

class UpdatesProbe : public Probe {
 public:
  std::string_view name() const override { return "updates"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    ProbeOutput output;
    output.report.set_probe(std::string(name()));
    medic::v1::UpdatesStatus& status = *output.report.mutable_updates();

    const std::vector<std::string> argv = {"apt-get", "-s", "-o", "Debug::NoLocking=1", "upgrade"};
    absl::StatusOr<common::CommandResult> run =
        ctx.commands.Run(argv, ctx.deadline - ctx.clock.Now(), kMaxOutput);
    if (absl::IsNotFound(run.status())) {
      for (const Unsupported& manager : kUnsupported) {
        if (!ctx.fs.Exists(manager.program)) continue;
        status.set_package_manager(std::string(manager.name));
        status.set_note(common::StrCat(manager.name, " is not supported yet"));
        return output;
      }
      status.set_note("no package manager known (apt-get not installed)");
      return output;
    }
    if (!run.ok()) return run.status();
    if (run->exit_code != 0) {
      return absl::UnavailableError(common::StrCat("`", common::CommandText(argv), "` exited with ",
                                                   run->exit_code, ": ", FirstLine(run->std_err)));
    }
    absl::StatusOr<std::vector<PendingUpgrade>> upgrades = ParseAptSimulation(run->std_out);
    if (!upgrades.ok()) return upgrades.status();

    status.set_package_manager("apt");
    status.set_supported(true);
    uint32_t security = 0;
    for (const PendingUpgrade& upgrade : *upgrades) {
      status.add_packages(upgrade.package);
      if (upgrade.security) {
        status.add_security_packages(upgrade.package);
        ++security;
      }
    }
    status.set_pending(static_cast<uint32_t>(upgrades->size()));
    status.set_security(security);
    for (std::string_view path : {kUpdateStamp, kAptLists}) {
      if (absl::StatusOr<common::FileInfo> info = ctx.fs.Stat(path); info.ok()) {
        *status.mutable_last_update() =
            common::ToProtoTime(absl::FromUnixSeconds(absl::ToUnixSeconds(info->mtime)));
        break;
      }
    }
    AddObservation(output.report, "updates.pending", "", status.pending(), "count");
    AddObservation(output.report, "updates.security", "", status.security(), "count");

    UpdateMarks marks;
    const medic::v1::OsChecksConfig& config = ctx.config.os_checks();
    if (config.has_security_update_max_age()) {
      const absl::Duration age = common::FromProtoDuration(config.security_update_max_age());
      if (age > absl::ZeroDuration()) marks.security_max_age = age;
    }
    if (std::optional<medic::v1::Finding> finding = JudgeUpdates(status, marks, ctx.clock.Now())) {
      output.findings.push_back(*std::move(finding));
    }
    return output;
  }
};

}  // namespace

std::unique_ptr<Probe> NewUpdatesProbe() { return std::make_unique<UpdatesProbe>(); }

}  // namespace medic::agent
