#include "collector/collector.h"

#include <filesystem>

#include "collector/replicas/replicas.h"
#include "collector/store/pg_db.h"
#include "collector/tickets/outbound.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "spdlog/spdlog.h"

namespace medic::collector {
namespace {

constexpr absl::Duration kHousekeepingEvery = absl::Minutes(10);
constexpr char kDefaultHttpListen[] = "127.0.0.1:7080";

bool IsLoopbackHost(std::string_view host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.starts_with("127.");
}

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
  // gRPC takes an int, and a negative one means "no limit".
  if (config.max_message_bytes() > (256u << 20)) {
    return absl::InvalidArgumentError("max_message_bytes: must be at most 268435456 (256 MiB)");
  }
  if (common::FromProtoDuration(config.engine_tick()) < absl::Milliseconds(10)) {
    return absl::InvalidArgumentError("engine_tick: must be at least 10ms");
  }
  for (const auto& [key, url] :
       {std::pair{"outbound.webhook_url", config.outbound().webhook_url()},
        std::pair{"outbound.helpdesk_url", config.outbound().helpdesk_url()}}) {
    if (!url.empty() && !url.starts_with("http://") && !url.starts_with("https://")) {
      return absl::InvalidArgumentError(
          common::StrCat(key, ": '", url, "' is not an http:// or https:// URL"));
    }
  }
  if (const std::string& ca_file = config.outbound().ca_file(); !ca_file.empty()) {
    absl::StatusOr<std::string> pem = tickets::ReadCaFile(ca_file);
    if (!pem.ok()) return pem.status();
  }
  if (config.has_revocation_check()) {
    // Revocation is promised to take effect within a minute on every replica.
    const absl::Duration every = common::FromProtoDuration(config.revocation_check());
    if (every < absl::Milliseconds(100) || every > absl::Minutes(1)) {
      return absl::InvalidArgumentError(common::StrCat(
          "revocation_check: ", common::HumanDuration(every), " is not between 100ms and 1m"));
    }
  }
  RETURN_IF_ERROR(ResolveLimits(config.limits()).status());
  return engine::ValidateEngineConfig(config);
}

absl::StatusOr<std::unique_ptr<Collector>> Collector::Start(
    const medic::v1::CollectorConfig& config, bool insecure) {
  RETURN_IF_ERROR(ValidateCollectorConfig(config));
  const std::string listen_host = config.listen().substr(0, config.listen().rfind(':'));
  if (insecure && !IsLoopbackHost(listen_host)) {
    return absl::InvalidArgumentError(common::StrCat(
        "--insecure serves without TLS or authentication, so it listens on loopback only; '",
        config.listen(), "' is not (use 127.0.0.1:PORT or [::1]:PORT)"));
  }
  // In test mode the web console is plain HTTP without authentication, like the technician
  // API it serves, so it too stays on loopback.
  if (const std::string web = config.has_http_listen() ? config.http_listen() : "";
      insecure && !web.empty() && !IsLoopbackHost(web.substr(0, web.rfind(':')))) {
    return absl::InvalidArgumentError(common::StrCat(
        "--insecure serves the web console without authentication, so it listens on loopback "
        "only; http_listen '",
        web, "' is not"));
  }
  std::unique_ptr<Collector> collector(new Collector(config));
  StoreOptions store_options;
  store_options.offline_after = common::FromProtoDuration(config.offline_after());
  // Security's files (CA, server certificate, first admin token) go beside the SQLite
  // database, or for a replica on PostgreSQL into its state dir; its tokens, certificates and
  // audit log live in the store either way (see collector/README.md, "Replicas on PostgreSQL").
  std::string security_dir;
  if (IsPostgresUri(config.db())) {
    store_options.replica = ReplicaName(config);
    ASSIGN_OR_RETURN(collector->store_,
                     OpenPostgresStore(config.db(), store_options,
                                       config.db_pool_size() > 0 ? config.db_pool_size() : 4));
    security_dir = ReplicaStateDir(config);
    RETURN_IF_ERROR(ImportLocalSecurityDb(config, *collector->store_));
  } else {
    ASSIGN_OR_RETURN(collector->store_, OpenSqliteStore(config.db(), store_options));
    security_dir = std::filesystem::path(config.db()).parent_path().string();
  }
  RETURN_IF_ERROR(collector->store_->ResetConnections());

  const common::Clock& clock = common::RealClock::Get();
  ASSIGN_OR_RETURN(collector->security_,
                   Security::Open(config.security(), *collector->store_, security_dir, listen_host,
                                  clock, insecure));
  if (insecure) {
    spdlog::warn(
        "INSECURE TEST MODE: no TLS, no agent certificates, no technician authentication; "
        "anyone who can reach {} can report as any machine and act as admin",
        config.listen());
  }
  ASSIGN_OR_RETURN(tickets::KnowledgeBase kb, tickets::KnowledgeBase::Load(config.kb_dir()));
  tickets::OutboundTargets targets;
  targets.webhook = !config.outbound().webhook_url().empty();
  targets.helpdesk = !config.outbound().helpdesk_url().empty();
  collector->tickets_ =
      std::make_unique<tickets::Tickets>(*collector->store_, clock, std::move(kb), targets);
  const bool replicated = IsPostgresUri(config.db());
  // Replicas: only the leader correlates and delivers the outbox (LeaderDuties, below).
  if (!replicated && (targets.webhook || targets.helpdesk)) {
    collector->outbox_ =
        std::make_unique<tickets::OutboxSender>(*collector->store_, clock, config.outbound());
    collector->tickets_->SetOutboxListener([o = collector->outbox_.get()] { o->Wake(); });
    collector->outbox_->Start();
  }
  collector->events_ = std::make_unique<diagnostics::EventBus>(clock);
  collector->incident_tee_ = std::make_unique<diagnostics::EventBus::IncidentTee>(
      *collector->tickets_, *collector->events_, *collector->store_);
  if (!replicated) {
    collector->engine_ = std::make_unique<engine::EngineRunner>(
        clock, engine::EngineOptionsFromConfig(config), *collector->incident_tee_,
        common::FromProtoDuration(config.engine_tick()));
    RETURN_IF_ERROR(collector->engine_->Restore(*collector->store_));
    collector->engine_->Start();
  }

  collector->policy_ = std::make_unique<PolicyHub>(*collector->store_, clock);
  RETURN_IF_ERROR(collector->policy_->Load());

  IngestOptions ingest;
  ingest.heartbeat_interval = common::FromProtoDuration(config.heartbeat_interval());
  ingest.observer = &collector->observers_;
  ASSIGN_OR_RETURN(ingest.limits, ResolveLimits(config.limits()));
  const Limits limits = ingest.limits;
  ingest.security = collector->security_.get();
  ingest.policy = collector->policy_.get();
  ingest.records_received = collector->metrics_->records_received;
  ingest.ingest_latency = collector->metrics_->ingest_latency;
  ingest.commit_latency = collector->metrics_->store_commit_latency;
  if (config.commit_batch() > 0) ingest.commit_batch = config.commit_batch();
  if (config.stream_window() > 0) ingest.stream_window = config.stream_window();
  collector->agents_ = std::make_unique<AgentServiceImpl>(*collector->store_, clock, ingest);
  collector->policy_->SetSender(
      [agents = collector->agents_.get()](const std::string& id, medic::v1::CollectorMessage m) {
        return agents->SendTo(id, std::move(m));
      });
  collector->router_ =
      std::make_unique<diagnostics::Router>(*collector->store_, *collector->agents_, clock);
  if (collector->engine_ != nullptr) collector->observers_.Add(collector->engine_.get());
  if (replicated) RETURN_IF_ERROR(collector->StartReplica(targets.webhook || targets.helpdesk));
  collector->observers_.Add(collector->router_.get());
  collector->observers_.Add(collector->events_.get());
  collector->technicians_ = std::make_unique<TechnicianServiceImpl>(
      *collector->store_, clock, collector->tickets_.get(), collector->security_.get());
  collector->technicians_->SetStreamCutter(
      [agents = collector->agents_.get()](const std::string& id) { return agents->Cut(id); });
  collector->technicians_->SetLive(collector->router_.get(), collector->events_.get());
  collector->technicians_->SetDiagnosticLatency(collector->metrics_->diagnostic_latency);
  collector->technicians_->SetPolicyHub(collector->policy_.get());

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.listen(), collector->security_->ServerCredentials(), &port);
  // gRPC sets SO_REUSEPORT by default: a second collector would silently share the port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Find dead agent connections within about a minute (the default is two hours), and let
  // agents ping as often as they do (every 30 s).
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  // What one client may cost (LimitsConfig): pings more often than min_ping_interval are
  // strikes and too many close the connection; a connection that does not finish its
  // handshake is closed; one connection carries a bounded number of streams. The size limit
  // is checked on the decompressed message too, so a compression bomb is refused.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             static_cast<int>(absl::ToInt64Milliseconds(limits.min_ping_interval)));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, limits.max_ping_strikes);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             static_cast<int>(absl::ToInt64Milliseconds(limits.handshake_timeout)));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_message_bytes()));
  builder.RegisterService(collector->agents_.get());
  builder.RegisterService(collector->technicians_.get());
  collector->server_ = builder.BuildAndStart();
  if (collector->server_ == nullptr || port == 0) {
    return absl::UnavailableError(common::StrCat(
        "cannot listen on ", config.listen(),
        ": the address is in use or not on this machine — choose another with --listen"));
  }
  collector->address_ = common::StrCat(listen_host, ":", port);
  collector->metrics_->CollectFrom(
      *collector->store_, [a = collector->agents_.get()] { return a->connected_streams(); });
  web::WebOptions web_options;
  web_options.listen = config.has_http_listen() ? config.http_listen() : kDefaultHttpListen;
  web_options.loopback_hosts_only = insecure;
  // Technicians sign in to the console with their API token: off this machine, that goes over
  // HTTPS only, with the collector's own server certificate. On loopback it never leaves it.
  if (!insecure && !IsLoopbackHost(web_options.listen.substr(0, web_options.listen.rfind(':')))) {
    web_options.tls_cert_pem = collector->security_->server_cert_pem();
    web_options.tls_key_pem = collector->security_->server_key_pem();
  }
  if (!web_options.listen.empty()) {
    // The console's API goes through the same TechnicianService as `medic`, in process.
    auto web = web::WebServer::Start(web_options,
                                     collector->server_->InProcessChannel(grpc::ChannelArguments()),
                                     &collector->registry_);
    if (web.ok()) {
      collector->web_ = std::move(*web);
      collector->web_url_ = collector->web_->url();
    } else if (config.has_http_listen()) {
      return web.status();
    } else {
      spdlog::warn("{}; running without the web console", web.status().message());
    }
  }
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
  // Before the gRPC server: the console's calls run through it and must end first.
  if (web_ != nullptr) web_->Stop();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  }
  // What agents sent before the shutdown is committed (and acknowledged, where the stream
  // still lives) before the engine stops.
  if (agents_ != nullptr) agents_->Drain();
  revocations_.reset();
  if (coordinator_ != nullptr) coordinator_->Stop();  // gives the lead up, stops its engine
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

absl::Status Collector::StartReplica(bool outbound) {
  leader_ = std::make_unique<LeaderDuties>(
      *store_, common::RealClock::Get(), engine::EngineOptionsFromConfig(config_), *incident_tee_,
      common::FromProtoDuration(config_.engine_tick()),
      outbound ? std::optional(config_.outbound()) : std::nullopt);
  tickets_->SetOutboxListener([l = leader_.get()] { l->WakeOutbox(); });
  router_->EnableReplicas();
  Coordinator::Hooks hooks;
  hooks.lead = [l = leader_.get()] { return l->Lead(); };
  hooks.follow = [l = leader_.get()] { l->Follow(); };
  hooks.changed = [l = leader_.get()](const auto& machines) { l->Changed(machines); };
  hooks.seen = [l = leader_.get()](const auto& ids) { l->Seen(ids); };
  // The router sends what was queued for a machine whose stream is here, as on a reconnect.
  hooks.diagnostic_queued = [r = router_.get()](const std::string& id) {
    r->OnHello(id, medic::v1::Hello());
  };
  hooks.policies_changed = [p = policy_.get()] {
    if (absl::Status s = p->Reload(); !s.ok()) {
      spdlog::warn("could not load the policies another replica saved: {}", s.message());
    }
  };
  hooks.result_kept = [r = router_.get()](const std::string& run, const std::string& machine) {
    r->OnQueuedResult(run, machine);
  };
  const absl::Duration seen_every =
      std::clamp(common::FromProtoDuration(config_.offline_after()) / 8, absl::Milliseconds(50),
                 absl::Seconds(2));
  ASSIGN_OR_RETURN(coordinator_, Coordinator::Start(config_.db(), ReplicaName(config_),
                                                    std::move(hooks), seen_every));
  if (!security_->insecure()) {
    const absl::Duration every = config_.has_revocation_check()
                                     ? common::FromProtoDuration(config_.revocation_check())
                                     : absl::Seconds(30);
    revocations_ = std::make_unique<RevocationWatch>(
        *store_, common::RealClock::Get(), every,
        [a = agents_.get()](const std::string& id, const std::string& serial) {
          return a->Cut(id, serial);
        });
  }
  return absl::OkStatus();
}

}  // namespace medic::collector
