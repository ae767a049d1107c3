#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "collector/ingest/committer.h"
#include "collector/store/store.h"
#include "common/time/clock.h"
#include "medic/v1/agent.grpc.pb.h"

namespace medic::collector {

// Told about what agents send, after it is stored. Called on gRPC threads: implementations
// must only queue the work and return at once.
class IngestObserver {
 public:
  virtual ~IngestObserver() = default;
  // Machines are named by their machine_id (hostnames need not be unique); the hello carries
  // the hostname to show.
  // A stream's hello was accepted.
  virtual void OnHello(const std::string& machine_id, const medic::v1::Hello& hello) = 0;
  // A heartbeat.
  virtual void OnSeen(const std::string& machine_id) = 0;
  // A sequenced record (snapshot, delta, topology) was committed (or was a resend).
  virtual void OnRecord(const std::string& machine_id, const medic::v1::AgentMessage& record) = 0;
};

struct IngestOptions {
  absl::Duration heartbeat_interval = absl::Seconds(15);  // told to agents in the welcome
  std::string collector_version = MEDIC_VERSION;
  IngestObserver* observer = nullptr;  // not owned; outlives the service
  size_t commit_batch = 1000;          // records per group-commit transaction, at most
  size_t stream_window = 64;           // records one stream may have waiting for commit
};

// Serves AgentService.Connect: one callback reactor per agent stream (no thread per stream).
// Each sequenced record goes to the group committer and is acknowledged only after its batch
// committed. A stream with `stream_window` records waiting stops reading (gRPC flow control
// then holds the agent back); a record the store cannot take (a full disk: RESOURCE_EXHAUSTED,
// anything else: UNAVAILABLE) ends the stream, so the agent reconnects with backoff and
// resends from the last commit. Nothing is acknowledged that is not stored.
class AgentServiceImpl final : public medic::v1::AgentService::CallbackService {
 public:
  AgentServiceImpl(Store& store, const common::Clock& clock, IngestOptions options);
  ~AgentServiceImpl() override { committer_.Drain(); }

  grpc::ServerBidiReactor<medic::v1::AgentMessage, medic::v1::CollectorMessage>* Connect(
      grpc::CallbackServerContext* context) override;

  // Streams open now.
  int64_t connected_streams() const { return streams_.load(); }

  // Commits what is queued and stops committing; call after the server has shut down.
  void Drain() { committer_.Drain(); }
  const Committer& committer() const { return committer_; }

 private:
  class Stream;
  friend class Stream;

  // Makes `stream` the live stream of the hello's machine. A stream already live for it is
  // superseded (a reconnect, or the agent restarted on the same host) — unless it comes from
  // another host with another epoch: two machines share one identity, and the newcomer is
  // refused. Returns the reason for a refusal, or "".
  std::string Claim(const medic::v1::Hello& hello, const std::string& peer, Stream* stream);
  // `stream` ended; forgets it unless a newer stream has claimed the machine.
  void Forget(const std::string& machine_id, Stream* stream);

  struct Live {
    Stream* stream;
    uint64_t epoch;
    std::string peer;
  };

  Store& store_;
  const common::Clock& clock_;
  const IngestOptions options_;
  std::atomic<int64_t> streams_{0};
  Committer committer_;
  std::mutex mu_;
  // Streams end only in OnDone, which calls Forget under mu_ before deleting itself, so a
  // pointer here may be used (to supersede it) while mu_ is held.
  std::map<std::string, Live> live_ ABSL_GUARDED_BY(mu_);
};

}  // namespace medic::collector
