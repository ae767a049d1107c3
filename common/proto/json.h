#pragma once

#include <string>

#include "google/protobuf/message.h"

namespace medic::common {

// The proto JSON mapping of `message`, indented for people, as `--json` prints it.
std::string ToJson(const google::protobuf::Message& message);

// The same on one line, for streams of messages (one JSON object per line).
std::string ToJsonLine(const google::protobuf::Message& message);

}  // namespace medic::common
