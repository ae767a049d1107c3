// The crashes probe on Linux.

#include "agent/probes/os/crashes_parse.h"
#include "agent/probes/os/os_probes.h"
#include "agent/probes/probe_util.h"
#include "agent/probes/text.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"

namespace medic::agent {
namespace {

constexpr std::string_view kApportDir = "/var/crash";
constexpr std::string_view kCoredumpDir = "/var/lib/systemd/coredump";
constexpr std::string_view kKernLog = "/var/log/kern.log";
constexpr size_t kReportHead = 64 << 10;  // apport's header keys come first
constexpr size_t kMaxLog = 16 << 20;
constexpr absl::Duration kDefaultWindow = absl::Hours(24);

class CrashesProbe : public Probe {
 public:
  explicit CrashesProbe(absl::TimeZone zone) : zone_(zone) {}

  std::string_view name() const override { return "crashes"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    absl::Duration window = kDefaultWindow;
    if (ctx.config.os_checks().has_crash_window()) {
      const absl::Duration configured =
          common::FromProtoDuration(ctx.config.os_checks().crash_window());
      if (configured > absl::ZeroDuration()) window = configured;
    }
    const absl::Time now = ctx.clock.Now();
    const absl::Time since = now - window;

    ProbeOutput output;
    output.report.set_probe(std::string(name()));
    medic::v1::CrashesStatus& status = *output.report.mutable_crashes();
    *status.mutable_window() = common::ToProtoDuration(window);

    // A file that vanished or cannot be stat'ed between listing and stat is not reported.
    auto recent = [&](const std::string& path) -> std::optional<absl::Time> {
      absl::StatusOr<common::FileInfo> info = ctx.fs.Stat(path);
      if (!info.ok() || info->is_dir || info->mtime < since) return std::nullopt;
      return info->mtime;
    };
    if (auto names = ctx.fs.ListDir(kApportDir); names.ok()) {
      for (const std::string& file : *names) {
        if (!EndsWith(file, ".crash")) continue;
        const std::string path = common::StrCat(kApportDir, "/", file);
        std::optional<absl::Time> time = recent(path);
        if (!time) continue;
        ApportReport apport;
        if (absl::StatusOr<std::string> head = ctx.fs.ReadFile(path, kReportHead); head.ok()) {
          apport = ParseApportReport(*head);
        }
        std::string program = ProgramFromCrashName(file);
        if (const size_t slash = apport.executable_path.rfind('/'); slash != std::string::npos) {
          program = apport.executable_path.substr(slash + 1);
        }
        medic::v1::CrashReport& crash = *status.add_crashes();
        crash.set_program(program);
        crash.set_path(path);
        *crash.mutable_time() = common::ToProtoTime(*time);
        std::string detail = apport.problem_type.empty() ? "Crash" : apport.problem_type;
        if (!apport.executable_path.empty())
          common::StrAppend(&detail, " of ", apport.executable_path);
        if (!apport.signal.empty()) common::StrAppend(&detail, ", signal ", apport.signal);
        crash.set_detail(std::move(detail));
      }
    }
    if (auto names = ctx.fs.ListDir(kCoredumpDir); names.ok()) {
      for (const std::string& file : *names) {
        std::optional<std::string> program = ProgramFromCoredumpName(file);
        if (!program) continue;
        const std::string path = common::StrCat(kCoredumpDir, "/", file);
        std::optional<absl::Time> time = recent(path);
        if (!time) continue;
        medic::v1::CrashReport& crash = *status.add_crashes();
        crash.set_program(*program);
        crash.set_path(path);
        *crash.mutable_time() = common::ToProtoTime(*time);
        crash.set_detail("core dump");
      }
    }
    if (absl::StatusOr<std::string> log = ctx.fs.ReadFile(kKernLog, kMaxLog); log.ok()) {
      for (medic::v1::CrashReport& oops : FindKernelOopses(*log, kKernLog, since, now, zone_)) {
        *status.add_crashes() = std::move(oops);
      }
    }
    AddObservation(output.report, "crashes.recent", "", status.crashes_size(), "count");
    output.findings = JudgeCrashes(status);
    return output;
  }

 private:
  absl::TimeZone zone_;
};

}  // namespace

std::unique_ptr<Probe> NewCrashesProbe(absl::TimeZone zone) {
  return std::make_unique<CrashesProbe>(zone);
}

std::unique_ptr<Probe> NewCrashesProbe() { return NewCrashesProbe(absl::LocalTimeZone()); }

}  // namespace medic::agent
