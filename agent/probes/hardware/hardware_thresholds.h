#pragma once

// The marks of the hardware findings, from config.hardware with defaults. Pure; builds everywhere.

#include "absl/time/time.h"
#include "medic/v1/config.pb.h"

namespace medic::agent {

struct HardwareThresholds {
  double memory_available_low_pct = 5;     // memory.pressure below this share available
  double memory_psi_full_avg60 = 10;       // … or PSI full avg60 above this
  double swap_free_low_pct = 5;            // swap.exhausted below this share free
  double load_per_core_high = 2.0;         // cpu.load_high above this load15 per core
  double load_per_core_clear = 1.5;        // a standing cpu.load_high clears below this
  double cpu_overheat_celsius = 90;        // cpu.overheat at this temperature
  double cpu_overheat_margin_celsius = 5;  // … or this close to the sensor's crit/max
  double battery_degraded_pct = 70;        // battery.degraded (warning) below this share of design
  double battery_critical_pct = 50;        // … critical below this
  absl::Duration errors_quiet_period = absl::Hours(24);  // counter findings clear after this

  // Config values of 0 or below (or an unset duration) keep the default. A load_per_core_clear
  // at or above load_per_core_high is lowered to the high mark (no hysteresis, never inverted).
  static HardwareThresholds FromConfig(const medic::v1::HardwareConfig& config);
};

// Percent-based findings (memory, swap, battery) clear only this many points above the mark that
// raised them.
inline constexpr double kHardwareClearMarginPct = 2;
// A standing cpu.overheat clears only once the sensor is this many °C below the raising mark.
inline constexpr double kOverheatClearCelsius = 5;

}  // namespace medic::agent
