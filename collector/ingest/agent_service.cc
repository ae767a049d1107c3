#include "collector/ingest/agent_service.h"

#include <chrono>
#include <deque>
#include <optional>
#include <utility>

#include "collector/ingest/validate.h"
#include "collector/policy/policy_hub.h"
#include "common/net/peer.h"
#include "common/status/grpc_status.h"
#include "common/strings/str_cat.h"
#include "grpcpp/alarm.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "spdlog/spdlog.h"

namespace medic::collector {
namespace {

using medic::v1::AgentMessage;
using medic::v1::CollectorMessage;

constexpr size_t kMaxIdLength = 128;
constexpr size_t kMaxHostnameLength = 253;

// Checks a hello before anything is stored. Returns the reason it is refused, or "".
std::string CheckHello(const medic::v1::Hello& hello) {
  if (hello.machine_id().empty()) return "hello has no machine_id";
  if (hello.machine_id().size() > kMaxIdLength) return "hello's machine_id is too long";
  if (hello.hostname().empty()) return "hello has no hostname";
  if (hello.hostname().size() > kMaxHostnameLength) return "hello's hostname is too long";
  if (hello.epoch() == 0) return "hello has no epoch";
  return "";
}

}  // namespace

// One agent's stream. Reads one message at a time; writes are queued because acks, and
// later diagnostic requests, may be produced while a write is in flight. Deletes itself in
// OnDone. Reads raw bytes and parses them itself: a typed reactor sees a message gRPC could
// not parse as the end of the stream, and would close it as if the agent had said goodbye.
class AgentServiceImpl::Stream final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  Stream(AgentServiceImpl* service, grpc::CallbackServerContext* context)
      : service_(service),
        context_(context),
        peer_(context->peer()),
        peer_host_(common::PeerHost(peer_)),
        lane_(std::make_shared<Committer::Lane>()) {
    service_->streams_.fetch_add(1);
    if (!service_->peers_.TryOpen(peer_host_)) {
      spdlog::warn("refused an agent stream from {}: it already has {} open", peer_,
                   service_->peers_.open(peer_host_));
      FinishOnce(
          grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                       common::StrCat("too many agent streams from ", peer_host_, " (at most ",
                                      service_->options_.limits.max_streams_per_peer,
                                      "): close some, or raise limits.max_streams_per_peer")));
      return;
    }
    counted_ = true;
    if (Security* security = service_->options_.security; security != nullptr) {
      // The agent's identity is its certificate, checked before anything is read.
      absl::StatusOr<AgentIdentity> identity = security->IdentifyAgent(*context);
      if (!identity.ok()) {
        spdlog::warn("refused an agent stream from {}: {}", peer_, identity.status().message());
        if (absl::IsPermissionDenied(identity.status())) {
          security->AuditAgent(common::StrCat("peer ", common::PeerHost(peer_)), "Connect", "",
                               common::ToGrpcStatus(identity.status()), "", peer_);
        }
        FinishOnce(common::ToGrpcStatus(identity.status()));
        return;
      }
      certified_id_ = identity->machine_id;
      certified_serial_ = identity->serial;
    }
    StartRead(&in_bytes_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the agent closed its side, or the stream broke
      FinishOnce(grpc::Status::OK);
      return;
    }
    in_.Clear();
    grpc::Status status = grpc::SerializationTraits<AgentMessage>::Deserialize(&in_bytes_, &in_);
    if (!status.ok()) {
      status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "the message is not a valid AgentMessage (malformed protobuf, or a "
                            "string that is not UTF-8)");
    } else {
      status = Handle(in_);
    }
    if (!status.ok()) {
      spdlog::warn("agent stream from {} ({}) ended: {}", peer_,
                   hostname_.empty() ? "no hello yet" : hostname_, status.error_message());
      FinishOnce(status);
      return;
    }
    const absl::Duration pace = std::exchange(pace_, absl::ZeroDuration());
    std::shared_ptr<grpc::Alarm> alarm;
    bool read_now;
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      if (pace > absl::ZeroDuration()) alarm = PaceLocked();
      if (in_commit_ >= service_->options_.stream_window) {
        read_paused_ = true;  // resumed by OnCommitted
      }
      read_now = !read_paused_ && !pacing_;
    }
    // Set outside the lock, which its callback (OnPaced, the next read) takes.
    if (alarm != nullptr) {
      alarm->Set(absl::ToChronoTime(absl::Now() + pace), [this](bool) { OnPaced(); });
    }
    if (read_now) StartRead(&in_bytes_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) return;  // the stream is going away; OnDone follows
    WriteNextLocked();
  }

  void OnDone() override {
    if (!machine_id_.empty()) {
      const bool was_live = service_->Forget(machine_id_, this);
      if (auto* observer = service_->options_.observer; observer != nullptr && was_live) {
        observer->OnGone(machine_id_);
      }
      absl::Status s = service_->store_.CloseSession(machine_id_, session_, service_->clock_.Now());
      if (s.ok()) {
        spdlog::info("{} disconnected", hostname_);
      } else {
        spdlog::warn("{} disconnected, but the store could not record it: {}", hostname_,
                     s.message());
      }
    }
    if (counted_) service_->peers_.Close(peer_host_);
    service_->streams_.fetch_sub(1);
    bool last;
    std::shared_ptr<grpc::Alarm> alarm;
    {
      std::lock_guard lock(mu_);
      done_ = true;
      last = DeletableLocked();
      if (pacing_) alarm = pace_alarm_;
    }
    // Records still being committed, and a pending pace alarm, call back into this stream;
    // the last of them deletes it. (`alarm` outlives the stream if its callback is first.)
    if (alarm != nullptr) alarm->Cancel();
    if (last) delete this;
  }

  // Ends this stream from another thread: a newer stream of the same machine replaced it.
  void Supersede() { context_->TryCancel(); }

  // Queues a message for the agent; any thread.
  // Queues a message for the agent; any thread. Before the welcome it waits: the agent
  // takes nothing before it.
  void Write(CollectorMessage message) {
    std::lock_guard lock(mu_);
    (welcomed_ ? pending_ : early_).push_back(std::move(message));
    WriteNextLocked();
  }

  void WriteWelcome(CollectorMessage welcome, std::optional<CollectorMessage> policy) {
    std::lock_guard lock(mu_);
    pending_.push_back(std::move(welcome));
    if (policy.has_value()) pending_.push_back(*std::move(policy));
    for (CollectorMessage& early : early_) pending_.push_back(std::move(early));
    early_.clear();
    welcomed_ = true;
    WriteNextLocked();
  }

  // The serial of the client certificate the stream came with; "" in insecure mode.
  const std::string& certified_serial() const { return certified_serial_; }

 private:
  grpc::Status Handle(const AgentMessage& message) {
    const absl::Time now = service_->clock_.Now();
    // Nothing of a message that fails validation is stored or passed on.
    if (absl::Status valid = ValidateAgentMessage(message); !valid.ok()) {
      return common::ToGrpcStatus(valid);
    }
    if (machine_id_.empty()) {
      if (!message.has_hello()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "the first message on a stream must be a hello");
      }
      return HandleHello(message.hello(), now);
    }
    // Every message costs a store write; one machine may not take more than its share. One
    // that sends faster is slowed down, not cut off: the next message is read only once its
    // allowance is back, so an agent resending a long backlog after an outage drains it at
    // the rate while everything it sent stays acknowledged.
    pace_ = service_->rate_.Take(machine_id_, now);
    switch (message.kind_case()) {
      case AgentMessage::kHello:
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "a second hello on one stream");
      case AgentMessage::kHeartbeat:
        // A heartbeat is not a record: a store that cannot take it now is no reason to drop
        // the stream.
        if (absl::Status s = service_->store_.Touch(machine_id_, now); !s.ok()) {
          spdlog::warn("could not record {}'s heartbeat: {}", hostname_, s.message());
        }
        if (auto* observer = service_->options_.observer) observer->OnSeen(machine_id_);
        return grpc::Status::OK;
      case AgentMessage::kPolicyApplied:
        // An answer to a policy on this stream, not a record: the next hello asks again.
        if (auto* policy = service_->options_.policy) {
          policy->OnPolicyApplied(machine_id_, message.policy_applied());
        }
        // Acks are cumulative and follow the group commit: acknowledging this here could
        // acknowledge records still waiting to be stored.
        if (message.sequence() != 0) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "a policy answer is not a record: send it without a sequence");
        }
        return grpc::Status::OK;
      case AgentMessage::KIND_NOT_SET:
        // A newer agent's record kind, or an empty message: nothing to store. Acknowledge a
        // sequenced one so it is not resent forever.
        spdlog::debug("{} sent a message of a kind this collector does not know", hostname_);
        break;
      default:
        break;
    }
    if (message.sequence() == 0) {
      if (message.kind_case() == AgentMessage::kHeartbeat ||
          message.kind_case() == AgentMessage::KIND_NOT_SET) {
        return grpc::Status::OK;
      }
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "a record that must be stored arrived without a sequence number");
    }
    {
      std::lock_guard lock(mu_);
      ++in_commit_;
    }
    const auto arrived = std::chrono::steady_clock::now();
    service_->committer_.Submit(
        lane_, machine_id_, epoch_, message, now,
        [this, arrived](const absl::Status& status, const AgentMessage& record) {
          OnCommitted(status, record, arrived);
        });
    return grpc::Status::OK;
  }

  // On the committer thread, once `record`'s batch committed or failed.
  void OnCommitted(const absl::Status& stored, const AgentMessage& message,
                   std::chrono::steady_clock::time_point arrived) {
    if (stored.ok()) {
      Committed(message);
      RecordMetrics(message, arrived, std::chrono::steady_clock::now());
    } else if (stored.code() == absl::StatusCode::kFailedPrecondition) {
      FinishOnce(common::ToGrpcStatus(stored));
    } else {
      FinishOnce(Refused(stored));
    }
    bool resume = false;
    bool last = false;
    {
      std::lock_guard lock(mu_);
      --in_commit_;
      if (read_paused_ && !finished_ && in_commit_ < service_->options_.stream_window) {
        read_paused_ = false;
        resume = !pacing_;
      }
      last = DeletableLocked();
    }
    if (resume) StartRead(&in_bytes_);
    if (last) delete this;
  }

  void Committed(const AgentMessage& message) {
    if (message.has_gap()) {
      const medic::v1::Gap& gap = message.gap();
      spdlog::warn(
          "{} dropped {} record(s) of epoch {} (sequences {}..{}: {} observation, {} "
          "state, {} finding): {}",
          hostname_, gap.sequences_size(), gap.epoch(), gap.from_sequence(), gap.to_sequence(),
          gap.dropped_observations(), gap.dropped_reports(), gap.dropped_findings(), gap.reason());
    }
    if (auto* observer = service_->options_.observer) observer->OnRecord(machine_id_, message);
    if (auto* policy = service_->options_.policy) {
      if (message.has_snapshot()) policy->OnTopology(machine_id_, message.snapshot().topology());
      if (message.has_topology()) policy->OnTopology(machine_id_, message.topology());
    }
    Acknowledge(message.sequence());
  }

  grpc::Status HandleHello(const medic::v1::Hello& hello, absl::Time now) {
    if (std::string why = CheckHello(hello); !why.empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, why);
    }
    hostname_ = hello.hostname();
    if (!certified_id_.empty() && hello.machine_id() != certified_id_) {
      // A report that claims another machine's id: refused, and kept for the administrator.
      grpc::Status refused(grpc::StatusCode::PERMISSION_DENIED,
                           common::StrCat("this certificate belongs to machine ", certified_id_,
                                          "; it cannot report as machine ", hello.machine_id()));
      service_->options_.security->AuditAgent(
          common::StrCat("agent ", certified_id_), "agent.spoofed_id", hello.machine_id(), refused,
          common::StrCat("hello claimed hostname ", hostname_), peer_);
      return refused;
    }
    // A hello opens a session in the store: reconnecting in a loop is limited like records.
    // (After the certificate check, so no agent can spend another machine's allowance.)
    if (!service_->rate_.TryTake(hello.machine_id(), now)) return RateLimited();
    if (std::string clash = service_->Claim(hello, peer_, this); !clash.empty()) {
      spdlog::warn("refused {} from {}: {}", hostname_, peer_, clash);
      if (Security* security = service_->options_.security; security != nullptr) {
        security->FlagIdentity(
            hello.machine_id(),
            common::StrCat("the identity of this machine was used from two hosts at once (",
                           common::PeerHost(peer_),
                           " was refused): a cloned disk image or a copied certificate"),
            peer_);
      }
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, clash);
    }
    absl::StatusOr<Store::Session> session = service_->store_.OpenSession(hello, peer_, now);
    if (!session.ok()) {
      service_->Forget(hello.machine_id(), this);
      return Refused(session.status());
    }
    machine_id_ = hello.machine_id();
    session_ = session->id;
    epoch_ = hello.epoch();
    spdlog::info("{} connected from {} (agent {}, resuming after record {})", hostname_, peer_,
                 hello.agent_version(), session->resume_after);
    CollectorMessage welcome;
    welcome.mutable_welcome()->set_collector_version(service_->options_.collector_version);
    welcome.mutable_welcome()->set_resume_after(session->resume_after);
    *welcome.mutable_welcome()->mutable_heartbeat_interval() =
        common::ToProtoDuration(service_->options_.heartbeat_interval);
    std::optional<CollectorMessage> policy_push;
    if (auto* policy = service_->options_.policy) {
      // Always, even empty: an empty policy takes back one the agent still runs.
      policy_push.emplace();
      *policy_push->mutable_policy() = policy->OnHello(machine_id_, hello);
    }
    // The welcome goes first, then the policy of this hello; whatever others sent to this
    // stream since it was claimed (a newer policy, a diagnostic request) follows them.
    WriteWelcome(std::move(welcome), std::move(policy_push));
    if (auto* observer = service_->options_.observer) observer->OnHello(machine_id_, hello);
    return grpc::Status::OK;
  }

  // A machine that reconnects in a loop spends its allowance on hellos; its next hello is
  // refused (the agent backs off) until the allowance is back.
  grpc::Status RateLimited() {
    const Limits& limits = service_->options_.limits;
    return grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        common::StrCat("machine ", hostname_, " sent more than ", limits.records_per_second,
                       " messages a second (", limits.record_burst,
                       " at once); the collector refuses new streams from it until it slows "
                       "down"));
  }

  // Holds the next read back until the returned alarm, which the caller sets once it has let
  // go of mu_, fires. The agent's writes queue up behind HTTP/2 flow control meanwhile, so it
  // is slowed down without anything refused.
  std::shared_ptr<grpc::Alarm> PaceLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!paced_before_) {
      paced_before_ = true;
      spdlog::info("{} sends faster than {} messages a second: reading its stream at that pace",
                   hostname_, service_->options_.limits.records_per_second);
    }
    pacing_ = true;
    pace_alarm_ = std::make_shared<grpc::Alarm>();
    return pace_alarm_;
  }

  // The pace alarm fired, or was cancelled because the stream is done.
  void OnPaced() {
    bool resume;
    bool last;
    {
      std::lock_guard lock(mu_);
      pacing_ = false;
      resume = !finished_ && !done_ && !read_paused_;
      last = DeletableLocked();
    }
    if (resume) StartRead(&in_bytes_);
    if (last) delete this;
  }

  // Nothing will call back into this stream any more.
  bool DeletableLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return done_ && in_commit_ == 0 && !pacing_;
  }

  void RecordMetrics(const AgentMessage& message, std::chrono::steady_clock::time_point arrived,
                     std::chrono::steady_clock::time_point committed) {
    const IngestOptions& o = service_->options_;
    if (o.records_received == nullptr) return;
    const auto* field = AgentMessage::descriptor()->FindFieldByNumber(message.kind_case());
    const std::vector<std::string> kind{field != nullptr ? field->name() : "unknown"};
    // From arrival to the commit of the record's batch (waiting for the batch included).
    const std::chrono::duration<double> commit = committed - arrived;
    const std::chrono::duration<double> total = std::chrono::steady_clock::now() - arrived;
    o.records_received->Get(kind).Increment();
    if (o.commit_latency != nullptr) o.commit_latency->Get({}).Observe(commit.count());
    if (o.ingest_latency != nullptr) o.ingest_latency->Get(kind).Observe(total.count());
  }

  // A record (or the session) the store could not take: the stream ends, nothing more is
  // acknowledged, and the agent resends from the last commit once it reconnects.
  grpc::Status Refused(const absl::Status& status) {
    spdlog::error("cannot store records from {} ({}): {}", hostname_, peer_, status.message());
    if (status.code() == absl::StatusCode::kResourceExhausted) {
      return grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          common::StrCat("the collector's database disk is full (", status.message(),
                         "); it acknowledges nothing until space returns. The agent keeps the "
                         "records and resends them"));
    }
    return grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        common::StrCat("the collector could not store the record: ", status.message()));
  }

  // Acks are cumulative, so one not yet written is replaced by a newer one.
  void Acknowledge(uint64_t sequence) {
    std::lock_guard lock(mu_);
    if (!pending_.empty() && pending_.back().has_ack()) {
      pending_.back().mutable_ack()->set_sequence(sequence);
    } else {
      CollectorMessage ack;
      ack.mutable_ack()->set_epoch(epoch_);
      ack.mutable_ack()->set_sequence(sequence);
      pending_.push_back(std::move(ack));
    }
    WriteNextLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_ || pending_.empty()) return;
    bool own_buffer = false;
    // The previous message's bytes may still be here; serializing asserts an empty buffer
    // for all but the smallest messages.
    out_.Clear();
    grpc::Status serialized = grpc::SerializationTraits<CollectorMessage>::Serialize(
        pending_.front(), &out_, &own_buffer);
    pending_.pop_front();
    if (!serialized.ok()) {  // only for a message over 2 GiB, which is never built here
      finished_ = true;
      Finish(grpc::Status(grpc::StatusCode::INTERNAL,
                          common::StrCat("cannot encode a reply: ", serialized.error_message())));
      return;
    }
    writing_ = true;
    StartWrite(&out_);
  }

  void FinishOnce(const grpc::Status& status) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  AgentServiceImpl* const service_;
  grpc::CallbackServerContext* const context_;
  const std::string peer_;
  const std::string peer_host_;
  bool counted_ = false;  // in service_->peers_
  grpc::ByteBuffer in_bytes_;
  std::string certified_id_;      // the machine id of the client certificate; "" in insecure mode
  std::string certified_serial_;  // and its serial
  AgentMessage in_;
  // Set by the hello; read and written only on the read path (one read at a time).
  std::string machine_id_;
  std::string hostname_;
  uint64_t epoch_ = 0;
  int64_t session_ = 0;

  const std::shared_ptr<Committer::Lane> lane_;

  std::mutex mu_;
  size_t in_commit_ ABSL_GUARDED_BY(mu_) = 0;      // submitted, not yet called back
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;  // the stream window is full
  absl::Duration pace_;  // from Handle to OnReadDone: how long to wait before the next read
  bool pacing_ ABSL_GUARDED_BY(mu_) = false;  // the next read waits for pace_alarm_
  bool paced_before_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<grpc::Alarm> pace_alarm_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;  // OnDone ran
  std::deque<CollectorMessage> pending_ ABSL_GUARDED_BY(mu_);
  std::deque<CollectorMessage> early_ ABSL_GUARDED_BY(mu_);  // sent to it before the welcome
  bool welcomed_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ByteBuffer out_ ABSL_GUARDED_BY(mu_);  // the message being written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

AgentServiceImpl::AgentServiceImpl(Store& store, const common::Clock& clock, IngestOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      rate_(options_.limits.records_per_second, options_.limits.record_burst),
      peers_(options_.limits.max_streams_per_peer),
      committer_(store, options_.commit_batch) {}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* AgentServiceImpl::Connect(
    grpc::CallbackServerContext* context) {
  return new Stream(this, context);
}

std::string AgentServiceImpl::Claim(const medic::v1::Hello& hello, const std::string& peer,
                                    Stream* stream) {
  std::lock_guard lock(mu_);
  auto it = live_.find(hello.machine_id());
  if (it != live_.end()) {
    const Live& old = it->second;
    if (old.epoch != hello.epoch() && common::PeerHost(old.peer) != common::PeerHost(peer)) {
      return common::StrCat(
          "machine id ", hello.machine_id(), " is already connected from ",
          common::PeerHost(old.peer),
          " by another agent process: two machines share one identity (a cloned disk image?). "
          "On the copy, delete machine-id in the agent's state dir and restart the agent. If "
          "this machine merely moved, it is let in once the old connection times out (about a "
          "minute)");
    }
    // A reconnect, or the agent restarted on the same host: the new stream replaces the old.
    old.stream->Supersede();
  }
  live_[hello.machine_id()] = Live{stream, hello.epoch(), peer, stream->certified_serial()};
  return "";
}

bool AgentServiceImpl::Cut(const std::string& machine_id, std::string_view serial) {
  std::lock_guard lock(mu_);
  auto it = live_.find(machine_id);
  if (it == live_.end()) return false;
  if (!serial.empty() && it->second.serial != serial) return false;
  it->second.stream->Supersede();
  return true;
}

grpc::ServerUnaryReactor* AgentServiceImpl::Enroll(grpc::CallbackServerContext* context,
                                                   const medic::v1::EnrollRequest* request,
                                                   medic::v1::EnrollResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (options_.security == nullptr) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "enrollment is not enabled"));
    return reactor;
  }
  reactor->Finish(options_.security->Enroll(*request, context->peer(), response));
  return reactor;
}

grpc::ServerUnaryReactor* AgentServiceImpl::Renew(grpc::CallbackServerContext* context,
                                                  const medic::v1::RenewRequest* request,
                                                  medic::v1::EnrollResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (options_.security == nullptr || options_.security->insecure()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "enrollment is not enabled"));
    return reactor;
  }
  absl::StatusOr<AgentIdentity> identity = options_.security->IdentifyAgent(*context);
  if (!identity.ok()) {
    reactor->Finish(common::ToGrpcStatus(identity.status()));
    return reactor;
  }
  reactor->Finish(options_.security->Renew(*identity, *request, context->peer(), response));
  return reactor;
}

bool AgentServiceImpl::Forget(const std::string& machine_id, Stream* stream) {
  std::lock_guard lock(mu_);
  if (auto it = live_.find(machine_id); it != live_.end() && it->second.stream == stream) {
    live_.erase(it);
    return true;
  }
  return false;
}

bool AgentServiceImpl::SendTo(const std::string& machine_id, CollectorMessage message) {
  // The stream stays valid while mu_ is held (see live_); its own lock comes second.
  std::lock_guard lock(mu_);
  auto it = live_.find(machine_id);
  if (it == live_.end()) return false;
  it->second.stream->Write(std::move(message));
  return true;
}

}  // namespace medic::collector
