// The os probe on Linux.

#include <sys/utsname.h>

#include "agent/probes/os/os_parse.h"
#include "agent/probes/os/os_probes.h"
#include "agent/probes/probe_util.h"
#include "agent/probes/text.h"
#include "common/status/status_macros.h"

namespace medic::agent {
namespace {

constexpr std::string_view kHostname = "/proc/sys/kernel/hostname";
constexpr std::string_view kOsRelease = "/proc/sys/kernel/osrelease";
constexpr std::string_view kArch = "/proc/sys/kernel/arch";
constexpr std::string_view kUptime = "/proc/uptime";
constexpr std::string_view kVersion = "/proc/version";
constexpr std::string_view kMachineId = "/etc/machine-id";
constexpr std::string_view kOsReleaseFiles[] = {"/etc/os-release", "/usr/lib/os-release"};
constexpr uint32_t kDefaultUptimeLongDays = 30;

class OsProbe : public Probe {
 public:
  explicit OsProbe(ArchitectureSource architecture) : architecture_(std::move(architecture)) {}

  std::string_view name() const override { return "os"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    auto single = [](std::string_view what) {
      return [what](std::string_view text) { return ParseSingleValue(text, what); };
    };
    ASSIGN_OR_RETURN(std::string hostname, ReadAndParse(ctx.fs, kHostname, single("hostname")));
    ASSIGN_OR_RETURN(std::string kernel,
                     ReadAndParse(ctx.fs, kOsRelease, single("kernel release")));
    ASSIGN_OR_RETURN(absl::Duration uptime, ReadAndParse(ctx.fs, kUptime, ParseUptime));
    ASSIGN_OR_RETURN(OsRelease release, ReadDistribution(ctx.fs));

    ProbeOutput output;
    output.report.set_probe(std::string(name()));
    medic::v1::OsInfo& os = *output.report.mutable_os();
    os.set_hostname(hostname);
    os.set_name(release.pretty_name);
    os.set_id(release.id);
    os.set_version_id(release.version_id);
    os.set_kernel(kernel);
    if (std::optional<std::string> text = ReadOptional(ctx.fs, kVersion)) {
      if (absl::StatusOr<KernelVersion> version = ParseProcVersion(*text); version.ok()) {
        os.set_kernel_version(version->build);
      }
    }
    std::string architecture;
    if (std::optional<std::string> text = ReadOptional(ctx.fs, kArch)) {
      if (absl::StatusOr<std::string> arch = ParseSingleValue(*text, "arch"); arch.ok()) {
        architecture = *arch;
      }
    }
    if (architecture.empty() && architecture_) architecture = architecture_();
    os.set_architecture(architecture);
    *os.mutable_uptime() = common::ToProtoDuration(uptime);
    // Rounded to the second so that it does not wobble from one collection to the next.
    const absl::Time boot = ctx.clock.Now() - uptime;
    *os.mutable_boot_time() = common::ToProtoTime(
        absl::FromUnixSeconds(absl::ToUnixSeconds(boot + absl::Milliseconds(500))));
    if (std::optional<std::string> text = ReadOptional(ctx.fs, kMachineId)) {
      if (absl::StatusOr<std::string> id = ParseMachineId(*text); id.ok()) {
        os.set_machine_id(*id);
      }
    }
    const uint32_t limit_days = ctx.config.os_checks().uptime_long_days();
    if (std::optional<medic::v1::Finding> long_up = JudgeUptime(
            uptime, absl::Hours(24) * (limit_days > 0 ? limit_days : kDefaultUptimeLongDays))) {
      output.findings.push_back(*std::move(long_up));
    }
    return output;
  }

 private:
  // The first os-release file that exists; os-release(5)'s defaults when none does.
  static absl::StatusOr<OsRelease> ReadDistribution(const common::FileSystem& fs) {
    for (std::string_view path : kOsReleaseFiles) {
      if (std::optional<std::string> text = ReadOptional(fs, path)) {
        absl::StatusOr<OsRelease> release = ParseOsRelease(*text);
        if (!release.ok()) return WithPath(release.status(), path);
        return release;
      }
    }
    return ParseOsRelease("");
  }

  ArchitectureSource architecture_;
};

}  // namespace

std::string UnameArchitecture() {
  struct utsname names {};
  if (::uname(&names) != 0) return "";
  return names.machine;
}

std::unique_ptr<Probe> NewOsProbe(ArchitectureSource architecture) {
  return std::make_unique<OsProbe>(std::move(architecture));
}

std::unique_ptr<Probe> NewOsProbe() { return NewOsProbe(UnameArchitecture); }

}  // namespace medic::agent
