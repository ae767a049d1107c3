// The smart probe on Linux: the whole disks of /sys/block, each read with
// `smartctl --json --all --nocheck=standby /dev/NAME`.

#include <algorithm>

#include "absl/status/status.h"
#include "agent/probes/hardware/hardware_probes.h"
#include "agent/probes/hardware/hardware_thresholds.h"
#include "agent/probes/hardware/smart_parse.h"
#include "agent/probes/probe_util.h"
#include "agent/probes/text.h"
#include "common/strings/str_cat.h"

namespace medic::agent {
namespace {

constexpr std::string_view kBlock = "/sys/block";
constexpr size_t kMaxOutput = 1 << 20;

class SmartProbe : public Probe {
 public:
  std::string_view name() const override { return "smart"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    ProbeOutput output;
    output.report.set_probe(std::string(name()));
    medic::v1::SmartStatus& body = *output.report.mutable_smart();

    absl::StatusOr<std::vector<std::string>> devices = ctx.fs.ListDir(kBlock);
    if (!devices.ok()) {
      body.set_note(common::StrCat("no ", kBlock));
      return output;
    }
    std::sort(devices->begin(), devices->end());
    for (const std::string& device : *devices) {
      const SmartCandidate kind = ClassifyBlockDevice(device);
      if (kind == SmartCandidate::kSkip) continue;
      const std::string path = common::StrCat("/dev/", device);
      if (kind == SmartCandidate::kNoSmart) {
        medic::v1::SmartDisk& disk = *body.add_disks();
        disk.set_device(path);
        disk.set_note("no SMART on this device");
        continue;
      }
      RETURN_IF_ERROR(CheckDeadline(ctx, common::StrCat("smartctl ", path)));
      // --nocheck=standby: a spun-down laptop or NAS disk is not woken up every hour.
      const std::vector<std::string> argv = {"smartctl", "--json", "--all", "--nocheck=standby",
                                             path};
      absl::StatusOr<common::CommandResult> run =
          ctx.commands.Run(argv, ctx.deadline - ctx.clock.Now(), kMaxOutput);
      if (absl::IsNotFound(run.status())) {
        body.clear_disks();
        body.set_note("smartmontools not installed");
        return output;
      }
      if (!run.ok()) return run.status();
      medic::v1::SmartDisk& disk = *body.add_disks();
      absl::StatusOr<medic::v1::SmartDisk> parsed =
          ParseSmartctlJson(run->std_out, static_cast<uint32_t>(run->exit_code));
      if (parsed.ok()) {
        disk = *std::move(parsed);
      } else {
        disk.set_exit_status(static_cast<uint32_t>(run->exit_code));
        disk.set_note(std::string(common::ToStd(parsed.status().message())));
      }
      disk.set_device(path);
      Observe(output.report, disk);
    }
    if (body.disks().empty()) body.set_note("no disks");

    output.findings =
        JudgeSmart(body, ctx.clock.Now(),
                   HardwareThresholds::FromConfig(ctx.config.hardware()).errors_quiet_period,
                   ctx.standing, history_);
    return output;
  }

 private:
  static void Observe(medic::v1::ProbeReport& report, const medic::v1::SmartDisk& disk) {
    const std::string& device = disk.device();
    if (disk.has_temperature_celsius()) {
      AddObservation(report, "smart.temperature", device,
                     static_cast<double>(disk.temperature_celsius()), "celsius");
    }
    if (disk.has_reallocated_sectors()) {
      AddObservation(report, "smart.reallocated_sectors", device,
                     static_cast<double>(disk.reallocated_sectors()), "count");
    }
    if (disk.has_pending_sectors()) {
      AddObservation(report, "smart.pending_sectors", device,
                     static_cast<double>(disk.pending_sectors()), "count");
    }
    if (disk.has_offline_uncorrectable()) {
      AddObservation(report, "smart.offline_uncorrectable", device,
                     static_cast<double>(disk.offline_uncorrectable()), "count");
    }
    if (disk.has_media_errors()) {
      AddObservation(report, "smart.media_errors", device, static_cast<double>(disk.media_errors()),
                     "count");
    }
    if (disk.has_percentage_used()) {
      AddObservation(report, "smart.percentage_used", device, disk.percentage_used(), "pct");
    }
  }

  ErrorHistory history_;  // counters of the previous collections
};

}  // namespace

std::unique_ptr<Probe> NewSmartProbe() { return std::make_unique<SmartProbe>(); }

}  // namespace medic::agent
