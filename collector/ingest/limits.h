#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "medic/v1/limits.pb.h"

namespace medic::collector {

// LimitsConfig with every default filled in.
struct Limits {
  int max_concurrent_streams = 16;
  int max_streams_per_peer = 256;
  absl::Duration min_ping_interval = absl::Seconds(10);
  int max_ping_strikes = 2;
  absl::Duration handshake_timeout = absl::Seconds(10);
  double records_per_second = 20;
  uint32_t record_burst = 2000;
};

// Fills in the defaults; InvalidArgument names a setting that makes no sense.
absl::StatusOr<Limits> ResolveLimits(const medic::v1::LimitsConfig& config);

// A token bucket per machine: each message takes one token, tokens come back at `rate` per
// second up to `burst`. A bucket may go into debt (Take), which its owner repays by waiting. Keyed
// by machine id, not by stream, so reconnecting does not refill it. Thread-safe.
class RecordRateLimiter {
 public:
  RecordRateLimiter(double rate, uint32_t burst) : rate_(rate), burst_(burst) {}

  // Takes a token for `machine_id`; false (and nothing taken) when its bucket is empty.
  bool TryTake(const std::string& machine_id, absl::Time now);

  // Takes a token for `machine_id` even when none is left, going into debt, and returns how
  // long the caller should wait before taking the next: zero while the bucket has tokens.
  // A caller that waits that long is held to `rate` without ever being refused.
  absl::Duration Take(const std::string& machine_id, absl::Time now);

  // Buckets kept now (each machine that sent something, until its bucket is full again).
  size_t buckets() const;

 private:
  struct Bucket {
    double tokens;
    absl::Time updated;
  };
  // The bucket of `machine_id`, refilled up to `now`.
  Bucket& RefilledLocked(const std::string& machine_id, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops buckets that have refilled completely: they are the same as a new one.
  void PruneLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const double rate_;
  const uint32_t burst_;
  mutable std::mutex mu_;
  std::map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  absl::Time last_prune_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// Counts the agent streams open from each peer host. Thread-safe.
class PeerStreamCounter {
 public:
  explicit PeerStreamCounter(int max_per_peer) : max_(max_per_peer) {}

  // Counts a new stream from `host`; false (and nothing counted) when it already has the
  // maximum open.
  bool TryOpen(const std::string& host);
  void Close(const std::string& host);
  int open(const std::string& host) const;

 private:
  const int max_;
  mutable std::mutex mu_;
  std::map<std::string, int> open_ ABSL_GUARDED_BY(mu_);
};

}  // namespace medic::collector
