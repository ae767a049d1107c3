#include "agent/transport/backoff.h"

#include <algorithm>
#include <cstdint>

namespace medic::agent {

absl::Duration BackoffCap(const BackoffRule& rule, int failures) {
  const double cap = std::min(absl::ToDoubleSeconds(rule.max),
                              absl::ToDoubleSeconds(rule.initial) *
                                  static_cast<double>(uint64_t{1} << std::clamp(failures, 0, 16)));
  return absl::Seconds(cap);
}

absl::Duration ReconnectDelay(const BackoffRule& rule, int failures, std::mt19937_64& random) {
  // Drawn above the floor rather than clamped up to it: clamping would send every agent whose
  // draw fell below the floor (one in twenty for a 2 s cap) at the very same instant.
  const double floor = absl::ToDoubleSeconds(kMinReconnectDelay);
  const double cap = std::max(floor, absl::ToDoubleSeconds(BackoffCap(rule, failures)));
  std::uniform_real_distribution<double> pick(floor, cap);
  return absl::Seconds(pick(random));
}

}  // namespace medic::agent
