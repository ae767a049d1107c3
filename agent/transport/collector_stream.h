#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>

#include "absl/time/time.h"
#include "agent/spool/spool.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/steady_timer.hpp"
#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"
#include "medic/v1/agent.grpc.pb.h"

namespace medic::agent {

struct StreamOptions {
  std::string collector;  // HOST:PORT
  // How to reach it: mTLS credentials (enrollment.h); null for a plaintext channel (--insecure).
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  std::string server_name;  // checked in the collector's certificate instead of the host
  absl::Duration initial_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(60);
  absl::Duration heartbeat_interval = absl::Seconds(15);  // until the collector says otherwise
  size_t window = 256;  // records written but not yet acknowledged, at most
  // Central policy from the collector, on the io thread (deployment issue 12).
  std::function<void(const medic::v1::Policy&)> on_policy;
};

// How much a record is worth keeping when the spool is full.
SpoolPriority PriorityOf(const medic::v1::AgentMessage& record);

// The agent's one stream to the collector. Every record (a first snapshot asked of `snapshot`
// at Start, then whatever Send() gets) is numbered within this process's epoch and appended
// to `spool` before it is written; it leaves the spool when the collector acknowledges it.
// After a reconnect, what the collector had not committed (from its resume point) is written
// again, at most `window` records ahead of the acknowledgements.
//
// Restarts: the spool may hold records of earlier epochs (an earlier run of the agent). They
// are delivered first, each epoch on a stream whose hello names that epoch, oldest first;
// only when an epoch is fully acknowledged does the stream move to the next one, ending with
// this process's own. So the store sees each epoch's records in order and keys them by
// (machine, epoch, sequence).
//
// Reconnects with exponential backoff and full jitter while the collector is away.
// Lives on the io_context's thread: call every method from there.
class CollectorStream {
 public:
  using SnapshotFn = std::function<medic::v1::Snapshot()>;

  CollectorStream(boost::asio::io_context& io, StreamOptions options, medic::v1::Hello hello,
                  SnapshotFn snapshot, std::unique_ptr<Spool> spool);
  ~CollectorStream();

  void Start();
  // Ends the stream; `done` runs (on the io thread) once the call is fully closed. Keep the
  // io_context running until then, and destroy this object only after.
  void Stop(std::function<void()> done);

  // Spools a record (snapshot, delta, topology, diagnostic result, …) under the next sequence
  // number and sends it when the window allows. When the spool is full it drops by priority
  // and spools a Gap record naming what went.
  void Send(medic::v1::AgentMessage record);

  // Called on the io thread for each diagnostic request the collector sends; it must not block
  // (hand the work to another thread and Send() the result, as a diagnostic_result record).
  using RequestFn = std::function<void(const medic::v1::DiagnosticRequest&)>;
  void SetRequestHandler(RequestFn handler) { on_request_ = std::move(handler); }
  // Sends a message that needs no acknowledgement (PolicyApplied) on the current stream; it
  // is dropped when not connected (the next hello brings the policy again).
  void SendUnsequenced(medic::v1::AgentMessage message);
  // The policy version the next hello carries.
  void set_policy_version(const std::string& version) { hello_.set_policy_version(version); }

  bool connected() const { return welcomed_; }
  uint64_t last_sequence() const { return next_sequence_ - 1; }
  const Spool& spool() const { return *spool_; }

 private:
  class Call;

  void Connect();
  void OnMessage(Call* call, const medic::v1::CollectorMessage& message);
  void OnCallDone(Call* call, const grpc::Status& status);
  void ScheduleReconnect();
  void ScheduleHeartbeat();
  void Transmit(medic::v1::AgentMessage record);
  // Appends to the spool; sends a Gap record for whatever had to be dropped.
  void SpoolRecord(const medic::v1::AgentMessage& record);
  // Writes spooled records of the stream's epoch after `written_` while the window allows.
  void Pump();
  // The stream's epoch is an earlier run's and fully delivered: move on to the next one.
  void MaybeAdvanceEpoch();
  void OnAcknowledged(uint64_t sequence);
  void ScheduleSync();

  boost::asio::io_context& io_;
  const StreamOptions options_;
  medic::v1::Hello hello_;
  SnapshotFn snapshot_;
  RequestFn on_request_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<medic::v1::AgentService::Stub> stub_;

  Call* call_ = nullptr;  // owned; deleted on the io thread after the call is done
  bool welcomed_ = false;
  bool stopping_ = false;
  std::function<void()> on_stopped_;
  uint64_t next_sequence_ = 1;  // of this process's epoch (hello_.epoch())
  std::unique_ptr<medic::agent::Spool> spool_;
  uint64_t stream_epoch_ = 0;       // the epoch the current call delivers
  uint64_t written_ = 0;            // highest sequence of stream_epoch_ written on this call
  std::deque<uint64_t> in_flight_;  // written on this call, not yet acknowledged
  bool advancing_ = false;          // the call is being ended to move to the next epoch
  bool need_snapshot_ = false;      // records were dropped: the next connection sends a snapshot
  uint64_t spool_errors_ = 0;

  int failures_ = 0;  // consecutive failed connections, for the backoff
  absl::Duration heartbeat_interval_;
  boost::asio::steady_timer reconnect_timer_;
  boost::asio::steady_timer heartbeat_timer_;
  boost::asio::steady_timer sync_timer_;
  std::mt19937_64 random_;
};

}  // namespace medic::agent
