#include "common/time/clock.h"

#include <cctype>
#include <charconv>
#include <cstdint>

#include "common/strings/str_cat.h"

namespace medic::common {

const RealClock& RealClock::Get() {
  static const RealClock* const clock = new RealClock();
  return *clock;
}

google::protobuf::Timestamp ToProtoTime(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t nanos = absl::ToUnixNanos(t);
  ts.set_seconds(nanos / 1'000'000'000);
  ts.set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
  if (ts.nanos() < 0) {
    ts.set_seconds(ts.seconds() - 1);
    ts.set_nanos(ts.nanos() + 1'000'000'000);
  }
  return ts;
}

absl::Time FromProtoTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  google::protobuf::Duration out;
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  out.set_seconds(nanos / 1'000'000'000);
  out.set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
  return out;
}

absl::Duration FromProtoDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::StatusOr<absl::Duration> ParseDuration(std::string_view text) {
  const std::string_view original = text;
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(common::StrCat("'", original, "' is not a duration (", why,
                                                     "); write e.g. 500ms, 30s, 5m, 1h"));
  };
  if (text == "0") return absl::ZeroDuration();
  if (text.empty()) return bad("empty");
  absl::Duration total = absl::ZeroDuration();
  while (!text.empty()) {
    size_t digits = 0;
    while (digits < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) {
      ++digits;
    }
    if (digits == 0) return bad("expected a number");
    double value = 0;
    const char* end = text.data() + digits;
    if (auto [ptr, ec] = std::from_chars(text.data(), end, value);
        ec != std::errc() || ptr != end) {
      return bad("expected a number");
    }
    text.remove_prefix(digits);
    size_t unit_len = 0;
    while (unit_len < text.size() && std::isalpha(static_cast<unsigned char>(text[unit_len]))) {
      ++unit_len;
    }
    const std::string_view unit = text.substr(0, unit_len);
    text.remove_prefix(unit_len);
    if (unit == "ms") {
      total += absl::Milliseconds(value);
    } else if (unit == "s") {
      total += absl::Seconds(value);
    } else if (unit == "m") {
      total += absl::Minutes(value);
    } else if (unit == "h") {
      total += absl::Hours(value);
    } else if (unit == "d") {
      total += absl::Hours(24 * value);
    } else if (unit.empty()) {
      return bad("missing unit");
    } else {
      return bad(common::StrCat("unknown unit '", unit, "'"));
    }
  }
  return total;
}

std::string HumanDuration(absl::Duration d) {
  if (d < absl::ZeroDuration()) return common::StrCat("-", HumanDuration(-d));
  const int64_t ms = absl::ToInt64Milliseconds(d);
  if (ms < 1000) return common::StrCat(ms, "ms");
  int64_t s = ms / 1000;
  const int64_t days = s / 86400, hours = (s % 86400) / 3600, minutes = (s % 3600) / 60;
  s %= 60;
  if (days > 0)
    return hours > 0 ? common::StrCat(days, "d ", hours, "h") : common::StrCat(days, "d");
  if (hours > 0)
    return minutes > 0 ? common::StrCat(hours, "h ", minutes, "m") : common::StrCat(hours, "h");
  if (minutes > 0)
    return s > 0 ? common::StrCat(minutes, "m ", s, "s") : common::StrCat(minutes, "m");
  return common::StrCat(s, "s");
}

}  // namespace medic::common
