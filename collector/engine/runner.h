#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "collector/engine/engine.h"
#include "collector/ingest/agent_service.h"
#include "collector/store/store.h"

namespace medic::collector::engine {

// Takes the engine's changes: the ticket layer. Called on the engine thread only.
class IncidentSink {
 public:
  virtual ~IncidentSink() = default;
  virtual void Apply(const std::vector<IncidentChange>& changes) = 0;
};

// Runs the engine on a thread of its own: ingest callbacks only queue what agents sent (they
// never wait on the engine or the ticket store), and the thread applies the queue, ticks the
// time-based rules every `tick`, and hands the changes to `sink`.
class EngineRunner final : public IngestObserver {
 public:
  EngineRunner(const common::Clock& clock, EngineOptions options, IncidentSink& sink,
               absl::Duration tick);
  ~EngineRunner() override;

  // Before Start: takes back the stored incidents, machines and standing findings, so a
  // restarted collector continues its incidents instead of opening new ones.
  //
  // `takeover` (replicas, issue 10): another replica led until now and the others kept
  // reporting, so a machine seen within the last minute is watched from now on rather than
  // given the minute a restarted collector's agents need to reconnect.
  absl::Status Restore(Store& store, bool takeover = false);
  void Start();
  // Stops the thread after it has applied what is queued. Safe to call more than once.
  void Stop();

  void OnHello(const std::string& machine_id, const medic::v1::Hello& hello) override;
  void OnSeen(const std::string& machine_id) override;
  void OnRecord(const std::string& machine_id, const medic::v1::AgentMessage& record) override;

 private:
  struct Input {
    std::string host;                                // machine id
    std::optional<std::string> hostname;             // hello
    std::optional<std::vector<std::string>> labels;  // hello
    std::optional<medic::v1::Topology> topology;
    std::optional<std::vector<medic::v1::Finding>> snapshot;
    std::vector<medic::v1::FindingEvent> events;
  };
  void Push(Input input);
  void Loop();
  void Apply(Input& input);

  const common::Clock& clock_;
  IncidentSink& sink_;
  const absl::Duration tick_;
  Engine engine_;  // used by the thread only (and by Restore before it starts)
  std::map<std::string, std::vector<std::string>> labels_;  // by machine id; thread only

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Input> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace medic::collector::engine
