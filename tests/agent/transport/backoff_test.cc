#include "agent/transport/backoff.h"

#include <algorithm>
#include <vector>

#include "gtest/gtest.h"

namespace medic::agent {
namespace {

TEST(BackoffTest, CapDoublesPerFailureUpToTheMaximum) {
  const BackoffRule rule{.initial = absl::Seconds(1), .max = absl::Seconds(60)};
  struct Case {
    int failures;
    absl::Duration cap;
  };
  for (const Case& c : std::vector<Case>{{0, absl::Seconds(1)},
                                         {1, absl::Seconds(2)},
                                         {2, absl::Seconds(4)},
                                         {5, absl::Seconds(32)},
                                         {6, absl::Seconds(60)},
                                         {40, absl::Seconds(60)},
                                         {-1, absl::Seconds(1)}}) {
    EXPECT_EQ(BackoffCap(rule, c.failures), c.cap) << c.failures << " failures";
  }
}

TEST(BackoffTest, DelayStaysBetweenTheFloorAndTheCap) {
  std::mt19937_64 random(7);
  for (const BackoffRule rule :
       {BackoffRule{}, BackoffRule{absl::Milliseconds(10), absl::Milliseconds(30)}}) {
    for (int failures = 0; failures < 10; ++failures) {
      for (int i = 0; i < 200; ++i) {
        const absl::Duration d = ReconnectDelay(rule, failures, random);
        EXPECT_GE(d, kMinReconnectDelay);
        EXPECT_LE(d, std::max(kMinReconnectDelay, BackoffCap(rule, failures)));
      }
    }
  }
}

// A thousand agents lose their collector at the same instant: their first reconnects spread
// evenly over the first backoff cap, about five per 10 ms. Clamping short draws up to the floor
// instead would send one agent in twenty (fifty) at the floor's very instant.
TEST(BackoffTest, AFleetLosingItsCollectorTogetherDoesNotComeBackTogether) {
  constexpr int kAgents = 1000;
  constexpr absl::Duration kWindow = absl::Milliseconds(10);
  const BackoffRule rule;  // the agent's defaults
  std::mt19937_64 random(42);
  const absl::Duration cap = BackoffCap(rule, 1);
  std::vector<int> per_window(cap / kWindow + 1, 0);
  for (int i = 0; i < kAgents; ++i) ++per_window[ReconnectDelay(rule, 1, random) / kWindow];
  const double fair = kAgents / ((cap - kMinReconnectDelay) / kWindow);
  const int peak = *std::max_element(per_window.begin(), per_window.end());
  EXPECT_LT(peak, 3 * fair) << "peak " << peak << " reconnects in 10 ms, fair share " << fair;
}

}  // namespace
}  // namespace medic::agent
