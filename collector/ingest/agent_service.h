#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "collector/store/store.h"
#include "common/time/clock.h"
#include "medic/v1/agent.grpc.pb.h"

namespace medic::collector {

struct IngestOptions {
  absl::Duration heartbeat_interval = absl::Seconds(15);  // told to agents in the welcome
  std::string collector_version = MEDIC_VERSION;
};

// Serves AgentService.Connect: one callback reactor per agent stream (no thread per stream).
// Each sequenced record is committed to the store before it is acknowledged; a record the
// store cannot take ends the stream with UNAVAILABLE so the agent reconnects and resends.
class AgentServiceImpl final : public medic::v1::AgentService::CallbackService {
 public:
  AgentServiceImpl(Store& store, const common::Clock& clock, IngestOptions options);

  grpc::ServerBidiReactor<medic::v1::AgentMessage, medic::v1::CollectorMessage>* Connect(
      grpc::CallbackServerContext* context) override;

  // Streams open now.
  int64_t connected_streams() const { return streams_.load(); }

 private:
  class Stream;
  friend class Stream;

  // A machine may briefly have two streams (a reconnect racing the old stream's end); it is
  // disconnected only when its last stream closes.
  void StreamOpened(const std::string& machine_id);
  bool StreamClosed(const std::string& machine_id);  // true when it was the last

  Store& store_;
  const common::Clock& clock_;
  const IngestOptions options_;
  std::atomic<int64_t> streams_{0};
  std::mutex mu_;
  std::map<std::string, int> streams_per_machine_ ABSL_GUARDED_BY(mu_);
};

}  // namespace medic::collector
