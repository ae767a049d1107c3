#include "collector/ingest/committer.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "spdlog/spdlog.h"

namespace medic::collector {

Committer::Committer(Store& store, size_t max_batch)
    : store_(store), max_batch_(std::max<size_t>(1, max_batch)), thread_([this] { Run(); }) {}

Committer::~Committer() { Drain(); }

void Committer::Submit(std::shared_ptr<Lane> lane, std::string machine_id, uint64_t epoch,
                       medic::v1::AgentMessage record, absl::Time now, Done done) {
  {
    std::lock_guard lock(mu_);
    if (!draining_) {
      queue_.push_back(Item{std::move(lane), std::move(machine_id), epoch, std::move(record), now,
                            std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done(absl::UnavailableError("the collector is shutting down"), record);
}

void Committer::Drain() {
  {
    std::lock_guard lock(mu_);
    draining_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Committer::Run() {
  while (true) {
    std::vector<Item> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return draining_ || !queue_.empty(); });
      if (queue_.empty()) return;  // draining and nothing left
      while (!queue_.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<Store::PendingRecord> pending;
    std::vector<size_t> tried;  // indexes into batch
    std::vector<absl::Status> results(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].lane->failed.load()) {
        results[i] = absl::UnavailableError(
            "an earlier record of this stream could not be stored; the agent resends both");
        continue;
      }
      pending.push_back(Store::PendingRecord{batch[i].machine_id, batch[i].epoch, &batch[i].record,
                                             batch[i].now});
      tried.push_back(i);
    }
    if (!pending.empty()) {
      std::vector<absl::Status> stored = store_.CommitBatch(pending);
      batches_.fetch_add(1);
      for (size_t j = 0; j < tried.size(); ++j) {
        results[tried[j]] = stored[j];
        if (stored[j].ok()) committed_.fetch_add(1);
      }
    }
    // Lanes are marked before any callback runs and before the next batch is formed.
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!results[i].ok()) batch[i].lane->failed.store(true);
    }
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done(results[i], batch[i].record);
  }
}

}  // namespace medic::collector
