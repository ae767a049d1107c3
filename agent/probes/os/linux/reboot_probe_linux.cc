// The reboot probe on Linux.

#include <algorithm>

#include "agent/probes/os/os_parse.h"
#include "agent/probes/os/os_probes.h"
#include "agent/probes/os/reboot_parse.h"
#include "agent/probes/probe_util.h"
#include "agent/probes/text.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"

namespace medic::agent {
namespace {

constexpr std::string_view kOsRelease = "/proc/sys/kernel/osrelease";
constexpr std::string_view kFlagDirs[] = {"/run", "/var/run"};
constexpr std::string_view kModules = "/lib/modules";
constexpr std::string_view kBoot = "/boot";

class RebootProbe : public Probe {
 public:
  std::string_view name() const override { return "reboot"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    ASSIGN_OR_RETURN(std::string running,
                     ReadAndParse(ctx.fs, kOsRelease, [](std::string_view text) {
                       return ParseSingleValue(text, "kernel release");
                     }));
    ProbeOutput output;
    output.report.set_probe(std::string(name()));
    medic::v1::RebootStatus& status = *output.report.mutable_reboot();
    status.set_running_kernel(running);
    for (std::string_view dir : kFlagDirs) {
      const std::string flag = common::StrCat(dir, "/reboot-required");
      if (!ctx.fs.Exists(flag)) continue;
      status.set_reboot_required(true);
      if (std::optional<std::string> text = ReadOptional(ctx.fs, flag + ".pkgs")) {
        for (std::string& package : ParseRebootPackages(*text)) status.add_packages(package);
      }
      break;
    }

    std::vector<std::string> installed;
    if (absl::StatusOr<std::vector<std::string>> names = ctx.fs.ListDir(kModules); names.ok()) {
      // A directory left behind by a removed kernel (DKMS leftovers) has no modules.dep.
      for (const std::string& release : *names) {
        if (ctx.fs.Exists(common::StrCat(kModules, "/", release, "/modules.dep"))) {
          installed.push_back(release);
        }
      }
    }
    if (absl::StatusOr<std::vector<std::string>> names = ctx.fs.ListDir(kBoot); names.ok()) {
      for (std::string_view file : *names) {
        if (ConsumePrefix(&file, "vmlinuz-")) installed.emplace_back(file);
      }
    }
    if (std::optional<std::string> newest = NewestKernel(installed, running)) {
      status.set_newest_kernel(*newest);
      status.set_newer_kernel_installed(CompareVersions(*newest, running) > 0);
    }
    if (std::optional<medic::v1::Finding> finding = JudgeReboot(status)) {
      output.findings.push_back(*std::move(finding));
    }
    return output;
  }
};

}  // namespace

std::unique_ptr<Probe> NewRebootProbe() { return std::make_unique<RebootProbe>(); }

}  // namespace medic::agent
