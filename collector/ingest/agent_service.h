#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "collector/ingest/committer.h"
#include "collector/ingest/limits.h"
#include "collector/security/security.h"
#include "collector/store/store.h"
#include "common/metrics/metrics.h"
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
  // The machine's live stream ended (and no newer one has replaced it).
  virtual void OnGone(const std::string& machine_id) {}
};

// Tells several observers, in order (each must return at once, as above).
class ObserverList final : public IngestObserver {
 public:
  void Add(IngestObserver* observer) { observers_.push_back(observer); }
  void OnHello(const std::string& machine_id, const medic::v1::Hello& hello) override {
    for (auto* o : observers_) o->OnHello(machine_id, hello);
  }
  void OnSeen(const std::string& machine_id) override {
    for (auto* o : observers_) o->OnSeen(machine_id);
  }
  void OnRecord(const std::string& machine_id, const medic::v1::AgentMessage& record) override {
    for (auto* o : observers_) o->OnRecord(machine_id, record);
  }
  void OnGone(const std::string& machine_id) override {
    for (auto* o : observers_) o->OnGone(machine_id);
  }

 private:
  std::vector<IngestObserver*> observers_;  // not owned; fixed before serving starts
};

// How the collector reaches a connected agent: down its own stream (agents connect out, so
// there is no other way in).
class AgentLink {
 public:
  virtual ~AgentLink() = default;
  // Queues `message` on the live stream of `machine_id`; false when it has none. Any thread.
  virtual bool SendTo(const std::string& machine_id, medic::v1::CollectorMessage message) = 0;
};

class PolicyHub;

struct IngestOptions {
  absl::Duration heartbeat_interval = absl::Seconds(15);  // told to agents in the welcome
  std::string collector_version = MEDIC_VERSION;
  IngestObserver* observer = nullptr;  // not owned; outlives the service
  Limits limits;                       // records per machine, streams per peer
  // Not owned. Enrollment, and the identity of a stream from its client certificate; without
  // it (unit tests) the hello's machine id is trusted and Enroll/Renew are UNIMPLEMENTED.
  Security* security = nullptr;
  // /metrics (not owned, may be null): records stored by kind, the time from a record's
  // arrival to its acknowledgement, and the store's commit alone.
  common::metrics::CounterFamily* records_received = nullptr;  // label: kind
  common::metrics::HistogramFamily* ingest_latency = nullptr;  // label: kind
  common::metrics::HistogramFamily* commit_latency = nullptr;  // no labels
  // Central policy: sent after each welcome, told of topology and PolicyApplied. Not owned.
  PolicyHub* policy = nullptr;
  size_t commit_batch = 1000;  // records per group-commit transaction, at most
  size_t stream_window = 64;   // records one stream may have waiting for commit
};

// Serves AgentService.Connect: one callback reactor per agent stream (no thread per stream).
// Each sequenced record goes to the group committer and is acknowledged only after its batch
// committed. A stream with `stream_window` records waiting stops reading (gRPC flow control
// then holds the agent back); a record the store cannot take (a full disk: RESOURCE_EXHAUSTED,
// anything else: UNAVAILABLE) ends the stream, so the agent reconnects with backoff and
// resends from the last commit. Nothing is acknowledged that is not stored.
// Connect is registered raw (bytes in, bytes out) so that it parses agent messages itself (see
// Stream); Enroll and Renew are ordinary callback methods.
class AgentServiceImpl final
    : public medic::v1::AgentService::WithRawCallbackMethod_Connect<
          medic::v1::AgentService::WithCallbackMethod_Enroll<
              medic::v1::AgentService::WithCallbackMethod_Renew<medic::v1::AgentService::Service>>>,
      public AgentLink {
 public:
  AgentServiceImpl(Store& store, const common::Clock& clock, IngestOptions options);
  ~AgentServiceImpl() override { committer_.Drain(); }

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Connect(
      grpc::CallbackServerContext* context) override;

  // Enrollment (issue 8): a token and a CSR for a client certificate; no certificate needed.
  grpc::ServerUnaryReactor* Enroll(grpc::CallbackServerContext* context,
                                   const medic::v1::EnrollRequest* request,
                                   medic::v1::EnrollResponse* response) override;
  // A new certificate for the machine of the call's (valid) client certificate.
  grpc::ServerUnaryReactor* Renew(grpc::CallbackServerContext* context,
                                  const medic::v1::RenewRequest* request,
                                  medic::v1::EnrollResponse* response) override;
  bool SendTo(const std::string& machine_id, medic::v1::CollectorMessage message) override;

  // Streams open now.
  int64_t connected_streams() const { return streams_.load(); }

  // Ends the live stream of `machine_id` (its certificate was revoked); true if there was one.
  // With a `serial`, only a stream that came with the certificate of that serial (a machine
  // enrolled again since keeps its new stream).
  bool Cut(const std::string& machine_id, std::string_view serial = "");
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
  // Returns whether it was still the machine's live stream.
  bool Forget(const std::string& machine_id, Stream* stream);

  struct Live {
    Stream* stream;
    uint64_t epoch;
    std::string peer;
    std::string serial;  // of the stream's client certificate; "" in insecure mode
  };

  Store& store_;
  const common::Clock& clock_;
  const IngestOptions options_;
  std::atomic<int64_t> streams_{0};
  RecordRateLimiter rate_;
  PeerStreamCounter peers_;
  Committer committer_;
  std::mutex mu_;
  // Streams end only in OnDone, which calls Forget under mu_ before deleting itself, so a
  // pointer here may be used (to supersede it) while mu_ is held.
  std::map<std::string, Live> live_ ABSL_GUARDED_BY(mu_);
};

}  // namespace medic::collector
