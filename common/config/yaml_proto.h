#pragma once

#include <map>
#include <string>
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
// replace, messages merge), so a file can be layered over defaults. A list tagged `!append`
// (`labels: !append [dept-sales]`) is added to the list of the layers below instead of
// replacing it.
//
// On failure returns InvalidArgument whose message names the file, line and key path, e.g.
//   /etc/medic/agent.yaml:7: probes.cpu.interval: '5x' is not a duration (unknown unit 'x')
//   /etc/medic/agent.yaml:3: unknown key 'colector' in AgentConfig (did you mean 'collector'?)
// and leaves `message` unspecified.
absl::Status MergeYaml(std::string_view yaml_text, std::string_view file_name,
                       google::protobuf::Message* message);

// Where a setting's value came from: "FILE:LINE", "env MEDIC_SITE", "flag --site",
// "policy site=hq@3:4". `appended` when every layer that set the list appended to it.
struct Origin {
  std::string where;
  bool appended = false;
};
// Key path ("probes.cpu.interval", "labels") -> where its value came from. Lists and maps are
// one entry (no index); messages have entries only for the leaves set inside them.
using Origins = std::map<std::string, Origin>;

// As MergeYaml, and records in `origins` (when not null) the path of every value set, with
// "FILE:LINE"; an appended list's origin names each layer that added to it. On failure
// `origins` is left as it was.
absl::Status MergeYaml(std::string_view yaml_text, std::string_view file_name,
                       google::protobuf::Message* message, Origins* origins);

// Merges one setting given as text (an environment variable, a command-line flag) into
// `message`: `key_path` is dotted ("probes.cpu.interval"); `value` is the scalar's text, or
// for a list comma-separated items (a leading '+' appends them instead: "+dept-sales"), or
// for a map "k=v,k2=v2". Errors name `source` ("env MEDIC_PROBES__CPU__INTERVAL") and the
// key path, as MergeYaml's do; `origins` records `source`.
absl::Status MergeSetting(std::string_view key_path, std::string_view value,
                          std::string_view source, google::protobuf::Message* message,
                          Origins* origins);

// Reads `path` and merges it as above. NotFound / PermissionDenied when the file cannot be
// read, naming the path.
absl::Status MergeYamlFile(std::string_view path, google::protobuf::Message* message,
                           Origins* origins = nullptr);

}  // namespace medic::common
