#include "common/time/clock.h"

#include <chrono>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace medic::common {
namespace {

struct GoodDuration {
  std::string_view text;
  absl::Duration expected;
};

const GoodDuration kGoodDurations[] = {
    // Milliseconds.
    {"500ms", absl::Milliseconds(500)},
    // Seconds.
    {"30s", absl::Seconds(30)},
    // Minutes.
    {"5m", absl::Minutes(5)},
    // Hours.
    {"1h", absl::Hours(1)},
    // Days are 24 hours.
    {"2d", absl::Hours(48)},
    // Two units.
    {"1h30m", absl::Minutes(90)},
    // Three units, largest first.
    {"1d2h3m", absl::Hours(26) + absl::Minutes(3)},
    // A fraction of an hour.
    {"1.5h", absl::Minutes(90)},
    // A fraction of a second.
    {"0.25s", absl::Milliseconds(250)},
    // A bare zero needs no unit.
    {"0", absl::ZeroDuration()},
    // Zero with a unit.
    {"0s", absl::ZeroDuration()},
    // Seconds then milliseconds.
    {"1s500ms", absl::Milliseconds(1500)},
};

TEST(ParseDurationTest, Good) {
  for (const GoodDuration& c : kGoodDurations) {
    SCOPED_TRACE(c.text);
    const absl::StatusOr<absl::Duration> parsed = ParseDuration(c.text);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, c.expected);
  }
}

struct BadDuration {
  std::string_view text;
  std::string_view why;  // inside the parentheses of the message
};

const BadDuration kBadDurations[] = {
    // An unknown unit.
    {"5x", "unknown unit 'x'"},
    // A unit spelt out.
    {"5sec", "unknown unit 'sec'"},
    // Nothing at all.
    {"", "empty"},
    // Negative durations are not written with a sign.
    {"-1s", "expected a number"},
    // A number without a unit (only "0" may be bare).
    {"5", "missing unit"},
    // A unit without a number.
    {"s", "expected a number"},
    // A number with two decimal points.
    {"1.2.3s", "expected a number"},
    // A space between the parts.
    {"1h 30m", "expected a number"},
    // A space before the unit.
    {"5 s", "missing unit"},
    // A lone dot.
    {".", "expected a number"},
    // A second number without a unit.
    {"1h30", "missing unit"},
};

TEST(ParseDurationTest, Bad) {
  for (const BadDuration& c : kBadDurations) {
    SCOPED_TRACE(c.text);
    const absl::StatusOr<absl::Duration> parsed = ParseDuration(c.text);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(parsed.status().message()),
              std::string("'") + std::string(c.text) + "' is not a duration (" +
                  std::string(c.why) + "); write e.g. 500ms, 30s, 5m, 1h");
  }
}

struct Human {
  absl::Duration duration;
  std::string_view expected;
};

const Human kHuman[] = {
    // Zero.
    {absl::ZeroDuration(), "0ms"},
    // Below a second: milliseconds.
    {absl::Milliseconds(850), "850ms"},
    // Just below a second.
    {absl::Milliseconds(999), "999ms"},
    // Whole seconds; the milliseconds are dropped.
    {absl::Milliseconds(1500), "1s"},
    // Seconds only.
    {absl::Seconds(59), "59s"},
    // A whole minute.
    {absl::Seconds(60), "1m"},
    // Minutes and seconds.
    {absl::Minutes(12) + absl::Seconds(5), "12m 5s"},
    // A whole hour.
    {absl::Hours(1), "1h"},
    // Hours and minutes; seconds dropped.
    {absl::Hours(1) + absl::Minutes(30) + absl::Seconds(59), "1h 30m"},
    // An hour and a few seconds reads as the hour.
    {absl::Hours(1) + absl::Seconds(59), "1h"},
    // Days and hours.
    {absl::Hours(3 * 24 + 4), "3d 4h"},
    // Whole days; minutes dropped.
    {absl::Hours(48) + absl::Minutes(30), "2d"},
    // Negative durations keep their sign.
    {-absl::Seconds(5), "-5s"},
    // Negative, two parts.
    {-(absl::Minutes(2) + absl::Seconds(3)), "-2m 3s"},
};

TEST(HumanDurationTest, ShortForm) {
  for (const Human& c : kHuman) {
    EXPECT_EQ(HumanDuration(c.duration), c.expected) << absl::FormatDuration(c.duration);
  }
}

struct ProtoTime {
  absl::Time time;
  int64_t seconds;
  int32_t nanos;
};

const ProtoTime kProtoTimes[] = {
    // The epoch.
    {absl::UnixEpoch(), 0, 0},
    // A recent time with nanoseconds.
    {absl::FromUnixNanos(1'700'000'000'123'456'789), 1'700'000'000, 123'456'789},
    // One nanosecond before the epoch: seconds round down, nanos stay positive.
    {absl::FromUnixNanos(-1), -1, 999'999'999},
    // 1.5 s before the epoch.
    {absl::FromUnixMillis(-1500), -2, 500'000'000},
    // A whole second before the epoch.
    {absl::FromUnixSeconds(-1), -1, 0},
    // 1900-01-01T00:00:00Z.
    {absl::FromUnixSeconds(-2'208'988'800), -2'208'988'800, 0},
};

TEST(ProtoTimeTest, RoundTrip) {
  for (const ProtoTime& c : kProtoTimes) {
    SCOPED_TRACE(absl::FormatTime(c.time));
    const google::protobuf::Timestamp ts = ToProtoTime(c.time);
    EXPECT_EQ(ts.seconds(), c.seconds);
    EXPECT_EQ(ts.nanos(), c.nanos);
    EXPECT_EQ(FromProtoTime(ts), c.time);
  }
}

struct ProtoDuration {
  absl::Duration duration;
  int64_t seconds;
  int32_t nanos;
};

const ProtoDuration kProtoDurations[] = {
    // Zero.
    {absl::ZeroDuration(), 0, 0},
    // Seconds and nanos.
    {absl::Milliseconds(1500), 1, 500'000'000},
    // Negative: seconds and nanos share the sign, as google.protobuf.Duration requires.
    {-absl::Milliseconds(1500), -1, -500'000'000},
    // Below a second, negative.
    {-absl::Nanoseconds(1), 0, -1},
    // Days.
    {absl::Hours(72), 259'200, 0},
};

TEST(ProtoDurationTest, RoundTrip) {
  for (const ProtoDuration& c : kProtoDurations) {
    SCOPED_TRACE(absl::FormatDuration(c.duration));
    const google::protobuf::Duration d = ToProtoDuration(c.duration);
    EXPECT_EQ(d.seconds(), c.seconds);
    EXPECT_EQ(d.nanos(), c.nanos);
    EXPECT_EQ(FromProtoDuration(d), c.duration);
  }
}

TEST(ProtoDurationTest, ToChronoKeepsMilliseconds) {
  google::protobuf::Duration d;
  d.set_seconds(2);
  d.set_nanos(500'999'999);
  EXPECT_EQ(ToChrono(d), std::chrono::milliseconds(2500));
}

TEST(FakeClockTest, MovesOnlyWhenTold) {
  FakeClock clock(absl::FromUnixSeconds(100));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(100));
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(105));
  clock.Set(absl::FromUnixSeconds(7));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(7));
}

TEST(RealClockTest, IsOneInstanceNearNow) {
  EXPECT_EQ(&RealClock::Get(), &RealClock::Get());
  const absl::Time before = absl::Now();
  const absl::Time now = RealClock::Get().Now();
  EXPECT_GE(now, before);
  EXPECT_LE(now, absl::Now());
}

}  // namespace
}  // namespace medic::common
