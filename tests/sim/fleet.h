#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "agent/transport/backoff.h"
#include "grpcpp/channel.h"
#include "medic/v1/agent.grpc.pb.h"
#include "tests/sim/scenario.h"

namespace medic::sim {

class Stream;
class Reconnector;

// One simulated agent: its own identity and its own gRPC connection to the collector,
// speaking the real agent protocol (hello, snapshot with topology and standing findings,
// deltas of finding events, heartbeats; sequenced records per epoch). Thread-safe.
//
// Delivery as the real agent's (agent/transport/collector_stream.h), with memory instead of
// a spool: every sequenced record is kept until the collector acknowledges it; a hello names
// the last sequence made, and what comes after the welcome's resume_after is written again,
// in order, before anything newer. A stream that ends without Disconnect (the collector died,
// refused or cut it) is reopened by itself after the agent's own backoff with full jitter
// (agent/transport/backoff.h). At most max_unacked records are kept: past that the oldest go
// (whatever their kind, unlike the agent's spool, which keeps findings longest), and a gap
// record names them, and whatever an earlier gap that goes with them named.
class SimAgent {
 public:
  SimAgent(std::string hostname, const FleetGroup& group, std::string collector, uint64_t epoch);
  ~SimAgent();

  const std::string& hostname() const { return hostname_; }
  const FleetGroup& group() const { return group_; }

  // Opens a stream: hello, then a snapshot of what stands now (the first time, and after
  // Disconnect); after a dropped stream, hello and the unacknowledged records. A no-op while
  // connected.
  void Connect();
  // Drops the stream and stops sending (the machine went dark).
  void Disconnect();
  bool connected() const;
  void Heartbeat(absl::Duration interval);
  void Raise(const medic::v1::Finding& finding);
  void Clear(const medic::v1::FindingCleared& clear);
  // Sends a probe report with its observations (a delta); the collector keeps the
  // observations as history at `report.collected_at` (now when unset).
  void Report(const medic::v1::ProbeReport& report);
  // Several collector replicas (issue 10): when the stream ended without Disconnect (its
  // collector died), opens a new one now rather than after the backoff; the channel then picks
  // another replica. True when it reconnected.
  bool ReconnectIfDropped();
  // Waits (up to `timeout`) until the stream has ended after Disconnect.
  void WaitClosed(absl::Duration timeout);
  // Records the collector acknowledged so far in this epoch (the highest sequence: acks are
  // cumulative).
  uint64_t acked() const { return acked_.load(); }
  // Sequenced records made so far in this epoch (the last sequence).
  uint64_t sent() const;
  // Records kept for a resend, and records dropped past the bound (each named by a gap; gap
  // records dropped in turn count too).
  size_t unacked() const;
  uint64_t dropped() const;

  // Before Connect. The agent's defaults unless set.
  void set_backoff(agent::BackoffRule rule);
  void set_max_unacked(size_t records);  // at least 2 (a record and its gap); default 1000

  // When each stream was opened, welcomed by the collector, and seen ending: for measuring how
  // a fleet's reconnects spread out after a collector restart.
  struct ConnectionLog {
    std::vector<absl::Time> attempts;
    std::vector<absl::Time> welcomes;
    std::vector<absl::Time> ends;
  };
  ConnectionLog connections() const;
  // Whether it answers diagnostic requests (health and dns plausibly from what stands and its
  // group's DNS servers; the rest PASSED with nothing found). Default true; false plays an
  // agent that is connected but never answers.
  void set_answers_diagnostics(bool answers) { answers_diagnostics_.store(answers); }
  uint64_t diagnostics_answered() const { return diagnostics_answered_.load(); }

 private:
  friend class Stream;
  friend class Reconnector;
  void Send(medic::v1::AgentMessage message, bool sequenced);
  void Answer(const medic::v1::DiagnosticRequest& request);
  medic::v1::Topology TopologyLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Numbers `record` and keeps it for a resend (dropping the oldest, with a gap record, past
  // the bound); writes it, and the gap, when the stream is welcomed.
  void KeepLocked(medic::v1::AgentMessage record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Replaces the (ended or absent) stream by a new one, which Start()s once mu_ is released.
  // The old one goes to `*old`, to be destroyed outside the lock.
  std::shared_ptr<Stream> NewStreamLocked(bool snapshot, std::shared_ptr<Stream>* old)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AcknowledgeLocked(uint64_t sequence) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // From the stream's reactions (gRPC threads).
  void OnWelcome(Stream* stream, uint64_t resume_after);
  void OnAck(uint64_t epoch, uint64_t sequence);
  void OnStreamEnded(Stream* stream);
  // From the Reconnector's thread once the backoff of stream `generation` has passed.
  void ReconnectAfterBackoff(uint64_t generation);

  const std::string hostname_;
  const FleetGroup group_;
  const std::string collector_;
  const uint64_t epoch_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<medic::v1::AgentService::Stub> stub_;
  std::atomic<uint64_t> acked_{0};
  std::atomic<bool> answers_diagnostics_{true};
  std::atomic<uint64_t> diagnostics_answered_{0};

  mutable std::mutex mu_;
  std::shared_ptr<Stream> stream_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // of stream_: each new stream counts one
  bool welcomed_ ABSL_GUARDED_BY(mu_) = false;    // stream_ got its welcome: records go out
  uint64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::pair<std::string, std::string>, medic::v1::Finding> standing_ ABSL_GUARDED_BY(mu_);
  bool dark_ ABSL_GUARDED_BY(mu_) = false;  // Disconnect was called: stay dark until Connect
  // Sequenced records not yet acknowledged, in sequence order.
  std::deque<medic::v1::AgentMessage> unacked_ ABSL_GUARDED_BY(mu_);
  size_t max_unacked_ ABSL_GUARDED_BY(mu_) = 1000;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  agent::BackoffRule backoff_ ABSL_GUARDED_BY(mu_);
  int failures_ ABSL_GUARDED_BY(mu_) = 0;  // streams ended since the last welcome
  std::mt19937_64 random_ ABSL_GUARDED_BY(mu_);
  ConnectionLog log_ ABSL_GUARDED_BY(mu_);
};

// The gRPC target for the `index`th agent when the fleet spreads over `collectors` (IP:PORT
// each): every agent gets the list rotated to start at a different replica, and the channel
// (pick_first) moves to the next one that answers when its replica goes away. One address is
// returned as it is.
std::string SpreadTarget(const std::vector<std::string>& collectors, size_t index);

}  // namespace medic::sim
