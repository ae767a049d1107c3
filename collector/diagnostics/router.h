#pragma once

// Live diagnostics on the collector's side: sends requests down agents' own streams, matches
// the results that come back by request id, and answers for machines that cannot.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/ingest/agent_service.h"
#include "collector/store/store.h"
#include "common/time/clock.h"
#include "medic/v1/technician.pb.h"

namespace medic::collector::diagnostics {

struct RouterOptions {
  // A request without a deadline gets this; the agent caps it by its own maximum too.
  absl::Duration default_deadline = absl::Seconds(15);
  absl::Duration max_deadline = absl::Minutes(5);
  absl::Duration max_queue_for = absl::Hours(24 * 7);
  // Beyond the request's deadline, for the result to travel back before TIMED_OUT.
  absl::Duration grace = absl::Milliseconds(500);
  size_t kept_runs = 200;  // finished live runs whose results GetResults still answers
};

// Runs diagnostics on machines. An IngestObserver (add it to the collector's observers): it
// sees results arrive and machines connect (to send what was queued for them). Thread-safe.
class Router final : public IngestObserver {
 public:
  // Each machine's result, called on any thread (never under the router's lock), exactly once
  // per selected machine unless the run was cancelled.
  using ResultFn = std::function<void(const medic::v1::DiagnosticResult&)>;
  using DoneFn = std::function<void()>;  // after the last result

  Router(Store& store, AgentLink& link, const common::Clock& clock, RouterOptions options = {});
  ~Router() override;

  // Starts `request` on the machines its selector picks and returns the run's id ("D-…").
  // Each connected machine gets the request on its stream; one that does not answer within
  // the deadline gets a TIMED_OUT result, one not connected OFFLINE (with queue_for set, the
  // request is kept and run when it reconnects; its result then lands in GetResults).
  // InvalidArgument for an empty selector or a bad deadline; NotFound when no machine matches.
  absl::StatusOr<std::string> Start(const medic::v1::RunDiagnosticRequest& request,
                                    const std::string& requested_by, ResultFn on_result,
                                    DoneFn on_done);
  // The caller went away: no more callbacks for `run_id` once this returns (results still
  // arriving are kept for GetResults).
  void Cancel(const std::string& run_id);

  // The results of a run, live or queued. NotFound when the id is unknown.
  absl::StatusOr<medic::v1::GetDiagnosticResultsResponse> GetResults(const std::string& run_id);

  // Replicas on one database (issue 10): a machine that is not connected here but online in
  // the store is connected to another replica; its request goes through the store
  // (QueueDiagnostic, which that replica hears of), and its result comes back through
  // OnQueuedResult. Call before the first Start.
  void EnableReplicas() { replicas_ = true; }
  // The result of `machine_id`'s part of queued run `run_id` was kept (by any replica).
  void OnQueuedResult(const std::string& run_id, const std::string& machine_id);

  void OnHello(const std::string& machine_id, const medic::v1::Hello& hello) override;
  void OnSeen(const std::string&) override {}
  void OnRecord(const std::string& machine_id, const medic::v1::AgentMessage& record) override;

 private:
  struct Run {
    std::string id;
    medic::v1::DiagnosticCheck check;
    ResultFn on_result;  // cleared by Cancel
    DoneFn on_done;
    size_t outstanding = 0;
    std::vector<medic::v1::DiagnosticResult> results;
  };
  struct Pending {
    std::shared_ptr<Run> run;  // null for a queued request whose run is no longer live
    std::string run_id;
    std::string machine_id;
    std::string hostname;
    absl::Time deadline;
    bool queued = false;  // its result goes to the store
    bool remote = false;  // sent through another replica: its result comes from the store
  };

  // Records `result` for `run` and calls back outside the lock.
  void Deliver(const std::shared_ptr<Run>& run, medic::v1::DiagnosticResult result);
  void Loop();
  void SendQueued(const std::string& machine_id);
  // Hands `request` to the replica holding `m`'s stream; false when the store refused it.
  bool SendThroughReplica(const std::shared_ptr<Run>& run, const medic::v1::Machine& m,
                          const medic::v1::DiagnosticRequest& request, absl::Time now,
                          absl::Duration deadline);
  std::string NewRunId();

  Store& store_;
  AgentLink& link_;
  const common::Clock& clock_;
  const RouterOptions options_;
  bool replicas_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Pending> pending_ ABSL_GUARDED_BY(mu_);  // by agent request id
  std::map<std::string, std::shared_ptr<Run>> runs_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> finished_ ABSL_GUARDED_BY(mu_);   // run ids, oldest first
  std::deque<std::string> connected_ ABSL_GUARDED_BY(mu_);  // machines to send queued work to
  uint64_t next_run_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace medic::collector::diagnostics
