#pragma once

// Several collector replicas on one PostgreSQL database (issue 10). See collector/README.md,
// "Replicas on PostgreSQL", for the design.

#include <string>

#include "absl/status/statusor.h"
#include "medic/v1/config.pb.h"

namespace medic::collector {

// config.replica_name, or "<hostname>/<listen>" (stable across restarts of one replica).
std::string ReplicaName(const medic::v1::CollectorConfig& config);

// Where a replica on PostgreSQL keeps its security state (tokens, issued certificates, audit):
// <security.state_dir or /var/lib/medic>/security.db, created with the Medic schema.
absl::StatusOr<std::string> LocalSecurityDb(const medic::v1::CollectorConfig& config);

}  // namespace medic::collector
