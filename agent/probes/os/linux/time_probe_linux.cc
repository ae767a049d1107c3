// The time probe on Linux.

#include <sys/timex.h>

#include <cerrno>

#include "absl/status/status.h"
#include "agent/probes/os/os_probes.h"
#include "agent/probes/os/time_parse.h"
#include "agent/probes/probe_util.h"
#include "common/status/errno_status.h"
#include "common/strings/str_cat.h"

namespace medic::agent {
namespace {

constexpr size_t kMaxOutput = 64 << 10;

class TimeProbe : public Probe {
 public:
  explicit TimeProbe(KernelClockSource kernel_clock) : kernel_clock_(std::move(kernel_clock)) {}

  std::string_view name() const override { return "time"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    ProbeOutput output;
    output.report.set_probe(std::string(name()));
    medic::v1::TimeSyncStatus& status = *output.report.mutable_time();
    // timedatectl needs systemd-timedated over D-Bus and chronyc a running chronyd; either
    // failing (missing, non-zero exit, no answer we can read) passes on to the next source.
    if (std::optional<medic::v1::TimeSyncStatus> answer =
            Ask(ctx, {"timedatectl", "show"}, ParseTimedatectl)) {
      status = *std::move(answer);
    } else if (std::optional<medic::v1::TimeSyncStatus> chrony =
                   Ask(ctx, {"chronyc", "-c", "tracking"}, ParseChronyTracking)) {
      status = *std::move(chrony);
    } else if (absl::StatusOr<KernelClock> clock = kernel_clock_(); clock.ok()) {
      status = FromKernelClock(*clock);
    } else {
      status.set_detail(common::StrCat("no time source could tell: ", clock.status().message()));
    }
    if (status.offset_known()) {
      AddObservation(output.report, "time.offset_seconds", "", status.offset_seconds(), "s");
    }
    if (std::optional<medic::v1::Finding> finding = JudgeTimeSync(status)) {
      output.findings.push_back(*std::move(finding));
    }
    return output;
  }

 private:
  template <typename Parse>
  static std::optional<medic::v1::TimeSyncStatus> Ask(const ProbeContext& ctx,
                                                      const std::vector<std::string>& argv,
                                                      Parse parse) {
    absl::StatusOr<common::CommandResult> run =
        ctx.commands.Run(argv, ctx.deadline - ctx.clock.Now(), kMaxOutput);
    if (!run.ok() || run->exit_code != 0) return std::nullopt;
    absl::StatusOr<medic::v1::TimeSyncStatus> status = parse(run->std_out);
    if (!status.ok()) return std::nullopt;
    return *std::move(status);
  }

  KernelClockSource kernel_clock_;
};

}  // namespace

absl::StatusOr<KernelClock> AdjtimexKernelClock() {
  struct timex tx {};
  const int state = ::adjtimex(&tx);
  if (state < 0) return common::ErrnoToStatus(errno, "adjtimex");
  KernelClock clock;
  clock.unsynchronized = state == TIME_ERROR || (tx.status & STA_UNSYNC) != 0;
  clock.est_error_seconds = static_cast<double>(tx.esterror) / 1e6;
  return clock;
}

std::unique_ptr<Probe> NewTimeProbe(KernelClockSource kernel_clock) {
  return std::make_unique<TimeProbe>(std::move(kernel_clock));
}

std::unique_ptr<Probe> NewTimeProbe() { return NewTimeProbe(AdjtimexKernelClock); }

}  // namespace medic::agent
