#pragma once

// Several collector replicas on one PostgreSQL database (issue 10). See collector/README.md,
// "Replicas on PostgreSQL", for the design.

#include <string>

#include "absl/status/statusor.h"
#include "collector/store/store.h"
#include "medic/v1/config.pb.h"

namespace medic::collector {

// config.replica_name, or "<hostname>/<listen>" (stable across restarts of one replica).
std::string ReplicaName(const medic::v1::CollectorConfig& config);

// Where a replica on PostgreSQL keeps its CA, server certificate and first admin token (files):
// security.state_dir, or /var/lib/medic.
std::string ReplicaStateDir(const medic::v1::CollectorConfig& config);

// Before the security state was shared, a replica kept its tokens, issued certificates and
// audit log in <state dir>/security.db. When that file exists, moves what it holds into
// `store` (the shared database; nothing is added twice, so a repeat after a crash is safe),
// logs what moved and renames the file to security.db.imported. OK when there is no file.
// Fails, naming the file, when it cannot be read or the database refuses the import.
absl::Status ImportLocalSecurityDb(const medic::v1::CollectorConfig& config, Store& store);

}  // namespace medic::collector
