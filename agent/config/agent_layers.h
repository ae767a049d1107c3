#pragma once

// The agent's local configuration layers (agent/README.md "Configuration"): the main file,
// its drop-in directory in lexical order, then MEDIC_* environment variables. Flags are the
// last local layer and go through common::MergeSetting in main.cc.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/yaml_proto.h"
#include "medic/v1/config.pb.h"

namespace medic::agent {

inline constexpr std::string_view kDefaultConfigFile = "/etc/medic/agent.yaml";

struct LayerInputs {
  std::string config_file = std::string(kDefaultConfigFile);
  // A missing config_file is an error only when it was named explicitly (--config).
  bool config_file_required = false;
  // Default: "agent.d" beside config_file.
  std::string dropin_dir;
  // "NAME=VALUE" entries, as in environ; only MEDIC_* ones are read.
  std::vector<std::string> environment;
};

struct LocalConfig {
  medic::v1::AgentConfig config;
  common::Origins origins;
  std::vector<std::string> files;     // the files read, in order
  std::vector<std::string> warnings;  // MEDIC_* variables that are not settings
};

// "probes.cpu.interval" -> "MEDIC_PROBES__CPU__INTERVAL": MEDIC_, then the key path in upper
// case with "__" between its parts (field names hold single underscores).
std::string EnvironmentName(std::string_view key_path);

// Layers `inputs` over `defaults`. InvalidArgument naming file and line (or the variable) and
// the key for the first bad value; the drop-in directory may be missing.
absl::StatusOr<LocalConfig> LoadLocalConfig(const LayerInputs& inputs,
                                            medic::v1::AgentConfig defaults);

}  // namespace medic::agent
