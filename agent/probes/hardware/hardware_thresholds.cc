#include "agent/probes/hardware/hardware_thresholds.h"

#include <algorithm>

#include "common/time/clock.h"

namespace medic::agent {

HardwareThresholds HardwareThresholds::FromConfig(const medic::v1::HardwareConfig& config) {
  HardwareThresholds t;
  auto set = [](double configured, double& mark) {
    if (configured > 0) mark = configured;
  };
  set(config.memory_available_low_pct(), t.memory_available_low_pct);
  set(config.memory_psi_full_avg60(), t.memory_psi_full_avg60);
  set(config.swap_free_low_pct(), t.swap_free_low_pct);
  set(config.load_per_core_high(), t.load_per_core_high);
  set(config.load_per_core_clear(), t.load_per_core_clear);
  set(config.cpu_overheat_celsius(), t.cpu_overheat_celsius);
  set(config.cpu_overheat_margin_celsius(), t.cpu_overheat_margin_celsius);
  set(config.battery_degraded_pct(), t.battery_degraded_pct);
  set(config.battery_critical_pct(), t.battery_critical_pct);
  t.load_per_core_clear = std::min(t.load_per_core_clear, t.load_per_core_high);
  if (config.has_errors_quiet_period()) {
    const absl::Duration quiet = common::FromProtoDuration(config.errors_quiet_period());
    if (quiet > absl::ZeroDuration()) t.errors_quiet_period = quiet;
  }
  return t;
}

}  // namespace medic::agent
