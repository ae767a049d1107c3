#include "agent/agent.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <cstdlib>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/identity/identity.h"
#include "agent/probes/network/network_checks.h"
#include "agent/probes/registry.h"
#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/post.hpp"
#include "common/config/layers.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"
#include "spdlog/spdlog.h"

namespace medic::agent {
namespace {

// The network a CIDR address belongs to: "10.1.0.23/24" → "10.1.0.0/24". Empty for
// addresses that say nothing about shared topology (loopback, link-local) or do not parse.
std::string SubnetOf(std::string_view cidr) {
  std::vector<std::string> parts = absl::StrSplit(absl::string_view(cidr.data(), cidr.size()), '/');
  if (parts.size() != 2) return "";
  int prefix = 0;
  try {
    prefix = std::stoi(parts[1]);
  } catch (...) {
    return "";
  }
  unsigned char bytes[16] = {};
  const bool v4 = parts[0].find(':') == std::string::npos;
  const int family = v4 ? AF_INET : AF_INET6;
  const int bits = v4 ? 32 : 128;
  if (prefix < 0 || prefix > bits || inet_pton(family, parts[0].c_str(), bytes) != 1) return "";
  if (v4 && bytes[0] == 127) return "";
  if (!v4 && ((bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80) || parts[0] == "::1")) return "";
  for (int bit = prefix; bit < bits; ++bit) bytes[bit / 8] &= ~(0x80 >> (bit % 8));
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes, text, sizeof(text));
  return common::StrCat(text, "/", prefix);
}

// The body of a report without its times, to tell whether anything changed.
std::string Content(const medic::v1::ProbeReport& report) {
  medic::v1::ProbeReport copy = report;
  copy.clear_collected_at();
  copy.clear_took();
  return copy.SerializeAsString();
}

}  // namespace

medic::v1::AgentConfig DefaultAgentConfig() {
  medic::v1::AgentConfig config;
  config.set_state_dir("/var/lib/medic");
  config.set_root("/");
  *config.mutable_heartbeat_interval() = common::ToProtoDuration(absl::Seconds(15));
  *config.mutable_reconnect()->mutable_initial_backoff() =
      common::ToProtoDuration(absl::Seconds(1));
  *config.mutable_reconnect()->mutable_max_backoff() = common::ToProtoDuration(absl::Seconds(60));
  return config;
}

absl::Status ValidateAgentConfig(const medic::v1::AgentConfig& config) {
  if (!config.collector().empty() && config.collector().find(':') == std::string::npos) {
    return absl::InvalidArgumentError(common::StrCat(
        "collector: '", config.collector(), "' is not HOST:PORT (e.g. collector.corp:7070)"));
  }
  if (common::FromProtoDuration(config.heartbeat_interval()) < absl::Seconds(1)) {
    return absl::InvalidArgumentError("heartbeat_interval: must be at least 1s");
  }
  const auto& r = config.reconnect();
  if (common::FromProtoDuration(r.initial_backoff()) <= absl::ZeroDuration() ||
      common::FromProtoDuration(r.max_backoff()) < common::FromProtoDuration(r.initial_backoff())) {
    return absl::InvalidArgumentError(
        "reconnect: initial_backoff must be above 0 and max_backoff at least initial_backoff");
  }
  RETURN_IF_ERROR(diagnostics::ValidateDiagnosticsConfig(config.diagnostics()));
  return ValidateNetworkConfig(config.network());
}

namespace {

// The proxy this machine's programs use: network.proxy from config, else the agent's own
// environment (the variables curl, apt and most tools honour), https first.
std::string ProxyOf(const medic::v1::AgentConfig& config) {
  if (!config.network().proxy().empty()) return config.network().proxy();
  for (const char* name : {"https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"}) {
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0') return value;
  }
  return "";
}

}  // namespace

Agent::Agent(medic::v1::AgentConfig config, bool insecure, common::Origins origins)
    : local_config_(config),
      local_origins_(std::move(origins)),
      config_(std::move(config)),
      fs_(config_.root()),
      proxy_(ProxyOf(config_)),
      scheduler_(io_, NewProbes(config_), fs_, commands_, common::RealClock::Get(), config_,
                 tracker_, [this](std::vector<ProbeRun> cycle) { OnCycle(std::move(cycle)); }),
      insecure_(insecure),
      catalog_(config_, fs_, commands_, common::RealClock::Get()) {}

medic::v1::Snapshot Agent::CollectOnce() {
  scheduler_.RunAllOnce(/*wait_for_slow=*/true);
  return BuildSnapshot();
}

absl::Status Agent::Run() {
  boost::asio::signal_set signals(io_, SIGINT, SIGTERM);
  if (!config_.collector().empty()) {
    absl::StatusOr<std::string> machine_id = LoadOrCreateMachineId(config_.state_dir());
    if (!machine_id.ok()) return machine_id.status();
    medic::v1::Hello hello;
    hello.set_machine_id(*machine_id);
    hello.set_hostname(Hostname());
    hello.set_agent_version(MEDIC_VERSION);
    hello.set_epoch(NewEpoch());
    *hello.mutable_labels() = config_.labels();
    for (std::string& check : diagnostics::EnabledChecks(config_)) {
      hello.add_capabilities(std::move(check));
    }
    StreamOptions options;
    options.collector = config_.collector();
    options.initial_backoff = common::FromProtoDuration(config_.reconnect().initial_backoff());
    options.max_backoff = common::FromProtoDuration(config_.reconnect().max_backoff());
    options.heartbeat_interval = common::FromProtoDuration(config_.heartbeat_interval());
    if (insecure_) {
      spdlog::warn("INSECURE TEST MODE: plaintext channel to {}, no certificate",
                   config_.collector());
    } else {
      // The agent's identity on the wire is its certificate; enroll first if there is none.
      RETURN_IF_ERROR(EnsureEnrolled(config_, hello.machine_id(), hello.hostname()));
      options.credentials = AgentChannelCredentials(config_);
      options.server_name = config_.security().server_name();
      renewer_ = std::make_unique<CertificateRenewer>(io_, config_, common::RealClock::Get());
    }
    options.on_policy = [this](const medic::v1::Policy& policy) { OnPolicy(policy); };
    spdlog::info("medic-agent {} as {} (machine id {}, epoch {}), reporting to {}", MEDIC_VERSION,
                 hello.hostname(), hello.machine_id(), hello.epoch(), config_.collector());
    SpoolOptions spool_options;
    spool_options.dir = config_.spool().path().empty()
                            ? common::StrCat(config_.state_dir(), "/spool")
                            : config_.spool().path();
    if (config_.spool().max_bytes() > 0) spool_options.max_bytes = config_.spool().max_bytes();
    if (config_.spool().has_fsync_interval()) {
      spool_options.fsync_interval = common::FromProtoDuration(config_.spool().fsync_interval());
    }
    absl::StatusOr<std::unique_ptr<Spool>> spool = Spool::Open(spool_options);
    if (!spool.ok()) return spool.status();
    if ((*spool)->records() > 0 || (*spool)->open_stats().torn_records > 0) {
      spdlog::info("spool {}: {} record(s) from an earlier run to deliver, {} torn cut",
                   spool_options.dir, (*spool)->records(), (*spool)->open_stats().torn_records);
    }
    stream_ = std::make_unique<CollectorStream>(
        io_, options, hello, [this] { return BuildSnapshot(); }, std::move(*spool));
    diagnostics_pool_ =
        std::make_unique<boost::asio::thread_pool>(catalog_.limits().max_concurrent);
    stream_->SetRequestHandler(
        [this](const medic::v1::DiagnosticRequest& request) { OnDiagnosticRequest(request); });
  } else {
    spdlog::info("medic-agent {}: no collector configured, collecting locally only", MEDIC_VERSION);
  }
  // The fast probes' first collection completes before the stream opens, so the first
  // snapshot has them all; slow probes report as they finish.
  scheduler_.RunAllOnce(/*wait_for_slow=*/false);
  scheduler_.Start();
  if (stream_ != nullptr) stream_->Start();
  if (renewer_ != nullptr) renewer_->Start();

  // Keeps run() going while only gRPC threads have work (a call closing), until stopped.
  auto work = boost::asio::make_work_guard(io_);
  signals.async_wait([this, &work](const boost::system::error_code& error, int signal_number) {
    if (error) return;
    spdlog::info("{}: stopping", signal_number == SIGINT ? "interrupted" : "terminated");
    scheduler_.Stop();
    if (renewer_ != nullptr) renewer_->Stop();
    if (stream_ != nullptr) {
      stream_->Stop([&work] { work.reset(); });
    } else {
      work.reset();
    }
  });
  io_.run();
  return absl::OkStatus();
}

void Agent::OnCycle(std::vector<ProbeRun> cycle) {
  medic::v1::AgentMessage record;
  auto* delta = record.mutable_delta();
  bool topology_may_change = false;
  for (ProbeRun& run : cycle) {
    std::string content = Content(run.report);
    std::string& previous = latest_content_[run.report.probe()];
    const bool changed = content != previous;
    previous = std::move(content);
    if (changed) {
      topology_may_change |= run.report.probe() == "network" || run.report.probe() == "os" ||
                             run.report.probe() == "connectivity" ||
                             run.report.probe() == "printers";
      *delta->add_reports() = run.report;
    }
    const std::string probe = run.report.probe();
    latest_[probe] = std::move(run.report);
    for (auto& e : run.events) *delta->add_findings() = std::move(e);
  }
  if (stream_ == nullptr) return;
  if (!delta->reports().empty() || !delta->findings().empty()) stream_->Send(std::move(record));
  if (!topology_may_change) return;
  medic::v1::Topology topology = BuildTopology();
  std::string serialized = topology.SerializeAsString();
  if (serialized != last_topology_) {
    last_topology_ = std::move(serialized);
    medic::v1::AgentMessage update;
    *update.mutable_topology() = std::move(topology);
    stream_->Send(std::move(update));
  }
}

void Agent::OnDiagnosticRequest(const medic::v1::DiagnosticRequest& request) {
  auto send = [this](medic::v1::DiagnosticResult result) {
    if (stream_ == nullptr) return;
    medic::v1::AgentMessage record;
    *record.mutable_diagnostic_result() = std::move(result);
    stream_->Send(std::move(record));
  };
  if (!catalog_.TryReserve()) {
    spdlog::warn("diagnostic {} requested by {}: refused, {} diagnostics are running already",
                 request.request_id(), request.requested_by(), catalog_.limits().max_concurrent);
    send(diagnostics::Refused(
        request, common::StrCat("this agent is running ", catalog_.limits().max_concurrent,
                                " diagnostics already (its limit); try again shortly")));
    return;
  }
  boost::asio::post(*diagnostics_pool_, [this, request, send] {
    medic::v1::DiagnosticResult result = catalog_.Run(request);
    catalog_.Release();
    boost::asio::post(io_,
                      [send, result = std::move(result)]() mutable { send(std::move(result)); });
  });
}

void Agent::OnPolicy(const medic::v1::Policy& policy) {
  common::PolicyOutcome outcome = common::ApplyPolicy(local_config_, local_origins_, policy);
  medic::v1::AgentMessage answer;
  medic::v1::PolicyApplied& applied = *answer.mutable_policy_applied();
  applied.set_policy_version(policy.version());
  if (absl::Status valid = ValidateAgentConfig(outcome.config); !valid.ok()) {
    // A policy that would leave the agent unable to run is not applied at all.
    applied.add_errors(common::StrCat("policy ", policy.version(), " not applied: ",
                                      valid.message(), "; the previous config stays"));
  } else {
    config_ = std::move(outcome.config);
    scheduler_.Reconfigure(config_, NewProbes(config_));
    if (stream_ != nullptr) stream_->set_policy_version(policy.version());
  }
  for (auto& refused : outcome.refused) applied.add_errors(std::move(refused));
  if (policy.version().empty()) {
    spdlog::info("no central policy for this machine; running the local config");
  } else {
    spdlog::info("applied central policy {}{}", policy.version(),
                 applied.errors().empty()
                     ? ""
                     : common::StrCat(" except: ", absl::StrJoin(applied.errors(), "; ")));
  }
  *applied.mutable_local_config() = common::ShareableLocalConfig(local_config_);
  if (stream_ != nullptr) stream_->SendUnsequenced(std::move(answer));
}

medic::v1::Snapshot Agent::BuildSnapshot() const {
  medic::v1::Snapshot snapshot;
  *snapshot.mutable_taken_at() = common::ToProtoTime(absl::Now());
  for (const auto& [name, report] : latest_) *snapshot.add_reports() = report;
  for (auto& finding : tracker_.AllStanding()) *snapshot.add_findings() = std::move(finding);
  *snapshot.mutable_topology() = BuildTopology();
  return snapshot;
}

medic::v1::Topology Agent::BuildTopology() const {
  medic::v1::Topology topology;
  topology.set_site(config_.site());
  *topology.mutable_labels() = config_.labels();
  topology.set_agent_version(MEDIC_VERSION);
  if (auto it = latest_.find("network"); it != latest_.end() && it->second.has_network()) {
    const auto& net = it->second.network();
    std::set<std::string> subnets;
    for (const auto& i : net.interfaces()) {
      for (const auto& address : i.addresses()) {
        if (std::string subnet = SubnetOf(address); !subnet.empty()) subnets.insert(subnet);
      }
    }
    topology.mutable_subnets()->Assign(subnets.begin(), subnets.end());
    *topology.mutable_gateways() = net.default_gateways();
    *topology.mutable_dns_servers() = net.dns_servers();
    *topology.mutable_search_domains() = net.search_domains();
    for (const auto& i : net.interfaces()) {
      if (i.loopback() || i.addresses().empty()) continue;
      medic::v1::TopologyInterface& t = *topology.add_interfaces();
      t.set_name(i.name());
      t.set_mac(i.mac());
      t.set_wireless(i.wireless());
      *t.mutable_addresses() = i.addresses();
      if (i.has_wifi()) t.set_ssid(i.wifi().ssid());
    }
  }
  topology.set_proxy(proxy_);
  if (auto it = latest_.find("printers"); it != latest_.end() && it->second.has_printers()) {
    std::set<std::string> uris;
    for (const auto& q : it->second.printers().queues()) {
      if (!q.device_uri().empty()) uris.insert(q.device_uri());
    }
    topology.mutable_printer_uris()->Assign(uris.begin(), uris.end());
  }
  if (auto it = latest_.find("os"); it != latest_.end() && it->second.has_os()) {
    const auto& os = it->second.os();
    topology.set_os_build(common::StrCat(os.id(), " ", os.version_id(), " / ", os.kernel()));
  }
  return topology;
}

std::string Agent::Hostname() const {
  if (!config_.hostname().empty()) return config_.hostname();
  if (auto name = fs_.ReadFile("/proc/sys/kernel/hostname", 256); name.ok()) {
    std::string trimmed(absl::StripAsciiWhitespace(*name));
    if (!trimmed.empty()) return trimmed;
  }
  char buffer[256] = {};
  ::gethostname(buffer, sizeof(buffer) - 1);
  return buffer;
}

}  // namespace medic::agent
