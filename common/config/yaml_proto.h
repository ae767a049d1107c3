#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace medic::common {

// Config files are YAML mapped onto config protos (AgentConfig, CollectorConfig):
// - a mapping key is a proto field name; an unknown key is an error;
// - scalars convert to the field's type (bool: true/false; enums: the value's name, with or
//   without the enum's prefix, any case: "debug" or "LOG_LEVEL_DEBUG");
// - google.protobuf.Duration takes "500ms", "30s", "1h30m" (common/time ParseDuration);
// - repeated fields take a sequence; map<string, string> fields take a mapping;
// - an empty document leaves `message` as it was.
// Fields present in the YAML are merged into `message` (scalars replace, repeated fields
// replace, messages merge), so a file can be layered over defaults.
//
// On failure returns InvalidArgument whose message names the file, line and key path, e.g.
//   /etc/medic/agent.yaml:7: probes.cpu.interval: '5x' is not a duration (unknown unit 'x')
//   /etc/medic/agent.yaml:3: unknown key 'colector' in AgentConfig (did you mean 'collector'?)
// and leaves `message` unspecified.
absl::Status MergeYaml(std::string_view yaml_text, std::string_view file_name,
                       google::protobuf::Message* message);

// Reads `path` and merges it as above. NotFound / PermissionDenied when the file cannot be
// read, naming the path.
absl::Status MergeYamlFile(std::string_view path, google::protobuf::Message* message);

}  // namespace medic::common
