#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "collector/store/store.h"
#include "medic/v1/agent.pb.h"

namespace medic::collector {

// Group commit: one thread takes the records every agent stream submits and commits them in
// batches, one transaction each (Store::CommitBatch), so a thousand streams cost a handful of
// fsyncs a second rather than a thousand. While one batch commits the next gathers.
//
// Ordering: records are committed in the order submitted. Once a record of a stream failed
// to commit (a full or failing disk), every later record of that stream fails too, without
// being tried: committing a later one would move the stream's committed sequence past the
// failed one, and the agent's resend of it would then be skipped as a duplicate.
class Committer {
 public:
  // A stream's lane: shared between its submissions, marked failed by the committer.
  struct Lane {
    std::atomic<bool> failed{false};
  };
  using Done = std::function<void(const absl::Status&, const medic::v1::AgentMessage& record)>;

  explicit Committer(Store& store, size_t max_batch = 1000);
  ~Committer();  // Drains first.

  // Queues `record` of `machine_id`/`epoch`; `done` runs on the committer thread once its
  // batch committed (OK: durable) or failed. After Drain, `done` runs at once with
  // UNAVAILABLE.
  void Submit(std::shared_ptr<Lane> lane, std::string machine_id, uint64_t epoch,
              medic::v1::AgentMessage record, absl::Time now, Done done);

  // Commits everything queued, then stops the thread. Idempotent.
  void Drain();

  // Figures for logs and tests.
  uint64_t batches() const { return batches_.load(); }
  uint64_t committed() const { return committed_.load(); }

 private:
  struct Item {
    std::shared_ptr<Lane> lane;
    std::string machine_id;
    uint64_t epoch;
    medic::v1::AgentMessage record;
    absl::Time now;
    Done done;
  };
  void Run();

  Store& store_;
  const size_t max_batch_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> committed_{0};
  std::thread thread_;
};

}  // namespace medic::collector
