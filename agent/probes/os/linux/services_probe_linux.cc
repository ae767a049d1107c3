// The services probe on Linux.

#include "absl/status/status.h"
#include "agent/probes/os/os_probes.h"
#include "agent/probes/os/services_parse.h"
#include "agent/probes/probe_util.h"
#include "agent/probes/text.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"

namespace medic::agent {
namespace {

constexpr size_t kMaxOutput = 1 << 20;
// sd_booted(3): systemd is the init system when this directory exists.
constexpr std::string_view kSystemdRuntime = "/run/systemd/system";

class ServicesProbe : public Probe {
 public:
  std::string_view name() const override { return "services"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    ProbeOutput output;
    output.report.set_probe(std::string(name()));
    medic::v1::ServicesStatus& status = *output.report.mutable_services();
    if (!ctx.fs.Exists(kSystemdRuntime)) {
      status.set_note("systemd not running");
      return output;
    }
    const std::vector<std::string> argv = {"systemctl", "list-units",  "--failed",
                                           "--plain",   "--no-legend", "--no-pager"};
    absl::StatusOr<common::CommandResult> run =
        ctx.commands.Run(argv, ctx.deadline - ctx.clock.Now(), kMaxOutput);
    if (absl::IsNotFound(run.status())) {
      status.set_note("systemctl not installed");
      return output;
    }
    if (!run.ok()) return run.status();
    if (run->exit_code != 0) {
      std::vector<std::string_view> lines = SplitLines(Trim(run->std_err));
      status.set_note(common::StrCat("systemd not running: systemctl exited with ", run->exit_code,
                                     lines.empty() ? "" : ": ", lines.empty() ? "" : lines[0]));
      return output;
    }
    ASSIGN_OR_RETURN(std::vector<medic::v1::FailedUnit> units, ParseFailedUnits(run->std_out));
    status.set_systemd_running(true);
    for (medic::v1::FailedUnit& unit : units) *status.add_failed_units() = std::move(unit);
    AddObservation(output.report, "services.failed", "", status.failed_units_size(), "count");
    output.findings = JudgeServices(status);
    return output;
  }
};

}  // namespace

std::unique_ptr<Probe> NewServicesProbe() { return std::make_unique<ServicesProbe>(); }

}  // namespace medic::agent
