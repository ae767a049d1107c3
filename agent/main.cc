// medic-agent: collects this machine's health and streams it to the collector.

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "agent/agent.h"
#include "agent/probes/registry.h"
#include "collector/cli/render.h"
#include "common/config/yaml_proto.h"
#include "common/log/log.h"
#include "common/proto/json.h"
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
  std::string config_file, collector, root, state_dir, hostname, site, log_level;
  std::vector<std::string> only_probes;
  bool once = false, json = false, insecure = false;
  std::string ca_file;
  app.add_option("--config", config_file, "YAML config file (AgentConfig)");
  app.add_option("--collector", collector, "collector HOST:PORT to stream to");
  app.add_option("--root", root, "read every probe source under this directory (default /)");
  app.add_option("--state-dir", state_dir,
                 "where the agent keeps its identity "
                 "(default /var/lib/medic)");
  app.add_option("--hostname", hostname, "the name to report (default the machine's)");
  app.add_option("--site", site, "the site this machine belongs to");
  app.add_option("--log-level", log_level, "trace, debug, info, warning or error");
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
  app.set_version_flag("--version", MEDIC_VERSION);
  CLI11_PARSE(app, argc, argv);

  medic::v1::AgentConfig config = medic::agent::DefaultAgentConfig();
  // An enrollment token is a secret: it is read from config, a file or the environment,
  // never from the command line (where every user sees it in ps).
  if (!config_file.empty()) {
    if (absl::Status s = medic::common::MergeYamlFile(config_file, &config); !s.ok()) {
      std::cerr << "medic-agent: " << s.message() << "\n";
      return 2;
    }
  }
  if (!collector.empty()) config.set_collector(collector);
  if (!root.empty()) config.set_root(root);
  if (!state_dir.empty()) config.set_state_dir(state_dir);
  if (!hostname.empty()) config.set_hostname(hostname);
  if (!site.empty()) config.set_site(site);
  if (!ca_file.empty()) config.mutable_security()->set_ca_file(ca_file);
  if (!log_level.empty()) {
    medic::v1::LogLevel level;
    if (!medic::common::ParseLogLevel(log_level, &level)) {
      std::cerr << "medic-agent: --log-level '" << log_level
                << "' is not one of trace, debug, info, warning, error\n";
      return 2;
    }
    config.set_log_level(level);
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
  if (absl::Status s = medic::agent::ValidateAgentConfig(config); !s.ok()) {
    std::cerr << "medic-agent: " << (config_file.empty() ? "" : config_file + ": ") << s.message()
              << "\n";
    return 2;
  }
  medic::common::InitLogging("medic-agent", config.log_level());

  medic::agent::Agent agent(config, insecure);
  if (once) {
    medic::v1::Snapshot snapshot = agent.CollectOnce();
    std::cout << (json ? medic::common::ToJson(snapshot) + "\n"
                       : RenderLocal(snapshot, config.hostname()));
    return 0;
  }
  if (config.collector().empty()) {
    std::cerr << "medic-agent: no collector to report to — set --collector HOST:PORT (or "
                 "`collector:` in the config), or use --once to print this machine's health\n";
    return 2;
  }
  if (absl::Status s = agent.Run(); !s.ok()) {
    std::cerr << "medic-agent: " << s.message() << "\n";
    return 1;
  }
  return 0;
}
