#include "collector/ingest/agent_service.h"

#include <deque>
#include <utility>

#include "common/net/peer.h"
#include "common/status/grpc_status.h"
#include "common/strings/str_cat.h"
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
// OnDone.
class AgentServiceImpl::Stream final
    : public grpc::ServerBidiReactor<AgentMessage, CollectorMessage> {
 public:
  Stream(AgentServiceImpl* service, grpc::CallbackServerContext* context)
      : service_(service),
        context_(context),
        peer_(context->peer()),
        lane_(std::make_shared<Committer::Lane>()) {
    service_->streams_.fetch_add(1);
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the agent closed its side, or the stream broke
      FinishOnce(grpc::Status::OK);
      return;
    }
    grpc::Status status = Handle(in_);
    if (!status.ok()) {
      spdlog::warn("agent stream from {} ({}) ended: {}", peer_,
                   hostname_.empty() ? "no hello yet" : hostname_, status.error_message());
      FinishOnce(status);
      return;
    }
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      if (in_commit_ >= service_->options_.stream_window) {
        read_paused_ = true;  // resumed by OnCommitted
        return;
      }
    }
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) return;  // the stream is going away; OnDone follows
    WriteNextLocked();
  }

  void OnDone() override {
    if (!machine_id_.empty()) {
      service_->Forget(machine_id_, this);
      absl::Status s = service_->store_.CloseSession(machine_id_, session_, service_->clock_.Now());
      if (s.ok()) {
        spdlog::info("{} disconnected", hostname_);
      } else {
        spdlog::warn("{} disconnected, but the store could not record it: {}", hostname_,
                     s.message());
      }
    }
    service_->streams_.fetch_sub(1);
    bool last;
    {
      std::lock_guard lock(mu_);
      done_ = true;
      last = in_commit_ == 0;
    }
    // Records still being committed call back into this stream; the last one deletes it.
    if (last) delete this;
  }

  // Ends this stream from another thread: a newer stream of the same machine replaced it.
  void Supersede() { context_->TryCancel(); }

 private:
  grpc::Status Handle(const AgentMessage& message) {
    const absl::Time now = service_->clock_.Now();
    if (machine_id_.empty()) {
      if (!message.has_hello()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "the first message on a stream must be a hello");
      }
      return HandleHello(message.hello(), now);
    }
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
    service_->committer_.Submit(lane_, machine_id_, epoch_, message, now,
                                [this](const absl::Status& status, const AgentMessage& record) {
                                  OnCommitted(status, record);
                                });
    return grpc::Status::OK;
  }

  // On the committer thread, once `record`'s batch committed or failed.
  void OnCommitted(const absl::Status& stored, const AgentMessage& message) {
    if (stored.ok()) {
      Committed(message);
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
        resume = true;
      }
      last = done_ && in_commit_ == 0;
    }
    if (resume) StartRead(&in_);
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
    Acknowledge(message.sequence());
  }

  grpc::Status HandleHello(const medic::v1::Hello& hello, absl::Time now) {
    if (std::string why = CheckHello(hello); !why.empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, why);
    }
    hostname_ = hello.hostname();
    if (std::string clash = service_->Claim(hello, peer_, this); !clash.empty()) {
      spdlog::warn("refused {} from {}: {}", hostname_, peer_, clash);
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, clash);
    }
    machine_id_ = hello.machine_id();
    absl::StatusOr<Store::Session> session = service_->store_.OpenSession(hello, peer_, now);
    if (!session.ok()) return Unavailable(session.status());
    session_ = session->id;
    epoch_ = hello.epoch();
    spdlog::info("{} connected from {} (agent {}, resuming after record {})", hostname_, peer_,
                 hello.agent_version(), session->resume_after);
    CollectorMessage welcome;
    welcome.mutable_welcome()->set_collector_version(service_->options_.collector_version);
    welcome.mutable_welcome()->set_resume_after(session->resume_after);
    *welcome.mutable_welcome()->mutable_heartbeat_interval() =
        common::ToProtoDuration(service_->options_.heartbeat_interval);
    if (auto* observer = service_->options_.observer) observer->OnHello(machine_id_, hello);
    Write(std::move(welcome));
    return grpc::Status::OK;
  }

  // A record the store could not take: the stream ends, nothing more is acknowledged, and the
  // agent resends from the last commit once it reconnects.
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

  grpc::Status Unavailable(const absl::Status& status) {
    spdlog::error("cannot store a record from {} ({}): {}", hostname_, peer_, status.message());
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

  void Write(CollectorMessage message) {
    std::lock_guard lock(mu_);
    pending_.push_back(std::move(message));
    WriteNextLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_ || pending_.empty()) return;
    out_ = std::move(pending_.front());
    pending_.pop_front();
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
  AgentMessage in_;
  // Set by the hello; read and written only on the read path (one read at a time).
  std::string machine_id_;
  std::string hostname_;
  uint64_t epoch_ = 0;
  int64_t session_ = 0;

  const std::shared_ptr<Committer::Lane> lane_;

  std::mutex mu_;
  size_t in_commit_ ABSL_GUARDED_BY(mu_) = 0;  // submitted, not yet called back
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;  // OnDone ran
  std::deque<CollectorMessage> pending_ ABSL_GUARDED_BY(mu_);
  CollectorMessage out_ ABSL_GUARDED_BY(mu_);  // the message being written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

AgentServiceImpl::AgentServiceImpl(Store& store, const common::Clock& clock, IngestOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      committer_(store, options_.commit_batch) {}

grpc::ServerBidiReactor<medic::v1::AgentMessage, medic::v1::CollectorMessage>*
AgentServiceImpl::Connect(grpc::CallbackServerContext* context) {
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
  live_[hello.machine_id()] = Live{stream, hello.epoch(), peer};
  return "";
}

void AgentServiceImpl::Forget(const std::string& machine_id, Stream* stream) {
  std::lock_guard lock(mu_);
  if (auto it = live_.find(machine_id); it != live_.end() && it->second.stream == stream) {
    live_.erase(it);
  }
}

}  // namespace medic::collector
