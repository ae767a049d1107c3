#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace medic::common {

// Translates an errno value into a Status with `context` (usually the path or call) in front:
// ENOENT → NotFound, EACCES/EPERM → PermissionDenied, ENOSPC/EDQUOT → ResourceExhausted,
// EAGAIN/EINTR/ETIMEDOUT → Unavailable, anything else → Internal.
absl::Status ErrnoToStatus(int error_number, std::string_view context);

}  // namespace medic::common
