#pragma once

// Configuration layers and central policy over them (deployment issue 12). The rules, in full
// in agent/README.md "Configuration":
// - layers apply in order (files, drop-ins, environment, flags, then policy); a later layer
//   wins for every setting it sets;
// - scalars replace, messages merge setting by setting, lists replace unless marked append
//   (`!append` in YAML, a leading '+' in an environment variable or --set);
// - policy never sets a local_only field, nor one the machine's policy_guard forbids.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/yaml_proto.h"
#include "google/protobuf/message.h"
#include "medic/v1/agent.pb.h"
#include "medic/v1/config.pb.h"

namespace medic::common {

// One policy's part of what a machine gets: "site=hq@3" and its YAML.
struct PolicyLayer {
  std::string source;
  std::string yaml;
};

// Merges policy layers, least specific first, into one Policy (config, paths set and lists
// appended to) under `version`. InvalidArgument naming the layer, line and key for YAML that
// does not fit AgentConfig or sets a local_only setting.
absl::StatusOr<medic::v1::Policy> MergePolicyLayers(const std::vector<PolicyLayer>& layers,
                                                    std::string_view version);

// A machine's effective config: its local config with `policy` applied where allowed.
struct PolicyOutcome {
  medic::v1::AgentConfig config;
  Origins origins;
  // One line per setting refused: "network.targets: forbidden by this machine's
  // policy_guard.forbid (network)".
  std::vector<std::string> refused;
};
PolicyOutcome ApplyPolicy(const medic::v1::AgentConfig& local, const Origins& local_origins,
                          const medic::v1::Policy& policy);

// True when `path` ("collector", "reconnect.max_backoff") is, or lies under, a local_only
// field of AgentConfig.
bool IsLocalOnly(std::string_view path);

// `config` without its local_only settings except policy_guard: what an agent tells the
// collector about its local config (no addresses, identities or secrets).
medic::v1::AgentConfig ShareableLocalConfig(const medic::v1::AgentConfig& config);

// The config as YAML that MergeYaml reads back, every set value followed by a comment naming
// where it came from (`origins`; `unset` for what no layer set).
std::string RenderConfig(const google::protobuf::Message& config, const Origins& origins,
                         std::string_view unset = "default");

}  // namespace medic::common
