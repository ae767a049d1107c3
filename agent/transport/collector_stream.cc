#include "agent/transport/collector_stream.h"

#include <algorithm>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "boost/asio/post.hpp"
#include "common/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "spdlog/spdlog.h"

namespace medic::agent {

using medic::v1::AgentMessage;
using medic::v1::CollectorMessage;

// One gRPC call. gRPC runs its reactions on its own threads; they post what they learn to
// the io thread, which owns all other state. A hold keeps OnDone back until the read side
// has ended, so writes may be started from the io thread at any time before that.
class CollectorStream::Call final : public grpc::ClientBidiReactor<AgentMessage, CollectorMessage> {
 public:
  Call(CollectorStream* owner, medic::v1::AgentService::Stub* stub) : owner_(owner) {
    stub->async()->Connect(&context_, this);
    AddHold();
    StartRead(&in_);
    StartCall();
  }

  void Write(AgentMessage message) {
    std::lock_guard lock(mu_);
    if (closed_) return;
    pending_.push_back(std::move(message));
    WriteNextLocked();
  }

  void Cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      {
        std::lock_guard lock(mu_);
        closed_ = true;
      }
      RemoveHold();
      return;
    }
    boost::asio::post(owner_->io_, [owner = owner_, self = this, message = in_] {
      owner->OnMessage(self, message);
    });
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (ok) WriteNextLocked();
  }

  void OnDone(const grpc::Status& status) override {
    boost::asio::post(owner_->io_,
                      [owner = owner_, self = this, status] { owner->OnCallDone(self, status); });
  }

 private:
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || closed_ || pending_.empty()) return;
    out_ = std::move(pending_.front());
    pending_.pop_front();
    writing_ = true;
    StartWrite(&out_);
  }

  CollectorStream* const owner_;
  grpc::ClientContext context_;
  CollectorMessage in_;
  std::mutex mu_;
  std::deque<AgentMessage> pending_ ABSL_GUARDED_BY(mu_);
  AgentMessage out_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

CollectorStream::CollectorStream(boost::asio::io_context& io, StreamOptions options,
                                 medic::v1::Hello hello, SnapshotFn snapshot)
    : io_(io),
      options_(std::move(options)),
      hello_(std::move(hello)),
      snapshot_(std::move(snapshot)),
      heartbeat_interval_(options_.heartbeat_interval),
      reconnect_timer_(io),
      heartbeat_timer_(io),
      random_(std::random_device{}()) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  if (!options_.server_name.empty()) args.SetSslTargetNameOverride(options_.server_name);
  channel_ = grpc::CreateCustomChannel(
      options_.collector,
      options_.credentials != nullptr ? options_.credentials : grpc::InsecureChannelCredentials(),
      args);
  stub_ = medic::v1::AgentService::NewStub(channel_);
}

CollectorStream::~CollectorStream() {
  // A live call belongs to gRPC until its OnDone: freeing it here would be a use after free.
  if (call_ != nullptr) {
    spdlog::critical("CollectorStream destroyed with its call still open; Stop() first");
    std::abort();
  }
}

void CollectorStream::Start() { Connect(); }

void CollectorStream::Stop(std::function<void()> done) {
  stopping_ = true;
  reconnect_timer_.cancel();
  heartbeat_timer_.cancel();
  if (call_ == nullptr) {
    boost::asio::post(io_, std::move(done));
    return;
  }
  on_stopped_ = std::move(done);
  call_->Cancel();
}

void CollectorStream::Connect() {
  if (stopping_) return;
  hello_.set_last_sequence(next_sequence_ - 1);
  // The agent reconnects on its own schedule (with full jitter); without this, gRPC's own
  // connection backoff would make most of those attempts fail without trying.
  grpc::experimental::ChannelResetConnectionBackoff(channel_.get());
  call_ = new Call(this, stub_.get());
  AgentMessage hello;
  *hello.mutable_hello() = hello_;
  *hello.mutable_sent_at() = common::ToProtoTime(absl::Now());
  call_->Write(std::move(hello));
}

void CollectorStream::OnMessage(Call* call, const CollectorMessage& message) {
  if (call != call_) return;  // a message from a call already replaced
  switch (message.kind_case()) {
    case CollectorMessage::kWelcome: {
      const auto& welcome = message.welcome();
      if (failures_ > 0) {
        spdlog::info("connected to the collector at {} again", options_.collector);
      } else {
        spdlog::info("connected to the collector at {} (collector {})", options_.collector,
                     welcome.collector_version());
      }
      welcomed_ = true;
      failures_ = 0;
      if (welcome.has_heartbeat_interval() &&
          common::FromProtoDuration(welcome.heartbeat_interval()) > absl::ZeroDuration()) {
        heartbeat_interval_ = common::FromProtoDuration(welcome.heartbeat_interval());
      }
      acknowledged_ = std::max(acknowledged_, welcome.resume_after());
      while (!unacknowledged_.empty() && unacknowledged_.front().sequence() <= acknowledged_) {
        unacknowledged_.pop_front();
      }
      // What the collector had not committed goes again, in order, then today's truth.
      for (const auto& record : unacknowledged_) call_->Write(record);
      AgentMessage snapshot;
      *snapshot.mutable_snapshot() = snapshot_();
      Transmit(std::move(snapshot));
      ScheduleHeartbeat();
      break;
    }
    case CollectorMessage::kAck: {
      acknowledged_ = std::max(acknowledged_, message.ack().sequence());
      while (!unacknowledged_.empty() && unacknowledged_.front().sequence() <= acknowledged_) {
        unacknowledged_.pop_front();
      }
      break;
    }
    case CollectorMessage::kDiagnosticRequest:
      if (on_request_) {
        on_request_(message.diagnostic_request());
      } else {
        spdlog::warn("the collector asked for diagnostic {}, but this agent runs none",
                     message.diagnostic_request().request_id());
      }
      break;
    case CollectorMessage::kPolicy:
      if (options_.on_policy) options_.on_policy(message.policy());
      break;
    default:
      spdlog::debug("ignoring a collector message this agent does not know (kind {})",
                    static_cast<int>(message.kind_case()));
      break;
  }
}

void CollectorStream::OnCallDone(Call* call, const grpc::Status& status) {
  if (call != call_) {
    delete call;
    return;
  }
  delete call_;
  call_ = nullptr;
  const bool was_welcomed = welcomed_;
  welcomed_ = false;
  heartbeat_timer_.cancel();
  if (stopping_) {
    if (on_stopped_) boost::asio::post(io_, std::move(on_stopped_));
    return;
  }
  ++failures_;
  if (was_welcomed) {
    spdlog::warn("lost the collector at {}: {}", options_.collector, status.error_message());
  } else if (failures_ == 1 || failures_ % 10 == 0) {
    spdlog::warn("cannot reach the collector at {}: {} (attempt {}; retrying with backoff)",
                 options_.collector, status.error_message(), failures_);
  }
  if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
      status.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
      status.error_code() == grpc::StatusCode::PERMISSION_DENIED ||  // revoked, spoofed id
      status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {    // no valid certificate
    spdlog::error("the collector refused this agent's stream: {}", status.error_message());
  }
  ScheduleReconnect();
}

void CollectorStream::ScheduleReconnect() {
  // Full jitter: anywhere between 0 and the capped exponential backoff, so a fleet that lost
  // its collector together does not come back together.
  const double cap = std::min(absl::ToDoubleSeconds(options_.max_backoff),
                              absl::ToDoubleSeconds(options_.initial_backoff) *
                                  static_cast<double>(uint64_t{1} << std::min(failures_, 16)));
  std::uniform_real_distribution<double> pick(0.0, cap);
  const absl::Duration delay = std::max(absl::Milliseconds(100), absl::Seconds(pick(random_)));
  reconnect_timer_.expires_after(absl::ToChronoMilliseconds(delay));
  reconnect_timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error) Connect();
  });
}

void CollectorStream::ScheduleHeartbeat() {
  heartbeat_timer_.expires_after(absl::ToChronoMilliseconds(heartbeat_interval_));
  heartbeat_timer_.async_wait([this](const boost::system::error_code& error) {
    if (error || !welcomed_ || call_ == nullptr) return;
    AgentMessage heartbeat;
    *heartbeat.mutable_heartbeat()->mutable_interval() =
        common::ToProtoDuration(heartbeat_interval_);
    *heartbeat.mutable_sent_at() = common::ToProtoTime(absl::Now());
    call_->Write(std::move(heartbeat));
    ScheduleHeartbeat();
  });
}

void CollectorStream::Send(AgentMessage record) {
  // Before the first welcome there is no snapshot yet; it will carry this state.
  if (!welcomed_ && record.has_delta() && unacknowledged_.empty() && next_sequence_ == 1) return;
  Transmit(std::move(record));
}

void CollectorStream::SendUnsequenced(AgentMessage message) {
  if (!welcomed_ || call_ == nullptr) return;
  message.set_sequence(0);
  *message.mutable_sent_at() = common::ToProtoTime(absl::Now());
  call_->Write(std::move(message));
}

void CollectorStream::Transmit(AgentMessage record) {
  record.set_sequence(next_sequence_++);
  if (!record.has_sent_at()) *record.mutable_sent_at() = common::ToProtoTime(absl::Now());
  if (unacknowledged_.size() >= options_.max_unacknowledged) {
    unacknowledged_.pop_front();
    if (dropped_++ % 100 == 0) {
      spdlog::warn(
          "the collector has been away long: dropped {} unacknowledged records "
          "(the next snapshot carries the current state)",
          dropped_);
    }
  }
  unacknowledged_.push_back(record);
  if (welcomed_ && call_ != nullptr) call_->Write(std::move(record));
}

}  // namespace medic::agent
