#pragma once

// Pure logic of the time probe: timedatectl, chronyc and the kernel's clock state. No I/O.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

inline constexpr std::string_view kOsTimeUnsynced = "os.time_unsynced";

// Parses `timedatectl show` (KEY=value lines) into a TimeSyncStatus with source "timedatectl":
// synchronized from NTPSynchronized, detail "NTP=<NTP>" (whether a sync service is enabled).
// Offsets are unknown. InvalidArgument when NTPSynchronized is missing or neither yes nor no.
absl::StatusOr<medic::v1::TimeSyncStatus> ParseTimedatectl(std::string_view text);

// Parses `chronyc -c tracking` (one CSV line: reference id, reference name, stratum, reference
// time, system time offset, last offset, … , leap status) into a TimeSyncStatus with source
// "chrony": synchronized unless the leap status is "Not synchronised" or the stratum is 0; the
// offset is the system time field (seconds); detail "reference NAME, stratum N". InvalidArgument
// for fewer than 14 fields or non-numeric stratum/offset.
absl::StatusOr<medic::v1::TimeSyncStatus> ParseChronyTracking(std::string_view text);

// What adjtimex(2) says of the kernel clock.
struct KernelClock {
  bool unsynchronized = false;  // STA_UNSYNC set (adjtimex returned TIME_ERROR)
  double est_error_seconds = 0;
};

// The TimeSyncStatus with source "kernel" for `clock`: synchronized unless STA_UNSYNC; the
// estimated error as offset when synchronized (unknown otherwise).
medic::v1::TimeSyncStatus FromKernelClock(const KernelClock& clock);

// The os.time_unsynced finding (warning, resource empty) when status says the clock is not
// synchronized: "Clock not synchronised (timedatectl: NTP=yes)", with the offset when known.
// Evidence holds source, detail and offset_seconds when known. nullopt when synchronized or
// when no source could tell (source empty).
std::optional<medic::v1::Finding> JudgeTimeSync(const medic::v1::TimeSyncStatus& status);

}  // namespace medic::agent
