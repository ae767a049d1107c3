#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>

#include "absl/time/time.h"
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
  size_t max_unacknowledged = 1000;  // records kept for resending; the oldest go first
  // Central policy from the collector, on the io thread (deployment issue 12).
  std::function<void(const medic::v1::Policy&)> on_policy;
};

// The agent's one stream to the collector. Connects out, says hello, sends a fresh snapshot
// (asked of `snapshot` on every connection), then the records given to Send(); keeps every
// record until the collector acknowledges it and resends those it had not committed after a
// reconnect. Reconnects with exponential backoff and full jitter while the collector is away.
// Lives on the io_context's thread: call every method from there.
class CollectorStream {
 public:
  using SnapshotFn = std::function<medic::v1::Snapshot()>;

  CollectorStream(boost::asio::io_context& io, StreamOptions options, medic::v1::Hello hello,
                  SnapshotFn snapshot);
  ~CollectorStream();

  void Start();
  // Ends the stream; `done` runs (on the io thread) once the call is fully closed. Keep the
  // io_context running until then, and destroy this object only after.
  void Stop(std::function<void()> done);

  // Queues a record (snapshot, delta, topology, …): gives it the next sequence number and
  // sends it now if connected, else after the next connection's snapshot.
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
  uint64_t acknowledged() const { return acknowledged_; }
  uint64_t last_sequence() const { return next_sequence_ - 1; }

 private:
  class Call;

  void Connect();
  void OnMessage(Call* call, const medic::v1::CollectorMessage& message);
  void OnCallDone(Call* call, const grpc::Status& status);
  void ScheduleReconnect();
  void ScheduleHeartbeat();
  void Transmit(medic::v1::AgentMessage record);

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
  uint64_t next_sequence_ = 1;
  uint64_t acknowledged_ = 0;
  std::deque<medic::v1::AgentMessage> unacknowledged_;  // in sequence order
  uint64_t dropped_ = 0;

  int failures_ = 0;  // consecutive failed connections, for the backoff
  absl::Duration heartbeat_interval_;
  boost::asio::steady_timer reconnect_timer_;
  boost::asio::steady_timer heartbeat_timer_;
  std::mt19937_64 random_;
};

}  // namespace medic::agent
