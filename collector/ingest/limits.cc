#include "collector/ingest/limits.h"

#include <algorithm>

#include "absl/status/statusor.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"

namespace medic::collector {

absl::StatusOr<Limits> ResolveLimits(const medic::v1::LimitsConfig& config) {
  Limits limits;
  if (config.max_concurrent_streams() != 0) {
    limits.max_concurrent_streams = static_cast<int>(
        std::min<uint32_t>(config.max_concurrent_streams(), static_cast<uint32_t>(INT32_MAX)));
  }
  if (config.max_streams_per_peer() != 0) {
    limits.max_streams_per_peer = static_cast<int>(
        std::min<uint32_t>(config.max_streams_per_peer(), static_cast<uint32_t>(INT32_MAX)));
  }
  if (config.has_min_ping_interval()) {
    limits.min_ping_interval = common::FromProtoDuration(config.min_ping_interval());
    if (limits.min_ping_interval < absl::Seconds(1)) {
      return absl::InvalidArgumentError(
          "limits.min_ping_interval: must be at least 1s, or clients may ping the collector "
          "busy");
    }
  }
  if (config.max_ping_strikes() != 0) {
    limits.max_ping_strikes = static_cast<int>(std::min<uint32_t>(config.max_ping_strikes(), 1000));
  }
  if (config.has_handshake_timeout()) {
    limits.handshake_timeout = common::FromProtoDuration(config.handshake_timeout());
    if (limits.handshake_timeout < absl::Milliseconds(100)) {
      return absl::InvalidArgumentError("limits.handshake_timeout: must be at least 100ms");
    }
  }
  if (config.records_per_second() != 0) {
    // NaN fails this comparison too.
    if (!(config.records_per_second() > 0)) {
      return absl::InvalidArgumentError(common::StrCat(
          "limits.records_per_second: ", config.records_per_second(), " is not a positive number"));
    }
    limits.records_per_second = config.records_per_second();
  }
  if (config.record_burst() != 0) limits.record_burst = config.record_burst();
  return limits;
}

RecordRateLimiter::Bucket& RecordRateLimiter::RefilledLocked(const std::string& machine_id,
                                                             absl::Time now) {
  PruneLocked(now);
  auto [it, added] = buckets_.try_emplace(machine_id, Bucket{static_cast<double>(burst_), now});
  Bucket& bucket = it->second;
  if (!added && now > bucket.updated) {
    bucket.tokens = std::min<double>(
        burst_, bucket.tokens + absl::ToDoubleSeconds(now - bucket.updated) * rate_);
    bucket.updated = now;
  }
  return bucket;
}

bool RecordRateLimiter::TryTake(const std::string& machine_id, absl::Time now) {
  std::lock_guard lock(mu_);
  Bucket& bucket = RefilledLocked(machine_id, now);
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

absl::Duration RecordRateLimiter::Take(const std::string& machine_id, absl::Time now) {
  std::lock_guard lock(mu_);
  Bucket& bucket = RefilledLocked(machine_id, now);
  bucket.tokens -= 1;
  if (bucket.tokens >= 0) return absl::ZeroDuration();
  return absl::Seconds(-bucket.tokens / rate_);
}

size_t RecordRateLimiter::buckets() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

void RecordRateLimiter::PruneLocked(absl::Time now) {
  // A bucket refills completely in burst/rate seconds; looking once per that period keeps the
  // map as small as the set of machines that sent something recently, at little cost.
  const absl::Duration refill = absl::Seconds(burst_ / rate_);
  if (now - last_prune_ < std::max(refill, absl::Seconds(1))) return;
  last_prune_ = now;
  std::erase_if(buckets_, [&](const auto& entry) {
    const Bucket& b = entry.second;
    return b.tokens + absl::ToDoubleSeconds(now - b.updated) * rate_ >= burst_;
  });
}

bool PeerStreamCounter::TryOpen(const std::string& host) {
  std::lock_guard lock(mu_);
  int& open = open_[host];
  if (open >= max_) {
    if (open == 0) open_.erase(host);
    return false;
  }
  ++open;
  return true;
}

void PeerStreamCounter::Close(const std::string& host) {
  std::lock_guard lock(mu_);
  auto it = open_.find(host);
  if (it == open_.end()) return;
  if (--it->second <= 0) open_.erase(it);
}

int PeerStreamCounter::open(const std::string& host) const {
  std::lock_guard lock(mu_);
  auto it = open_.find(host);
  return it == open_.end() ? 0 : it->second;
}

}  // namespace medic::collector
