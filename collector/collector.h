#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "collector/api/technician_service.h"
#include "collector/diagnostics/event_bus.h"
#include "collector/diagnostics/router.h"
#include "collector/engine/runner.h"
#include "collector/ingest/agent_service.h"
#include "collector/metrics/collector_metrics.h"
#include "collector/replicas/coordinator.h"
#include "collector/replicas/leader.h"
#include "collector/replicas/revocation_watch.h"
#include "collector/store/store.h"
#include "collector/tickets/outbound.h"
#include "collector/tickets/tickets.h"
#include "collector/web/web_server.h"
#include "common/metrics/metrics.h"
#include "grpcpp/server.h"
#include "medic/v1/config.pb.h"

namespace medic::collector {

// The collector's settings with every default filled in.
medic::v1::CollectorConfig DefaultCollectorConfig();

// Checks a loaded config for values the collector cannot run with, naming the key.
absl::Status ValidateCollectorConfig(const medic::v1::CollectorConfig& config);

// A running collector: the store, the gRPC server with both services, and housekeeping.
class Collector {
 public:
  // Opens the store, listens and starts serving. Fails, naming the problem and what to do,
  // when the database cannot be opened or the address cannot be bound.
  //
  // Secure by default: TLS with the collector's CA, agents with enrolled client certificates,
  // technicians with API tokens. `insecure` (tests and local tools only) serves plaintext
  // without technician authentication, and is refused unless `listen` is a loopback address.
  static absl::StatusOr<std::unique_ptr<Collector>> Start(const medic::v1::CollectorConfig& config,
                                                          bool insecure = false);
  ~Collector();

  // The address it listens on, with the real port when the config asked for port 0.
  const std::string& address() const { return address_; }
  // TLS material and the first admin token's file; null before Start.
  const Security* security() const { return security_.get(); }
  // The web console's address (http_listen, with the real port); empty when it is off.
  // The console's URL ("https://HOST:PORT/" off loopback), or empty when it is off.
  const std::string& web_url() const { return web_url_; }
  // What /metrics shows; parts of the collector observe into its families.
  CollectorMetrics& metrics() { return *metrics_; }

  // Stops taking new streams and calls, lets calls in flight finish for up to `grace`,
  // then cancels the rest. Safe to call more than once.
  void Shutdown(absl::Duration grace);

 private:
  explicit Collector(medic::v1::CollectorConfig config)
      : config_(std::move(config)), metrics_(std::make_unique<CollectorMetrics>(registry_)) {}
  void Housekeeping();
  // With PostgreSQL: joins the other replicas (leadership, the change feed between them).
  absl::Status StartReplica(bool outbound);

  const medic::v1::CollectorConfig config_;
  common::metrics::Registry registry_;
  std::unique_ptr<CollectorMetrics> metrics_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Security> security_;
  std::unique_ptr<tickets::Tickets> tickets_;
  std::unique_ptr<diagnostics::EventBus> events_;
  std::unique_ptr<diagnostics::EventBus::IncidentTee> incident_tee_;
  ObserverList observers_;
  std::unique_ptr<engine::EngineRunner> engine_;
  std::unique_ptr<tickets::OutboxSender> outbox_;  // when a webhook or helpdesk is configured
  std::unique_ptr<PolicyHub> policy_;
  std::unique_ptr<AgentServiceImpl> agents_;
  std::unique_ptr<diagnostics::Router> router_;
  std::unique_ptr<TechnicianServiceImpl> technicians_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::unique_ptr<web::WebServer> web_;  // when http_listen is set
  std::string web_url_;

  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread housekeeping_;
  // Replicas on PostgreSQL only; last, so the coordinator stops before what it calls into.
  std::unique_ptr<LeaderDuties> leader_;
  std::unique_ptr<Coordinator> coordinator_;
  // Replicas: cuts streams whose certificate was revoked through another replica.
  std::unique_ptr<RevocationWatch> revocations_;
};

}  // namespace medic::collector
