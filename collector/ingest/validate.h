#pragma once

#include "absl/status/status.h"
#include "medic/v1/agent.pb.h"

namespace medic::collector {

// Most elements one repeated field of an agent message may hold. The largest honest one is a
// snapshot's observations or a machine's mounts: hundreds, not tens of thousands.
inline constexpr int kMaxRepeatedElements = 10'000;
// Deepest nesting of messages an agent message may have (ours are less than 10 deep).
inline constexpr int kMaxMessageDepth = 32;

// Checks a message an agent sent before anything of it is stored or acted upon: every enum
// holds a value this collector knows (a bogus one would be stored and shown as a number),
// every string is valid UTF-8, no repeated field holds more than kMaxRepeatedElements, no
// message nests deeper than kMaxMessageDepth. InvalidArgument names the first offending field
// by its path ("snapshot.findings[3].severity"). Pure: fuzzed on arbitrary bytes.
absl::Status ValidateAgentMessage(const medic::v1::AgentMessage& message);

}  // namespace medic::collector
