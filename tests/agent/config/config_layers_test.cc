// Configuration layers and central policy over them: the merge rules users rely on
// (agent/README.md "Configuration"), table-driven.

#include <filesystem>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "agent/config/agent_layers.h"
#include "common/config/layers.h"
#include "common/config/yaml_proto.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace medic::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

medic::v1::AgentConfig Parse(const std::string& text) {
  medic::v1::AgentConfig config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &config)) << text;
  return config;
}

// One local layer: a YAML file (name and text) or an environment entry.
struct Layer {
  std::string file;  // empty: `text` is an environment entry NAME=VALUE
  std::string text;
};

struct LayerCase {
  const char* name;
  std::vector<Layer> layers;
  std::string expected;  // text format of the whole result; "" when an error is expected
  std::vector<std::pair<std::string, std::string>> origins;  // path -> where
  std::string error = "";                                    // substring of the error
};

// Applies the layers as LoadLocalConfig does: files in order, then the environment.
absl::StatusOr<std::pair<medic::v1::AgentConfig, common::Origins>> ApplyLayers(
    const std::vector<Layer>& layers) {
  test::TempDir dir;
  LayerInputs inputs;
  inputs.config_file = dir.File("agent.yaml");
  inputs.dropin_dir = dir.File("agent.d");
  std::filesystem::create_directory(inputs.dropin_dir);
  for (const Layer& layer : layers) {
    if (layer.file.empty()) {
      inputs.environment.push_back(layer.text);
    } else {
      test::WriteFile(dir.File(layer.file), layer.text);  // agent.yaml or agent.d/NAME
    }
  }
  absl::StatusOr<LocalConfig> local = LoadLocalConfig(inputs, medic::v1::AgentConfig());
  if (!local.ok()) return local.status();
  // Origins name the temp dir; the table names files by their base name.
  common::Origins origins;
  for (auto [path, origin] : local->origins) {
    size_t at;
    while ((at = origin.where.find(dir.path() + "/")) != std::string::npos) {
      origin.where.erase(at, dir.path().size() + 1);
    }
    origins[path] = origin;
  }
  return std::pair(local->config, origins);
}

TEST(ConfigLayersTest, MergeRules) {
  const LayerCase cases[] = {
      // A later layer's scalar replaces an earlier one; the origin names file and line.
      {"scalar_override",
       {{"agent.yaml", "site: hq\ncollector: a:1\n"}, {"agent.d/50-gpo.yaml", "\nsite: branch\n"}},
       R"pb(site: "branch" collector: "a:1")pb",
       {{"site", "agent.d/50-gpo.yaml:2"}, {"collector", "agent.yaml:2"}}},
      // Drop-ins apply in lexical order whatever order they were written in.
      {"dropins_lexical",
       {{"agent.d/20-b.yaml", "site: b\n"}, {"agent.d/10-a.yaml", "site: a\n"}},
       R"pb(site: "b")pb",
       {{"site", "agent.d/20-b.yaml:1"}}},
      // Messages merge setting by setting.
      {"message_merge",
       {{"agent.yaml", "probes:\n  cpu:\n    interval: 5s\n"},
        {"agent.d/10.yaml", "probes:\n  memory:\n    interval: 7s\n"}},
       R"pb(probes {
              cpu { interval { seconds: 5 } }
              memory { interval { seconds: 7 } }
            })pb",
       {{"probes.cpu.interval", "agent.yaml:3"}, {"probes.memory.interval", "agent.d/10.yaml:3"}}},
      // A list replaces the list below it.
      {"list_replace",
       {{"agent.yaml", "labels: [a, b]\n"}, {"agent.d/10.yaml", "labels: [c]\n"}},
       R"pb(labels: "c")pb",
       {{"labels", "agent.d/10.yaml:1"}}},
      // ... unless marked !append; the origin names both layers.
      {"list_append",
       {{"agent.yaml", "labels: [a]\n"}, {"agent.d/10.yaml", "labels: !append [c]\n"}},
       R"pb(labels: "a" labels: "c")pb",
       {{"labels", "agent.yaml:1 + agent.d/10.yaml:1"}}},
      // Environment variables come after every file.
      {"env_over_files",
       {{"agent.d/99.yaml", "collector: file:1\n"}, {"", "MEDIC_COLLECTOR=env:2"}},
       R"pb(collector: "env:2")pb",
       {{"collector", "env MEDIC_COLLECTOR"}}},
      // Nested settings: "__" between the parts of the key path.
      {"env_nested",
       {{"", "MEDIC_PROBES__CPU__INTERVAL=3s"}},
       R"pb(probes { cpu { interval { seconds: 3 } } })pb",
       {{"probes.cpu.interval", "env MEDIC_PROBES__CPU__INTERVAL"}}},
      // Lists from the environment are comma-separated; a leading '+' appends.
      {"env_list_append",
       {{"agent.yaml", "labels: [a]\n"}, {"", "MEDIC_LABELS=+b, c"}},
       R"pb(labels: "a" labels: "b" labels: "c")pb",
       {{"labels", "agent.yaml:1 + env MEDIC_LABELS"}}},
      {"env_list_replace",
       {{"agent.yaml", "labels: [a]\n"},
        {"", "MEDIC_NETWORK__DNS_TEST_NAMES=x.corp,y.corp"},
        {"", "MEDIC_LABELS=b"}},
       R"pb(labels: "b"
            network { dns_test_names: "x.corp" dns_test_names: "y.corp" })pb",
       {{"labels", "env MEDIC_LABELS"}}},
      // A bad value names the file, line and key.
      {"bad_duration_in_dropin",
       {{"agent.yaml", "site: a\n"}, {"agent.d/10.yaml", "probes:\n  cpu:\n    interval: 5x\n"}},
       "",
       {},
       "agent.d/10.yaml:3: probes.cpu.interval: '5x' is not a duration"},
      {"bad_env_value",
       {{"", "MEDIC_HEARTBEAT_INTERVAL=soon"}},
       "",
       {},
       "env MEDIC_HEARTBEAT_INTERVAL: heartbeat_interval: 'soon'"},
      // !append is only for lists.
      {"append_on_scalar",
       {{"agent.yaml", "site: !append hq\n"}},
       "",
       {},
       "agent.yaml:1: site: !append is for lists"},
  };
  for (const LayerCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto result = ApplyLayers(c.layers);
    if (!c.error.empty()) {
      ASSERT_FALSE(result.ok());
      EXPECT_THAT(std::string(result.status().message()), HasSubstr(c.error));
      continue;
    }
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(
        google::protobuf::util::MessageDifferencer::Equals(result->first, Parse(c.expected)))
        << result->first.ShortDebugString();
    for (const auto& [path, where] : c.origins) {
      ASSERT_TRUE(result->second.contains(path)) << path;
      EXPECT_EQ(result->second.at(path).where, where) << path;
    }
  }
}

TEST(ConfigLayersTest, SkipsHiddenAndOtherFilesAndWarnsOfUnknownVariables) {
  test::TempDir dir;
  std::filesystem::create_directory(dir.File("agent.d"));
  test::WriteFile(dir.File("agent.d/.10-editor-swap.yaml"), "site: hidden\n");
  test::WriteFile(dir.File("agent.d/20.yaml.dpkg-old"), "site: old\n");
  test::WriteFile(dir.File("agent.d/30.yaml"), "site: kept\n");
  LayerInputs inputs;
  inputs.config_file = dir.File("agent.yaml");  // missing and not named: fine
  inputs.environment = {"MEDIC_UPDATE_FIXTURES=1", "PATH=/bin"};
  auto local = LoadLocalConfig(inputs, DefaultAgentConfig());
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(local->config.site(), "kept");
  EXPECT_THAT(local->files, ElementsAre(dir.File("agent.d/30.yaml")));
  EXPECT_THAT(local->warnings,
              ElementsAre(HasSubstr("MEDIC_UPDATE_FIXTURES is not an agent setting")));
  // Named explicitly, a missing main file is an error naming it.
  inputs.config_file_required = true;
  auto missing = LoadLocalConfig(inputs, DefaultAgentConfig());
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(dir.File("agent.yaml")));
}

TEST(ConfigLayersTest, EnvironmentNames) {
  EXPECT_EQ(EnvironmentName("collector"), "MEDIC_COLLECTOR");
  EXPECT_EQ(EnvironmentName("probes.cpu.interval"), "MEDIC_PROBES__CPU__INTERVAL");
  EXPECT_EQ(EnvironmentName("network.dns_test_names"), "MEDIC_NETWORK__DNS_TEST_NAMES");
}

// The effective config prints as YAML that loads back to the same config.
TEST(ConfigLayersTest, RenderedConfigLoadsBack) {
  medic::v1::AgentConfig config = DefaultAgentConfig();
  common::Origins origins;
  ASSERT_TRUE(common::MergeYaml(R"(
collector: "c.corp:7070"
labels: [ou-sales, "floor 2"]
log_level: debug
probes:
  cpu: {interval: 1h30m, disabled: false}
  smart: {disabled: true, deadline: 1500ms}
network:
  targets: ["http://intranet/health"]
  packet_loss_pct: 12.5
)",
                                "agent.yaml", &config, &origins)
                  .ok());
  const std::string text = common::RenderConfig(config, origins);
  EXPECT_THAT(text, HasSubstr("collector: \"c.corp:7070\"  # agent.yaml:2"));
  EXPECT_THAT(text, HasSubstr("state_dir: \"/var/lib/medic\"  # default"));
  EXPECT_THAT(text, HasSubstr("    disabled: false  # agent.yaml:6"));
  medic::v1::AgentConfig back;
  ASSERT_TRUE(common::MergeYaml(text, "rendered", &back).ok()) << text;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(back, config))
      << back.ShortDebugString() << "\n"
      << text;
}

struct PolicyCase {
  const char* name;
  std::string local;   // text format
  std::string policy;  // text format of a Policy
  std::string expected;
  std::vector<std::string> refused;  // substrings, in order
};

TEST(ApplyPolicyTest, LocalSafetyWins) {
  const PolicyCase cases[] = {
      // A policy setting is applied over the local value.
      {"applies",
       R"pb(probes { cpu { interval { seconds: 15 } } })pb",
       R"pb(version: "all@1"
            config { probes { cpu { interval { seconds: 2 } } } }
            paths: "probes.cpu.interval")pb",
       R"pb(probes { cpu { interval { seconds: 2 } } })pb",
       {}},
      // A false set by policy counts: it turns a locally disabled probe on.
      {"false_counts",
       R"pb(probes { smart { disabled: true } })pb",
       R"pb(version: "all@1" paths: "probes.smart.disabled")pb",
       R"pb(probes { smart {} })pb",
       {}},
      // ... unless the machine forbids turning that probe on.
      {"forbid_enable",
       R"pb(probes { smart { disabled: true } }
            policy_guard { forbid_enable: "smart" })pb",
       R"pb(version: "all@1" paths: "probes.smart.disabled")pb",
       R"pb(probes { smart { disabled: true } }
            policy_guard { forbid_enable: "smart" })pb",
       {"probes.smart.disabled: probe smart stays off here"}},
      // Turning it off is still allowed.
      {"forbid_enable_allows_off",
       R"pb(policy_guard { forbid_enable: "smart" })pb",
       R"pb(version: "all@1"
            config { probes { smart { disabled: true } } }
            paths: "probes.smart.disabled")pb",
       R"pb(probes { smart { disabled: true } }
            policy_guard { forbid_enable: "smart" })pb",
       {}},
      // A forbidden prefix covers everything under it; the rest of the policy applies.
      {"forbid_prefix",
       R"pb(network { targets: "a:1" }
            policy_guard { forbid: "network" })pb",
       R"pb(version: "site=hq@3"
            config {
              network { targets: "b:1" }
              hardware { load_per_core_high: 4 }
            }
            paths: "network.targets"
            paths: "hardware.load_per_core_high")pb",
       R"pb(network { targets: "a:1" }
            hardware { load_per_core_high: 4 }
            policy_guard { forbid: "network" })pb",
       {"network.targets: forbidden here by policy_guard.forbid (network)"}},
      // Local-only settings are never taken from policy.
      {"local_only",
       R"pb(collector: "mine:1")pb",
       R"pb(version: "all@1"
            config { collector: "theirs:1" }
            paths: "collector")pb",
       R"pb(collector: "mine:1")pb",
       {"collector: set only by this machine's own config"}},
      // An appended list adds to the local one.
      {"append",
       R"pb(network { dns_test_names: "a.corp" })pb",
       R"pb(version: "all@1"
            config { network { dns_test_names: "b.corp" } }
            paths: "network.dns_test_names"
            append_paths: "network.dns_test_names")pb",
       R"pb(network { dns_test_names: "a.corp" dns_test_names: "b.corp" })pb",
       {}},
      // refuse_all: nothing applies, and it says so.
      {"refuse_all",
       R"pb(policy_guard { refuse_all: true })pb",
       R"pb(version: "all@1"
            config { log_level: LOG_LEVEL_DEBUG }
            paths: "log_level")pb",
       R"pb(policy_guard { refuse_all: true })pb",
       {"refused whole"}},
  };
  for (const PolicyCase& c : cases) {
    SCOPED_TRACE(c.name);
    medic::v1::Policy policy;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(c.policy, &policy));
    common::PolicyOutcome outcome = common::ApplyPolicy(Parse(c.local), {}, policy);
    EXPECT_TRUE(
        google::protobuf::util::MessageDifferencer::Equals(outcome.config, Parse(c.expected)))
        << outcome.config.ShortDebugString();
    ASSERT_EQ(outcome.refused.size(), c.refused.size());
    for (size_t i = 0; i < c.refused.size(); ++i) {
      EXPECT_THAT(outcome.refused[i], HasSubstr(c.refused[i]));
    }
  }
}

TEST(MergePolicyLayersTest, MoreSpecificWinsAndLocalOnlyIsRefused) {
  auto policy = common::MergePolicyLayers(
      {{"policy all@1", "probes: {cpu: {interval: 30s}}\nnetwork: {targets: [a:1]}\n"},
       {"policy site=hq@2",
        "probes:\n  cpu:\n    interval: 10s\nnetwork: {targets: !append [b:1]}\n"}},
      "all@1,site=hq@2");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->config().probes().cpu().interval().seconds(), 10);
  EXPECT_THAT(policy->config().network().targets(), ElementsAre("a:1", "b:1"));
  EXPECT_EQ(policy->origins().at("probes.cpu.interval"), "policy site=hq@2:3");
  // all@1 replaced the list, so the merged policy replaces the machine's list too.
  EXPECT_THAT(policy->append_paths(), IsEmpty());

  auto refused = common::MergePolicyLayers({{"policy all@1", "site: hq\n"}}, "all@1");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("policy all@1:1: site: is set only by each machine's own config"));
}

}  // namespace
}  // namespace medic::agent
