// medic-agent: collects this machine's health and streams it to the collector.

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_join.h"
#include "agent/agent.h"
#include "agent/config/agent_layers.h"
#include "agent/probes/registry.h"
#include "collector/cli/render.h"
#include "common/config/layers.h"
#include "common/config/yaml_proto.h"
#include "common/log/log.h"
#include "common/proto/json.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"

namespace {

// What `--once` prints for people: the same view `medic health` gives of a machine.
std::string RenderLocal(const medic::v1::Snapshot& snapshot, const std::string& hostname) {
  medic::v1::MachineHealth health;
  health.mutable_machine()->set_hostname(hostname);
  health.mutable_machine()->set_state(medic::v1::MACHINE_STATE_ONLINE);
  health.mutable_machine()->set_agent_version(MEDIC_VERSION);
  *health.mutable_machine()->mutable_last_seen() = snapshot.taken_at();
  *health.mutable_findings() = snapshot.findings();
  *health.mutable_reports() = snapshot.reports();
  *health.mutable_topology() = snapshot.topology();
  for (const auto& r : snapshot.reports()) {
    if (r.has_os()) health.mutable_machine()->set_os(r.os().name());
    if (r.has_os() && hostname.empty()) health.mutable_machine()->set_hostname(r.os().hostname());
  }
  return medic::cli::RenderHealth(health, absl::Now(), false);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"medic-agent: collects this machine's health and streams it to the collector"};
  std::string config_file, config_dir, collector, root, state_dir, hostname, site, log_level;
  std::vector<std::string> only_probes, settings;
  bool once = false, json = false, print_config = false, insecure = false;
  std::string ca_file;
  app.add_option("--config", config_file,
                 "main YAML config file (AgentConfig); default /etc/medic/agent.yaml, its "
                 "drop-ins in agent.d/ beside it");
  app.add_option("--config-dir", config_dir,
                 "drop-in directory, every *.yaml in lexical order (default agent.d/ beside "
                 "the main file)");
  app.add_option("--collector", collector, "collector HOST:PORT to stream to");
  app.add_option("--root", root, "read every probe source under this directory (default /)");
  app.add_option("--state-dir", state_dir,
                 "where the agent keeps its identity "
                 "(default /var/lib/medic)");
  app.add_option("--hostname", hostname, "the name to report (default the machine's)");
  app.add_option("--site", site, "the site this machine belongs to");
  app.add_option("--log-level", log_level, "trace, debug, info, warning or error");
  app.add_option("--set", settings,
                 "any setting as KEY.PATH=VALUE (e.g. probes.cpu.interval=5s; lists "
                 "comma-separated, a leading + appends); repeatable");
  app.add_option("--probes", only_probes,
                 "run only these probes, comma-separated (e.g. --probes printers,network)")
      ->delimiter(',');
  app.add_option("--ca-file", ca_file,
                 "the collector's CA certificate to pin (security.ca_file; the collector's "
                 "ca.pem)");
  app.add_flag("--insecure", insecure,
               "TEST MODE: plaintext channel to the collector, no enrollment or certificate");
  app.add_flag("--once", once, "collect once, print the report and exit (no collector)");
  app.add_flag("--json", json, "with --once: print the report as proto JSON");
  app.add_flag("--print-config", print_config,
               "print the effective local config, each value with where it came from, and exit");
  app.set_version_flag("--version", MEDIC_VERSION);
  CLI11_PARSE(app, argc, argv);

  // An enrollment token is a secret: it is read from config, a file or the environment,
  // never from the command line (where every user sees it in ps).
  medic::agent::LayerInputs inputs;
  if (!config_file.empty()) {
    inputs.config_file = config_file;
    inputs.config_file_required = true;
  }
  inputs.dropin_dir = config_dir;
  for (char** env = environ; *env != nullptr; ++env) inputs.environment.emplace_back(*env);
  absl::StatusOr<medic::agent::LocalConfig> local =
      medic::agent::LoadLocalConfig(inputs, medic::agent::DefaultAgentConfig());
  if (!local.ok()) {
    std::cerr << "medic-agent: " << local.status().message() << "\n";
    return 2;
  }
  medic::v1::AgentConfig& config = local->config;
  // Flags are the last local layer, each recorded as its own origin.
  std::vector<std::pair<std::string, std::string>> flag_settings;  // source, KEY=VALUE
  for (const auto& [flag, key, value] :
       {std::tuple{"--collector", "collector", &collector}, std::tuple{"--root", "root", &root},
        std::tuple{"--state-dir", "state_dir", &state_dir},
        std::tuple{"--hostname", "hostname", &hostname}, std::tuple{"--site", "site", &site},
        std::tuple{"--log-level", "log_level", &log_level},
        std::tuple{"--ca-file", "security.ca_file", &ca_file}}) {
    if (!value->empty()) flag_settings.emplace_back(flag, medic::common::StrCat(key, "=", *value));
  }
  for (const std::string& setting : settings) {
    flag_settings.emplace_back(medic::common::StrCat("flag --set ", setting), setting);
  }
  for (const auto& [source, setting] : flag_settings) {
    const size_t eq = setting.find('=');
    if (eq == std::string::npos) {
      std::cerr << "medic-agent: " << source << ": expected KEY.PATH=VALUE\n";
      return 2;
    }
    const std::string where =
        source.starts_with("flag ") ? source : medic::common::StrCat("flag ", source);
    if (absl::Status s = medic::common::MergeSetting(setting.substr(0, eq), setting.substr(eq + 1),
                                                     where, &config, &local->origins);
        !s.ok()) {
      std::cerr << "medic-agent: " << s.message() << "\n";
      return 2;
    }
  }
  if (!only_probes.empty()) {
    if (absl::Status s = medic::agent::KeepOnlyProbes(only_probes, config.mutable_probes());
        !s.ok()) {
      std::cerr << "medic-agent: --probes: " << s.message() << "\n";
      return 2;
    }
  }
  if (json && !once) {
    std::cerr << "medic-agent: --json goes with --once\n";
    return 2;
  }
  for (const std::string& warning : local->warnings)
    std::cerr << "medic-agent: " << warning << "\n";
  if (print_config) {
    std::cout << "# medic-agent " << MEDIC_VERSION << ": effective local config (central policy, "
              << "when the collector sends one, is layered over it where allowed)\n"
              << "# layers: "
              << (local->files.empty() ? std::string("no files")
                                       : absl::StrJoin(local->files, ", "))
              << ", MEDIC_* environment, flags\n"
              << medic::common::RenderConfig(config, local->origins);
  }
  if (absl::Status s = medic::agent::ValidateAgentConfig(config); !s.ok()) {
    const std::string key(s.message().substr(0, s.message().find(':')));
    const auto origin = local->origins.find(key);
    std::cerr << "medic-agent: "
              << (origin == local->origins.end() ? "" : origin->second.where + ": ") << s.message()
              << "\n";
    return 2;
  }
  if (print_config) return 0;
  medic::common::InitLogging("medic-agent", config.log_level());

  medic::agent::Agent agent(config, insecure, local->origins);
  if (once) {
    medic::v1::Snapshot snapshot = agent.CollectOnce();
    std::cout << (json ? medic::common::ToJson(snapshot) + "\n"
                       : RenderLocal(snapshot, config.hostname()));
    return 0;
  }
  if (config.collector().empty()) {
    std::cerr << "medic-agent: no collector to report to — set --collector HOST:PORT (or "
                 "`collector:` in the config, or MEDIC_COLLECTOR), or use --once to print this "
                 "machine's health\n";
    return 2;
  }
  if (absl::Status s = agent.Run(); !s.ok()) {
    std::cerr << "medic-agent: " << s.message() << "\n";
    return 1;
  }
  return 0;
}
