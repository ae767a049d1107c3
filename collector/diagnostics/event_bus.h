#pragma once

// The fleet's live changes for watchers (`medic watch`, the console): machines coming and
// going, findings raised and cleared, incidents and tickets changing.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "collector/engine/runner.h"
#include "collector/ingest/agent_service.h"
#include "collector/store/store.h"
#include "common/time/clock.h"
#include "medic/v1/technician.pb.h"

namespace medic::collector::diagnostics {

// Takes events. Take() is called on publishers' threads and must not block: queue and return.
// Returning false says the watcher cannot keep up; it is then dropped from the bus.
class Watcher {
 public:
  virtual ~Watcher() = default;
  virtual bool Take(const medic::v1::Event& event) = 0;
};

// Fans events out to watchers. An IngestObserver (machines, findings) and a tee in front of
// the ticket layer (incidents and their tickets). Thread-safe; publishing never waits on a
// watcher: a slow one is dropped, never allowed to hold up ingest or the engine.
class EventBus final : public IngestObserver {
 public:
  explicit EventBus(const common::Clock& clock) : clock_(clock) {}

  void Subscribe(std::shared_ptr<Watcher> watcher);
  void Unsubscribe(const Watcher* watcher);
  size_t watchers() const;

  void Publish(const medic::v1::Event& event);

  void OnHello(const std::string& machine_id, const medic::v1::Hello& hello) override;
  void OnSeen(const std::string&) override {}
  void OnRecord(const std::string& machine_id, const medic::v1::AgentMessage& record) override;
  void OnGone(const std::string& machine_id) override;

  // Publishes each change's incident (and its ticket, read from `store`) after `next` has
  // applied them.
  class IncidentTee final : public engine::IncidentSink {
   public:
    IncidentTee(engine::IncidentSink& next, EventBus& bus, Store& store)
        : next_(next), bus_(bus), store_(store) {}
    void Apply(const std::vector<engine::IncidentChange>& changes) override;

   private:
    engine::IncidentSink& next_;
    EventBus& bus_;
    Store& store_;
  };

 private:
  std::string HostnameOf(const std::string& machine_id);

  const common::Clock& clock_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Watcher>> watchers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> hostnames_ ABSL_GUARDED_BY(mu_);  // by machine id
};

}  // namespace medic::collector::diagnostics
