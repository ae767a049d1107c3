#include "collector/collector.h"

#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "spdlog/spdlog.h"

namespace medic::collector {
namespace {

constexpr absl::Duration kHousekeepingEvery = absl::Minutes(10);

}  // namespace

medic::v1::CollectorConfig DefaultCollectorConfig() {
  medic::v1::CollectorConfig config;
  config.set_listen("127.0.0.1:7070");
  config.set_db("/var/lib/medic/collector.db");
  *config.mutable_heartbeat_interval() = common::ToProtoDuration(absl::Seconds(15));
  *config.mutable_offline_after() = common::ToProtoDuration(absl::Seconds(45));
  *config.mutable_history_retention() = common::ToProtoDuration(absl::Hours(24));
  config.set_max_message_bytes(4 << 20);
  *config.mutable_engine_tick() = common::ToProtoDuration(absl::Milliseconds(200));
  return config;
}

absl::Status ValidateCollectorConfig(const medic::v1::CollectorConfig& config) {
  if (config.listen().empty() || config.listen().find(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        common::StrCat("listen: '", config.listen(), "' is not HOST:PORT (e.g. 0.0.0.0:7070)"));
  }
  if (config.db().empty()) return absl::InvalidArgumentError("db: no database path given");
  const absl::Duration heartbeat = common::FromProtoDuration(config.heartbeat_interval());
  const absl::Duration offline = common::FromProtoDuration(config.offline_after());
  if (heartbeat <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("heartbeat_interval: must be longer than 0");
  }
  if (offline <= heartbeat) {
    return absl::InvalidArgumentError(
        common::StrCat("offline_after: ", common::HumanDuration(offline),
                       " must be longer than heartbeat_interval (",
                       common::HumanDuration(heartbeat), "), or every machine would flap offline"));
  }
  if (config.max_message_bytes() < 64 * 1024) {
    return absl::InvalidArgumentError("max_message_bytes: must be at least 65536");
  }
  if (common::FromProtoDuration(config.engine_tick()) < absl::Milliseconds(10)) {
    return absl::InvalidArgumentError("engine_tick: must be at least 10ms");
  }
  for (const auto& [key, url] :
       {std::pair{"outbound.webhook_url", config.outbound().webhook_url()},
        std::pair{"outbound.helpdesk_url", config.outbound().helpdesk_url()}}) {
    if (!url.empty() && !url.starts_with("http://")) {
      return absl::InvalidArgumentError(
          common::StrCat(key, ": '", url, "' is not an http:// URL (https is not supported yet)"));
    }
  }
  return engine::ValidateEngineConfig(config);
}

absl::StatusOr<std::unique_ptr<Collector>> Collector::Start(
    const medic::v1::CollectorConfig& config) {
  RETURN_IF_ERROR(ValidateCollectorConfig(config));
  std::unique_ptr<Collector> collector(new Collector(config));
  StoreOptions store_options;
  store_options.offline_after = common::FromProtoDuration(config.offline_after());
  ASSIGN_OR_RETURN(collector->store_, OpenSqliteStore(config.db(), store_options));
  RETURN_IF_ERROR(collector->store_->ResetConnections());

  const common::Clock& clock = common::RealClock::Get();
  ASSIGN_OR_RETURN(tickets::KnowledgeBase kb, tickets::KnowledgeBase::Load(config.kb_dir()));
  tickets::OutboundTargets targets;
  targets.webhook = !config.outbound().webhook_url().empty();
  targets.helpdesk = !config.outbound().helpdesk_url().empty();
  collector->tickets_ =
      std::make_unique<tickets::Tickets>(*collector->store_, clock, std::move(kb), targets);
  if (targets.webhook || targets.helpdesk) {
    collector->outbox_ =
        std::make_unique<tickets::OutboxSender>(*collector->store_, clock, config.outbound());
    collector->tickets_->SetOutboxListener([o = collector->outbox_.get()] { o->Wake(); });
    collector->outbox_->Start();
  }
  collector->engine_ = std::make_unique<engine::EngineRunner>(
      clock, engine::EngineOptionsFromConfig(config), *collector->tickets_,
      common::FromProtoDuration(config.engine_tick()));
  RETURN_IF_ERROR(collector->engine_->Restore(*collector->store_));
  collector->engine_->Start();

  IngestOptions ingest;
  ingest.heartbeat_interval = common::FromProtoDuration(config.heartbeat_interval());
  ingest.observer = collector->engine_.get();
  if (config.commit_batch() > 0) ingest.commit_batch = config.commit_batch();
  if (config.stream_window() > 0) ingest.stream_window = config.stream_window();
  collector->agents_ = std::make_unique<AgentServiceImpl>(*collector->store_, clock, ingest);
  collector->technicians_ =
      std::make_unique<TechnicianServiceImpl>(*collector->store_, clock, collector->tickets_.get());

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.listen(), grpc::InsecureServerCredentials(), &port);
  // gRPC sets SO_REUSEPORT by default: a second collector would silently share the port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Find dead agent connections within about a minute (the default is two hours), and let
  // agents ping as often as they do (every 30 s).
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_message_bytes()));
  builder.RegisterService(collector->agents_.get());
  builder.RegisterService(collector->technicians_.get());
  collector->server_ = builder.BuildAndStart();
  if (collector->server_ == nullptr || port == 0) {
    return absl::UnavailableError(common::StrCat(
        "cannot listen on ", config.listen(),
        ": the address is in use or not on this machine — choose another with --listen"));
  }
  const std::string host = config.listen().substr(0, config.listen().rfind(':'));
  collector->address_ = common::StrCat(host, ":", port);
  collector->housekeeping_ = std::thread([c = collector.get()] { c->Housekeeping(); });
  return collector;
}

Collector::~Collector() { Shutdown(absl::Seconds(5)); }

void Collector::Shutdown(absl::Duration grace) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  }
  // What agents sent before the shutdown is committed (and acknowledged, where the stream
  // still lives) before the engine stops.
  if (agents_ != nullptr) agents_->Drain();
  if (housekeeping_.joinable()) housekeeping_.join();
  // After the server: no ingest callback can queue into the engine any more.
  if (engine_ != nullptr) engine_->Stop();
  if (outbox_ != nullptr) outbox_->Stop();
}

void Collector::Housekeeping() {
  const absl::Duration retention = common::FromProtoDuration(config_.history_retention());
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    auto pruned = store_->PruneHistory(absl::Now() - retention);
    if (!pruned.ok()) {
      spdlog::warn("pruning history older than {} failed: {}", common::HumanDuration(retention),
                   pruned.status().ToString());
    } else if (*pruned > 0) {
      spdlog::debug("pruned {} rows of history", *pruned);
    }
    lock.lock();
    stop_cv_.wait_for(lock, absl::ToChronoMilliseconds(kHousekeepingEvery),
                      [this] { return stopping_; });
  }
}

}  // namespace medic::collector
