// The hardware_errors probe on Linux: EDAC memory controllers, machine check exceptions in
// /proc/interrupts, the SCSI layer's per-disk ioerr_cnt, and the error lines of the kernel log.

#include <map>
#include <optional>

#include "agent/probes/hardware/hardware_errors_parse.h"
#include "agent/probes/hardware/hardware_probes.h"
#include "agent/probes/kernel_log.h"
#include "agent/probes/probe_util.h"
#include "agent/probes/text.h"

namespace medic::agent {
namespace {

constexpr std::string_view kEdac = "/sys/devices/system/edac/mc";
constexpr std::string_view kInterrupts = "/proc/interrupts";
constexpr std::string_view kBlock = "/sys/block";

uint64_t Counter(const common::FileSystem& fs, const std::string& path) {
  std::optional<std::string> text = ReadOptional(fs, path);
  return text ? ParseCounter(*text).value_or(0) : 0;
}

// The DIMMs of one controller: dimm*/ on kernels since 3.4, else csrow*/ch*_* counters.
std::vector<DimmCounts> ReadDimms(const common::FileSystem& fs, const std::string& mc_dir) {
  std::vector<DimmCounts> dimms;
  for (const std::string& dimm : NumberedEntries(fs, mc_dir, "dimm")) {
    const std::string dir = common::StrCat(mc_dir, "/", dimm);
    dimms.push_back(DimmCounts{ReadAttribute(fs, dir + "/dimm_label").value_or(dimm),
                               Counter(fs, dir + "/dimm_ce_count"),
                               Counter(fs, dir + "/dimm_ue_count")});
  }
  if (!dimms.empty()) return dimms;
  for (const std::string& csrow : NumberedEntries(fs, mc_dir, "csrow")) {
    const std::string dir = common::StrCat(mc_dir, "/", csrow);
    for (int channel = 0; channel < 16; ++channel) {
      const std::string ce = common::StrCat(dir, "/ch", channel, "_ce_count");
      if (!fs.Exists(ce)) break;
      dimms.push_back(
          DimmCounts{ReadAttribute(fs, common::StrCat(dir, "/ch", channel, "_dimm_label"))
                         .value_or(common::StrCat(csrow, "/ch", channel)),
                     Counter(fs, ce), 0});
    }
  }
  return dimms;
}

// Why the kernel's error lines are not counted, in words an administrator can act on.
std::string KernelLogNote(const absl::Status& status) {
  if (absl::IsNotFound(status)) return "this system has no /dev/kmsg (a container?)";
  if (absl::IsPermissionDenied(status)) {
    return "/dev/kmsg is not readable: run the agent as root (or with CAP_SYSLOG) to count the "
           "kernel's error lines";
  }
  return common::StrCat("/dev/kmsg could not be read: ", status.message());
}

class HardwareErrorsProbe : public Probe {
 public:
  std::string_view name() const override { return "hardware_errors"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    ProbeOutput output;
    output.report.set_probe(std::string(name()));
    medic::v1::HardwareErrorsStatus& body = *output.report.mutable_hardware_errors();

    body.set_edac_present(ctx.fs.Exists(kEdac));
    for (const std::string& mc : NumberedEntries(ctx.fs, kEdac, "mc")) {
      const std::string dir = common::StrCat(kEdac, "/", mc);
      medic::v1::MemoryControllerErrors& errors = *body.add_memory_controllers();
      errors.set_name(mc);
      errors.set_corrected(Counter(ctx.fs, dir + "/ce_count"));
      errors.set_uncorrected(Counter(ctx.fs, dir + "/ue_count"));
      for (std::string& dimm : DimmsWithErrors(ReadDimms(ctx.fs, dir))) {
        errors.add_dimms_with_errors(std::move(dimm));
      }
      AddObservation(output.report, "hw.edac_corrected", mc,
                     static_cast<double>(errors.corrected()), "count");
      AddObservation(output.report, "hw.edac_uncorrected", mc,
                     static_cast<double>(errors.uncorrected()), "count");
    }

    if (std::optional<std::string> interrupts = ReadOptional(ctx.fs, kInterrupts)) {
      if (std::optional<uint64_t> checks = ParseMachineChecks(*interrupts)) {
        body.set_machine_checks(*checks);
        AddObservation(output.report, "hw.machine_checks", "", static_cast<double>(*checks),
                       "count");
      }
    }

    absl::StatusOr<std::vector<std::string>> devices = ctx.fs.ListDir(kBlock);
    for (const std::string& device : devices.ok() ? *devices : std::vector<std::string>{}) {
      std::optional<std::string> text =
          ReadOptional(ctx.fs, common::StrCat(kBlock, "/", device, "/device/ioerr_cnt"));
      if (!text) continue;
      std::optional<uint64_t> count = ParseCounter(*text);
      if (!count) continue;
      medic::v1::DiskErrors& disk = *body.add_disks();
      disk.set_device(device);
      disk.set_io_errors(*count);
      AddObservation(output.report, "disk.io_errors", device, static_cast<double>(*count), "count");
    }

    // The kernel log is read from where the last collection stopped: each line once.
    if (absl::StatusOr<std::vector<std::string>> messages = kernel_log_.ReadNew(ctx.fs);
        messages.ok()) {
      CountKernelErrors(*messages, kernel_errors_);
    } else {
      body.set_kernel_log_note(KernelLogNote(messages.status()));
    }
    for (const auto& [device, lines] : kernel_errors_) {
      *body.add_kernel_errors() = lines;
      AddObservation(output.report, "hw.kernel_error_lines", device,
                     static_cast<double>(lines.count()), "count");
    }

    output.findings = JudgeHardwareErrors(body, ctx.clock.Now(),
                                          HardwareThresholds::FromConfig(ctx.config.hardware()),
                                          ctx.standing, history_);
    return output;
  }

 private:
  ErrorHistory history_;  // counters of the previous collections
  KernelLogReader kernel_log_;
  // Error lines counted since the agent started, by disk ("" for hardware errors).
  std::map<std::string, medic::v1::KernelErrorLines> kernel_errors_;
};

}  // namespace

std::unique_ptr<Probe> NewHardwareErrorsProbe() { return std::make_unique<HardwareErrorsProbe>(); }

}  // namespace medic::agent
