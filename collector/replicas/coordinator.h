#pragma once

// What ties collector replicas on one PostgreSQL database together: one leader at a time,
// elected through a session advisory lock, runs correlation and tickets; every replica hears,
// through LISTEN/NOTIFY, the changes the others committed. See collector/README.md,
// "Replicas on PostgreSQL".

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/store/pg_db.h"
#include "medic/v1/fleet.pb.h"

namespace medic::collector {

// What the leader's fault engine needs of a machine whose state changed.
struct MachineState {
  std::string machine_id;
  std::string hostname;
  std::vector<std::string> labels;
  medic::v1::Topology topology;
  std::vector<medic::v1::Finding> standing;
};

class Coordinator {
 public:
  // Called on the coordinator's thread, one at a time.
  struct Hooks {
    // This replica now holds the lock: start correlating (take the engine back from the
    // store). An error gives the lock up again, to be retried.
    std::function<absl::Status()> lead;
    // The lock is gone (its connection died, or stopping): stop correlating now, before another
    // replica takes over.
    std::function<void()> follow;
    // Leader only: machines whose findings, topology or hello changed, as now stored.
    std::function<void(const std::vector<MachineState>&)> changed;
    // Leader only: machines that reported (a heartbeat is enough) since the last call.
    std::function<void(const std::vector<std::string>&)> seen;
    // Any replica: a diagnostic was queued for this machine (its stream may be here).
    std::function<void(const std::string& machine_id)> diagnostic_queued;
    // Any replica: a group policy was saved (through any replica).
    std::function<void()> policies_changed;
    // Any replica: the result of a queued diagnostic was kept.
    std::function<void(const std::string& run_id, const std::string& machine_id)> result_kept;
  };

  // Connects (failing, naming the server, when it cannot) and starts the thread, which
  // tries for the lock at once. The leader looks for machines that reported every
  // `seen_every`: well within offline_after, or a live machine would look silent.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Start(std::string uri, std::string replica,
                                                            Hooks hooks, absl::Duration seen_every);
  ~Coordinator();
  // Gives leadership up (calling follow) and stops the thread. Safe to call more than once.
  void Stop();

  bool leading() const { return leading_; }

 private:
  Coordinator(std::string uri, std::string replica, Hooks hooks, absl::Duration seen_every);
  void Loop();
  bool Connect();
  void StepDown(const std::string& why);

  const std::string uri_;
  const std::string where_;
  const std::string replica_;
  const Hooks hooks_;
  const absl::Duration seen_every_;
  std::unique_ptr<PgConnection> conn_;  // the thread's only
  std::atomic<bool> leading_ = false;
  std::atomic<bool> stopping_ = false;
  std::thread thread_;
};

}  // namespace medic::collector
