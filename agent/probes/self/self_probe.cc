#include "agent/probes/self/self_probe.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "agent/probes/hardware/filesystem_parse.h"
#include "agent/probes/hardware/hardware_util.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"

namespace medic::agent {
namespace {

constexpr char kName[] = "agent";
// A standing memory finding clears below this share of the budget, so an agent hovering at
// its budget does not raise and clear it every run.
constexpr double kMemoryClearShare = 0.9;

// "5.0%": the share of one CPU, as the other probes print percentages.
std::string Pct(double pct) { return common::StrCat(PctText(pct), "%"); }

medic::v1::Observation Observe(const char* metric, double value, const char* unit) {
  medic::v1::Observation o;
  o.set_metric(metric);
  o.set_value(value);
  o.set_unit(unit);
  return o;
}

class SelfProbe final : public Probe {
 public:
  explicit SelfProbe(SelfSampler sampler) : sampler_(std::move(sampler)) {}
  std::string_view name() const override { return kName; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    absl::StatusOr<SelfSample> sample = sampler_(ctx.config);
    if (!sample.ok()) return sample.status();
    const absl::Time now = ctx.clock.Now();
    const medic::v1::SelfLimitsConfig& limits = ctx.config.self_limits();
    const double cpu_budget = limits.max_cpu_pct() > 0 ? limits.max_cpu_pct() : kDefaultMaxCpuPct;
    const uint64_t rss_budget =
        uint64_t{limits.max_rss_mib() > 0 ? limits.max_rss_mib() : kDefaultMaxRssMib} << 20;

    // CPU is a difference of samples: nothing to say on the first run.
    std::optional<double> cpu_pct;
    if (last_.has_value() && now > last_at_) {
      cpu_pct = 100 * absl::FDivDuration(sample->cpu - last_->cpu, now - last_at_);
    }
    const absl::Duration window = now - last_at_;
    last_ = *sample;
    last_at_ = now;
    // A proportional step: the other probes' cost scales with how often they run, so running
    // them `used / budget` times less often brings the agent back to its budget.
    if (cpu_pct.has_value()) {
      slow_down_ = std::clamp(slow_down_ * *cpu_pct / cpu_budget, 1.0, kMaxSlowDown);
    }

    ProbeOutput out;
    medic::v1::ProbeReport& report = out.report;
    medic::v1::AgentSelfStatus& status = *report.mutable_agent();
    status.set_cpu_pct(cpu_pct.value_or(0));
    status.set_rss_bytes(sample->rss_bytes);
    status.set_spool_bytes(sample->spool_bytes);
    status.set_cpu_budget_pct(cpu_budget);
    status.set_rss_budget_bytes(rss_budget);
    status.set_slow_down(slow_down_);
    if (cpu_pct.has_value()) *report.add_observations() = Observe("agent.cpu_pct", *cpu_pct, "pct");
    *report.add_observations() =
        Observe("agent.rss_bytes", static_cast<double>(sample->rss_bytes), "bytes");
    *report.add_observations() =
        Observe("agent.spool_bytes", static_cast<double>(sample->spool_bytes), "bytes");
    out.slow_down = slow_down_;

    if (slow_down_ > 1 || (cpu_pct.has_value() && *cpu_pct > cpu_budget)) {
      medic::v1::Finding& f = out.findings.emplace_back();
      f.set_code("agent.over_budget");
      f.set_severity(medic::v1::SEVERITY_WARNING);
      f.set_resource("cpu");
      f.set_summary(common::StrCat(
          "the Medic agent used ", Pct(cpu_pct.value_or(0)), " of a CPU over the last ",
          common::HumanDuration(window), ", over its budget of ", Pct(cpu_budget),
          slow_down_ > 1
              ? common::StrCat(": it runs its probes ", static_cast<int>(slow_down_ + 0.5),
                               " times less often until it is back under")
              : std::string()));
      (*f.mutable_evidence())["cpu_pct"] = Pct(cpu_pct.value_or(0));
      (*f.mutable_evidence())["budget"] =
          common::StrCat(Pct(cpu_budget), " (self_limits.max_cpu_pct)");
      (*f.mutable_evidence())["slow_down"] = common::StrCat(slow_down_);
    }
    const bool memory_standing = ctx.IsStanding("agent.over_budget", "memory");
    const double memory_mark = memory_standing ? kMemoryClearShare * rss_budget : rss_budget;
    if (static_cast<double>(sample->rss_bytes) > memory_mark) {
      medic::v1::Finding& f = out.findings.emplace_back();
      f.set_code("agent.over_budget");
      f.set_severity(medic::v1::SEVERITY_WARNING);
      f.set_resource("memory");
      f.set_summary(common::StrCat("the Medic agent uses ", HumanBytes(sample->rss_bytes),
                                   " of memory, over its budget of ", HumanBytes(rss_budget)));
      (*f.mutable_evidence())["rss"] = HumanBytes(sample->rss_bytes);
      (*f.mutable_evidence())["budget"] =
          common::StrCat(HumanBytes(rss_budget), " (self_limits.max_rss_mib)");
      (*f.mutable_evidence())["spool"] = HumanBytes(sample->spool_bytes);
    }
    return out;
  }

 private:
  const SelfSampler sampler_;
  std::optional<SelfSample> last_;
  absl::Time last_at_;
  double slow_down_ = 1;
};

}  // namespace

absl::StatusOr<SelfSample> SampleThisProcess(const medic::v1::AgentConfig& config) {
  SelfSample sample;
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) {
    return absl::InternalError(common::StrCat("getrusage: ", strerror(errno)));
  }
  const auto seconds = [](const timeval& t) {
    return absl::Seconds(t.tv_sec) + absl::Microseconds(t.tv_usec);
  };
  sample.cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
  // statm's second field: resident pages.
  std::ifstream statm("/proc/self/statm");
  uint64_t size_pages = 0;
  uint64_t resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) {
    return absl::InternalError("cannot read /proc/self/statm");
  }
  sample.rss_bytes = resident_pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const std::string spool = config.spool().path().empty()
                                ? common::StrCat(config.state_dir(), "/spool")
                                : config.spool().path();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(spool, ec)) {
    std::error_code size_ec;
    if (entry.is_regular_file(size_ec)) {
      const uintmax_t size = entry.file_size(size_ec);
      if (!size_ec) sample.spool_bytes += size;
    }
  }
  // No spool directory yet (nothing spooled) is 0 bytes, not an error.
  return sample;
}

std::unique_ptr<Probe> NewSelfProbe(SelfSampler sampler) {
  return std::make_unique<SelfProbe>(std::move(sampler));
}

}  // namespace medic::agent
