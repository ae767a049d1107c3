#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "medic/v1/agent.grpc.pb.h"
#include "tests/sim/scenario.h"

namespace medic::sim {

class Stream;

// One simulated agent: its own identity and its own gRPC connection to the collector,
// speaking the real agent protocol (hello, snapshot with topology and standing findings,
// deltas of finding events, heartbeats; sequenced records per epoch). Thread-safe.
class SimAgent {
 public:
  SimAgent(std::string hostname, const FleetGroup& group, std::string collector, uint64_t epoch);
  ~SimAgent();

  const std::string& hostname() const { return hostname_; }
  const FleetGroup& group() const { return group_; }

  // Opens a stream: hello, then a snapshot of what stands now.
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
  // collector died), opens a new one, as a real agent reconnects; the channel then picks
  // another replica. True when it reconnected.
  bool ReconnectIfDropped();
  // Waits (up to `timeout`) until the stream has ended after Disconnect.
  void WaitClosed(absl::Duration timeout);
  // Records the collector acknowledged so far in this epoch.
  uint64_t acked() const { return acked_.load(); }
  uint64_t sent() const;
  // Whether it answers diagnostic requests (health and dns plausibly from what stands and its
  // group's DNS servers; the rest PASSED with nothing found). Default true; false plays an
  // agent that is connected but never answers.
  void set_answers_diagnostics(bool answers) { answers_diagnostics_.store(answers); }
  uint64_t diagnostics_answered() const { return diagnostics_answered_.load(); }

 private:
  friend class Stream;
  void Send(medic::v1::AgentMessage message, bool sequenced);
  void Answer(const medic::v1::DiagnosticRequest& request);
  medic::v1::Topology TopologyLocked() const;

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
  std::shared_ptr<Stream> stream_;
  uint64_t sequence_ = 0;
  std::map<std::pair<std::string, std::string>, medic::v1::Finding> standing_;
  bool dark_ = false;  // Disconnect was called: stay disconnected until Connect
};

// The gRPC target for the `index`th agent when the fleet spreads over `collectors` (IP:PORT
// each): every agent gets the list rotated to start at a different replica, and the channel
// (pick_first) moves to the next one that answers when its replica goes away. One address is
// returned as it is.
std::string SpreadTarget(const std::vector<std::string>& collectors, size_t index);

}  // namespace medic::sim
