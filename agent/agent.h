#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/diagnostics/catalog.h"
#include "agent/scheduler/finding_tracker.h"
#include "agent/scheduler/scheduler.h"
#include "agent/transport/collector_stream.h"
#include "agent/transport/enrollment.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/signal_set.hpp"
#include "boost/asio/thread_pool.hpp"
#include "common/config/yaml_proto.h"
#include "common/fs/file_system.h"
#include "common/process/command_runner.h"
#include "medic/v1/config.pb.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

// The agent's settings with every default filled in.
medic::v1::AgentConfig DefaultAgentConfig();

// Checks a loaded config for values the agent cannot run with, naming the key.
absl::Status ValidateAgentConfig(const medic::v1::AgentConfig& config);

// The whole agent: probes on their schedule, the findings they judge, and (when a collector
// is configured) the stream that carries both to it.
class Agent {
 public:
  // `config` is the local config (files, environment, flags); `origins` says where each of
  // its settings came from, for the effective config once policy is layered over it.
  // `insecure` (tests only): a plaintext channel, no enrollment or client certificate.
  explicit Agent(medic::v1::AgentConfig config, bool insecure = false,
                 common::Origins origins = {});

  // Runs every probe once and returns what the agent knows: the snapshot it would send.
  medic::v1::Snapshot CollectOnce();

  // Runs until SIGINT or SIGTERM: probes on schedule, streaming to the collector. Fails
  // before starting when the identity in the state dir cannot be loaded or created.
  absl::Status Run();

 private:
  // Records a cycle's reports; what changed goes to the collector as one delta.
  void OnCycle(std::vector<ProbeRun> cycle);
  // On the io thread: runs a live diagnostic on the diagnostics pool; its result goes back
  // to the collector as a sequenced record.
  void OnDiagnosticRequest(const medic::v1::DiagnosticRequest& request);
  medic::v1::Snapshot BuildSnapshot() const;
  medic::v1::Topology BuildTopology() const;
  std::string Hostname() const;
  // Layers central policy over the local config where it allows, reschedules the probes and
  // tells the collector what was applied and what refused. On the io thread.
  void OnPolicy(const medic::v1::Policy& policy);

  const medic::v1::AgentConfig local_config_;
  const common::Origins local_origins_;
  medic::v1::AgentConfig config_;  // effective: local_config_ with policy applied
  common::RootedFileSystem fs_;
  std::string proxy_;  // for topology: config, else the environment at start
  common::RealCommandRunner commands_;
  boost::asio::io_context io_;
  FindingTracker tracker_;
  Scheduler scheduler_;
  std::unique_ptr<CollectorStream> stream_;
  bool insecure_ = false;
  std::unique_ptr<CertificateRenewer> renewer_;           // with TLS
  std::map<std::string, medic::v1::ProbeReport> latest_;  // by probe name
  // Each latest report without its times, serialized: what the next one is compared with.
  std::map<std::string, std::string> latest_content_;
  std::string last_topology_;  // serialized, to send topology only on change
  diagnostics::Catalog catalog_;
  // Last: joined (a running check finishes, within its deadline) before what it uses goes.
  std::unique_ptr<boost::asio::thread_pool> diagnostics_pool_;
};

}  // namespace medic::agent
