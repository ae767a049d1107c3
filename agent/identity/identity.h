#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace medic::agent {

// The machine's stable identity: 32 hex digits generated once and kept in
// STATE_DIR/machine-id, so a renamed or re-addressed machine stays the same machine.
// Creates the directory and the file when missing (written atomically). Fails, naming the
// path and what to do, when the directory cannot be written or the file holds something else.
absl::StatusOr<std::string> LoadOrCreateMachineId(const std::string& state_dir);

// A fresh random epoch for this process: non-zero, different at every start.
uint64_t NewEpoch();

}  // namespace medic::agent
