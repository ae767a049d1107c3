#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace medic::common {

// Wall-clock time, injected so that logic over time is testable with a fake.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The system clock. Thread-safe; one shared instance.
class RealClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  static const RealClock& Get();
};

// A clock tests move by hand.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}
  absl::Time Now() const override { return now_; }
  void Advance(absl::Duration d) { now_ += d; }
  void Set(absl::Time t) { now_ = t; }

 private:
  absl::Time now_;
};

google::protobuf::Timestamp ToProtoTime(absl::Time t);
absl::Time FromProtoTime(const google::protobuf::Timestamp& t);
google::protobuf::Duration ToProtoDuration(absl::Duration d);
absl::Duration FromProtoDuration(const google::protobuf::Duration& d);

// Converts a proto Duration to std::chrono, for timers.
inline std::chrono::milliseconds ToChrono(const google::protobuf::Duration& d) {
  return std::chrono::milliseconds(d.seconds() * 1000 + d.nanos() / 1'000'000);
}

// Parses a duration as config files write it: a number and a unit, possibly several
// ("1h30m"); units ms, s, m, h, d. "0" alone means zero. InvalidArgument names what was wrong.
absl::StatusOr<absl::Duration> ParseDuration(std::string_view text);

// The short form people read: "3d 4h", "12m 5s", "850ms".
std::string HumanDuration(absl::Duration d);

}  // namespace medic::common
