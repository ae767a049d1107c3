#include "agent/transport/collector_stream.h"

#include <algorithm>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "agent/transport/backoff.h"
#include "boost/asio/post.hpp"
#include "common/strings/str_cat.h"
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

SpoolPriority PriorityOf(const AgentMessage& record) {
  switch (record.kind_case()) {
    case AgentMessage::kDelta:
      // A delta that raises or clears a finding is worth as much as the finding.
      return record.delta().findings().empty() ? SpoolPriority::kHistory : SpoolPriority::kFinding;
    case AgentMessage::kSnapshot:
    case AgentMessage::kTopology:
    case AgentMessage::kPolicyApplied:
      return SpoolPriority::kState;
    default:  // diagnostic results, gaps, kinds added later
      return SpoolPriority::kFinding;
  }
}

CollectorStream::CollectorStream(boost::asio::io_context& io, StreamOptions options,
                                 medic::v1::Hello hello, SnapshotFn snapshot,
                                 std::unique_ptr<medic::agent::Spool> spool)
    : io_(io),
      options_(std::move(options)),
      hello_(std::move(hello)),
      snapshot_(std::move(snapshot)),
      spool_(std::move(spool)),
      heartbeat_interval_(options_.heartbeat_interval),
      reconnect_timer_(io),
      heartbeat_timer_(io),
      sync_timer_(io),
      random_(std::random_device{}()) {
  grpc::ChannelArguments args;
  // A dead connection (collector host gone, a blackholed route) is noticed within
  // keepalive time + timeout = 50 s even while nothing is being written.
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

void CollectorStream::Start() {
  // The first record of every epoch is the whole state, spooled before any connection, so
  // what changes while the collector is away is kept as deltas on top of it.
  AgentMessage snapshot;
  *snapshot.mutable_snapshot() = snapshot_();
  Transmit(std::move(snapshot));
  ScheduleSync();
  Connect();
}

void CollectorStream::ScheduleSync() {
  const absl::Duration interval = spool_->options().fsync_interval;
  if (interval <= absl::ZeroDuration()) return;  // every append is synced
  sync_timer_.expires_after(absl::ToChronoMilliseconds(interval));
  sync_timer_.async_wait([this](const boost::system::error_code& error) {
    if (error) return;
    if (absl::Status s = spool_->Sync(); !s.ok()) spdlog::error("agent spool: {}", s.message());
    ScheduleSync();
  });
}

void CollectorStream::Stop(std::function<void()> done) {
  stopping_ = true;
  reconnect_timer_.cancel();
  heartbeat_timer_.cancel();
  sync_timer_.cancel();
  if (absl::Status s = spool_->Sync(); !s.ok()) spdlog::error("agent spool: {}", s.message());
  if (call_ == nullptr) {
    boost::asio::post(io_, std::move(done));
    return;
  }
  on_stopped_ = std::move(done);
  call_->Cancel();
}

void CollectorStream::Connect() {
  if (stopping_) return;
  // Earlier runs' records first, oldest epoch first; then this run's.
  stream_epoch_ = spool_->oldest_epoch().value_or(hello_.epoch());
  medic::v1::Hello hello_message = hello_;
  hello_message.set_epoch(stream_epoch_);
  hello_message.set_last_sequence(
      stream_epoch_ == hello_.epoch() ? next_sequence_ - 1 : spool_->last_sequence(stream_epoch_));
  written_ = 0;
  in_flight_.clear();
  // The agent reconnects on its own schedule (with full jitter); without this, gRPC's own
  // connection backoff would make most of those attempts fail without trying.
  grpc::experimental::ChannelResetConnectionBackoff(channel_.get());
  call_ = new Call(this, stub_.get());
  AgentMessage hello;
  *hello.mutable_hello() = std::move(hello_message);
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
      if (stream_epoch_ != hello_.epoch()) {
        spdlog::info("delivering {} record(s) an earlier run of the agent (epoch {}) left",
                     spool_->last_sequence(stream_epoch_) > welcome.resume_after()
                         ? spool_->last_sequence(stream_epoch_) - welcome.resume_after()
                         : 0,
                     stream_epoch_);
      }
      // What the collector had not committed goes again, in order, from its resume point.
      written_ = welcome.resume_after();
      OnAcknowledged(welcome.resume_after());
      if (stream_epoch_ == hello_.epoch() && need_snapshot_) {
        need_snapshot_ = false;
        AgentMessage snapshot;
        *snapshot.mutable_snapshot() = snapshot_();
        Transmit(std::move(snapshot));
      }
      ScheduleHeartbeat();
      break;
    }
    case CollectorMessage::kAck: {
      if (message.ack().epoch() != 0 && message.ack().epoch() != stream_epoch_) break;
      OnAcknowledged(message.ack().sequence());
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
  if (advancing_) {  // an earlier epoch is delivered: on to the next at once
    advancing_ = false;
    Connect();
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
  const absl::Duration delay =
      ReconnectDelay(BackoffRule{.initial = options_.initial_backoff, .max = options_.max_backoff},
                     failures_, random_);
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

void CollectorStream::OnAcknowledged(uint64_t sequence) {
  if (absl::Status s = spool_->Acknowledge(stream_epoch_, sequence); !s.ok()) {
    spdlog::error("agent spool: {}", s.message());
  }
  while (!in_flight_.empty() && in_flight_.front() <= sequence) in_flight_.pop_front();
  Pump();
  MaybeAdvanceEpoch();
}

void CollectorStream::MaybeAdvanceEpoch() {
  if (stream_epoch_ == hello_.epoch() || call_ == nullptr || advancing_) return;
  if (spool_->last_sequence(stream_epoch_) != 0) return;
  // The deletions must be durable before the store moves on to the next epoch: a segment of
  // this epoch coming back after a crash would be taken for new records of an epoch the
  // store no longer tracks.
  if (absl::Status s = spool_->Sync(); !s.ok()) {
    spdlog::error("agent spool: {}", s.message());
    return;
  }
  spdlog::info("records of the agent's earlier run (epoch {}) all delivered", stream_epoch_);
  advancing_ = true;
  call_->Cancel();
}

void CollectorStream::Pump() {
  if (!welcomed_ || call_ == nullptr || advancing_) return;
  while (in_flight_.size() < options_.window) {
    absl::StatusOr<std::vector<SpooledRecord>> batch =
        spool_->Read(stream_epoch_, written_, options_.window - in_flight_.size());
    if (!batch.ok()) {
      spdlog::error("agent spool: {}", batch.status().message());
      return;
    }
    if (batch->empty()) return;
    for (SpooledRecord& spooled : *batch) {
      AgentMessage record;
      if (!record.ParseFromString(spooled.payload)) {
        // The frame's CRC held, so this is a record from an incompatible build: skip it.
        spdlog::error("agent spool: record {} of epoch {} does not parse; skipped",
                      spooled.sequence, spooled.epoch);
        written_ = spooled.sequence;
        continue;
      }
      written_ = spooled.sequence;
      in_flight_.push_back(spooled.sequence);
      call_->Write(std::move(record));
    }
  }
}

void CollectorStream::Send(AgentMessage record) {
  // Before Start there is no snapshot yet; it will carry this state.
  if (next_sequence_ == 1 && record.has_delta()) return;
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
  SpoolRecord(record);
  if (stream_epoch_ == hello_.epoch()) Pump();
}

void CollectorStream::SpoolRecord(const AgentMessage& record) {
  absl::StatusOr<SpoolDrops> drops = spool_->Append(hello_.epoch(), record.sequence(),
                                                    PriorityOf(record), record.SerializeAsString());
  const bool write_failed = !drops.ok();
  if (write_failed) {
    // The state dir's disk is full or failing: the record is lost, and said so.
    if (spool_errors_++ % 100 == 0) {
      spdlog::error("agent spool: cannot keep record {}: {} ({} so far)", record.sequence(),
                    drops.status().message(), spool_errors_);
    }
    SpoolDrops lost;
    lost.sequences[hello_.epoch()].push_back(record.sequence());
    (PriorityOf(record) == SpoolPriority::kFinding ? lost.findings : lost.history) = 1;
    drops = std::move(lost);
    if (record.has_gap()) return;  // a gap that cannot be kept cannot be reported either
  }
  if (drops->empty()) return;
  need_snapshot_ = true;
  for (const auto& [epoch, sequences] : drops->sequences) {
    AgentMessage gap_record;
    medic::v1::Gap* gap = gap_record.mutable_gap();
    gap->set_epoch(epoch);
    gap->set_from_sequence(sequences.front());
    gap->set_to_sequence(sequences.back());
    *gap->mutable_sequences() = {sequences.begin(), sequences.end()};
    if (drops->sequences.size() == 1) {
      gap->set_dropped_reports(drops->state);
      gap->set_dropped_observations(drops->history);
      gap->set_dropped_findings(drops->findings);
    }
    gap->set_reason(!write_failed ? common::StrCat("the agent's spool reached its cap of ",
                                                   spool_->options().max_bytes,
                                                   " bytes while the collector was away")
                                  : "the agent could not write its spool");
    spdlog::warn(
        "agent spool: dropped {} record(s) of epoch {} ({} observation, {} state, {} "
        "finding): {}",
        sequences.size(), epoch, drops->history, drops->state, drops->findings, gap->reason());
    gap_record.set_sequence(next_sequence_++);
    *gap_record.mutable_sent_at() = common::ToProtoTime(absl::Now());
    SpoolRecord(gap_record);
  }
}

}  // namespace medic::agent
