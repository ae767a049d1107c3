#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "medic/v1/agent.pb.h"
#include "medic/v1/fleet.pb.h"
#include "medic/v1/technician.pb.h"

namespace medic::collector {

struct StoreOptions {
  // A connected machine with no message for this long is shown offline.
  absl::Duration offline_after = absl::Seconds(45);
};

// The fleet's state: machines, their latest probe reports, findings (standing and cleared)
// and a history of observations. Every method is one transaction: it commits entirely or not
// at all. Implementations are thread-safe.
class Store {
 public:
  virtual ~Store() = default;

  // An agent's stream said hello: creates or updates the machine (hostname, version,
  // labels, peer) and marks it connected under a new session number. `resume_after` is the
  // highest sequence of `hello.epoch()` already committed (0 for an epoch the store has not
  // seen), from which the agent resends.
  struct Session {
    uint64_t resume_after = 0;
    int64_t id = 0;  // for CloseSession: only the latest session may disconnect the machine
  };
  virtual absl::StatusOr<Session> OpenSession(const medic::v1::Hello& hello, std::string_view peer,
                                              absl::Time now) = 0;

  // Commits one sequenced record (snapshot, delta, topology) from `machine_id`'s `epoch`.
  // A record at or below the committed sequence is a resend and is skipped (still OK), so a
  // record is stored exactly once. Returns after the data is durable.
  virtual absl::Status Commit(std::string_view machine_id, uint64_t epoch,
                              const medic::v1::AgentMessage& record, absl::Time now) = 0;

  // Any message (a heartbeat) shows the machine alive at `now`.
  virtual absl::Status Touch(std::string_view machine_id, absl::Time now) = 0;

  // The stream of `session` closed. Marks the machine disconnected unless a newer session
  // has opened meanwhile (a reconnect racing the old stream's end).
  virtual absl::Status CloseSession(std::string_view machine_id, int64_t session,
                                    absl::Time now) = 0;

  // Marks every machine disconnected: at start-up, the streams of a previous process are gone.
  virtual absl::Status ResetConnections() = 0;

  // Machines matching `request`, sorted by hostname.
  virtual absl::StatusOr<std::vector<medic::v1::Machine>> ListMachines(
      const medic::v1::ListMachinesRequest& request, absl::Time now) = 0;

  // Everything known about the machine whose hostname or machine id is `host`. NotFound when
  // there is none; FailedPrecondition, listing the ids, when several machines share the name.
  virtual absl::StatusOr<medic::v1::MachineHealth> GetMachineHealth(std::string_view host,
                                                                    absl::Time now) = 0;

  // Deletes observations older than `cutoff` and findings cleared before it. Returns the
  // number of rows deleted.
  virtual absl::StatusOr<int64_t> PruneHistory(absl::Time cutoff) = 0;
};

// The embedded store: one SQLite file in WAL mode (":memory:" for tests). Creates the schema
// on a new file and migrates an older one; refuses a file whose schema is newer than this
// program's, or that is not a Medic database, naming the file.
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path,
                                                       const StoreOptions& options);

}  // namespace medic::collector
