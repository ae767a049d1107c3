// medic-collector: receives agent streams, keeps the fleet's state, serves technicians.

#include <signal.h>

#include <cstdio>
#include <iostream>
#include <optional>

#include "CLI/CLI.hpp"
#include "collector/collector.h"
#include "collector/store/pg_db.h"
#include "common/config/yaml_proto.h"
#include "common/log/log.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  CLI::App app{
      "medic-collector: receives agent streams, keeps the fleet's state, serves "
      "technicians"};
  std::string config_file, listen, db, log_level;
  std::optional<std::string> http_listen;
  app.add_option("--config", config_file, "YAML config file (CollectorConfig)");
  app.add_option("--listen", listen,
                 "HOST:PORT to serve agents and technicians on "
                 "(default 127.0.0.1:7070; port 0 picks a free one)");
  app.add_option("--http-listen", http_listen,
                 "HOST:PORT of the web console, JSON API and /metrics (default 127.0.0.1:7080; "
                 "port 0 picks a free one; \"\" turns it off)");
  app.add_option("--db", db,
                 "SQLite database file (default /var/lib/medic/collector.db), or a "
                 "postgresql://USER@HOST:PORT/DATABASE URI shared by several replicas");
  app.add_option("--log-level", log_level, "trace, debug, info, warning or error");
  bool insecure = false;
  app.add_flag("--insecure", insecure,
               "TEST MODE: plaintext, no agent certificates, no technician authentication; "
               "loopback addresses only");
  app.set_version_flag("--version", MEDIC_VERSION);
  CLI11_PARSE(app, argc, argv);

  medic::v1::CollectorConfig config = medic::collector::DefaultCollectorConfig();
  if (!config_file.empty()) {
    if (absl::Status s = medic::common::MergeYamlFile(config_file, &config); !s.ok()) {
      std::cerr << "medic-collector: " << s.message() << "\n";
      return 2;
    }
  }
  if (!listen.empty()) config.set_listen(listen);
  if (!db.empty()) config.set_db(db);
  if (http_listen.has_value()) config.set_http_listen(*http_listen);
  if (!log_level.empty()) {
    medic::v1::LogLevel level;
    if (!medic::common::ParseLogLevel(log_level, &level)) {
      std::cerr << "medic-collector: --log-level '" << log_level
                << "' is not one of trace, debug, info, warning, error\n";
      return 2;
    }
    config.set_log_level(level);
  }
  medic::common::InitLogging("medic-collector", config.log_level());

  // Signals are taken by sigwait below, so block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto collector = medic::collector::Collector::Start(config, insecure);
  if (!collector.ok()) {
    std::cerr << "medic-collector: " << collector.status().message() << "\n";
    return 1;
  }
  // Scripts and tests read this line to learn the port.
  const std::string database =
      medic::collector::IsPostgresUri(config.db())
          ? "postgresql " + medic::collector::DescribePostgresTarget(config.db())
          : config.db();
  std::printf("medic-collector listening on %s (database %s)\n", (*collector)->address().c_str(),
              database.c_str());
  if (!insecure) {
    std::printf("medic-collector CA %s, admin token file %s\n",
                (*collector)->security()->ca_file().c_str(),
                (*collector)->security()->admin_token_file().c_str());
  }
  if (!(*collector)->web_url().empty()) {
    std::printf("medic-collector web console on %s\n", (*collector)->web_url().c_str());
  }
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  spdlog::info("{}: shutting down", signal_number == SIGINT ? "interrupted" : "terminated");
  (*collector)->Shutdown(absl::Seconds(5));
  collector->reset();
  spdlog::info("stopped");
  return 0;
}
