#pragma once

#include <random>

#include "absl/time/time.h"

namespace medic::agent {

// How long to wait before reconnecting to the collector.
struct BackoffRule {
  absl::Duration initial = absl::Seconds(1);
  absl::Duration max = absl::Seconds(60);
};

// No reconnect comes sooner than this after a failure.
inline constexpr absl::Duration kMinReconnectDelay = absl::Milliseconds(100);

// The cap of the exponential backoff after `failures` consecutive failed (or lost)
// connections: initial·2^failures, at most rule.max.
absl::Duration BackoffCap(const BackoffRule& rule, int failures);

// Full jitter: a delay drawn uniformly between kMinReconnectDelay and the cap, so a fleet that
// lost its collector together does not come back together. Used by the agent's collector
// stream and by medic-sim's simulated agents alike.
absl::Duration ReconnectDelay(const BackoffRule& rule, int failures, std::mt19937_64& random);

}  // namespace medic::agent
