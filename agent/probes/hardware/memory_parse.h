#pragma once

// Pure parser for /proc/meminfo. No I/O; builds on every platform.

#include <string_view>

#include "absl/status/statusor.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

// Parses /proc/meminfo into the memory probe's body, converting kB to bytes. Unknown keys are
// ignored. Kernels before 3.14 have no MemAvailable; then available is MemFree + Buffers +
// Cached. used = total - available. Swap fields stay 0 when the machine has no swap.
// InvalidArgument if MemTotal is missing, or a known key's value is not a number.
absl::StatusOr<medic::v1::MemoryStatus> ParseMemInfo(std::string_view text);

}  // namespace medic::agent
