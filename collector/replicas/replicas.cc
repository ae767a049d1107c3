#include "collector/replicas/replicas.h"

#include <unistd.h>

#include "collector/store/store.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"

namespace medic::collector {

std::string ReplicaName(const medic::v1::CollectorConfig& config) {
  if (!config.replica_name().empty()) return config.replica_name();
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return common::StrCat(host, "/", config.listen());
}

absl::StatusOr<std::string> LocalSecurityDb(const medic::v1::CollectorConfig& config) {
  const std::string dir =
      config.security().state_dir().empty() ? "/var/lib/medic" : config.security().state_dir();
  const std::string path = common::StrCat(dir, "/security.db");
  // Security reads and writes its tables in an existing Medic database; this creates them.
  if (absl::Status s = OpenSqliteStore(path, {}).status(); !s.ok()) {
    return absl::Status(s.code(), common::StrCat(s.message(),
                                                 " (a replica on PostgreSQL keeps its tokens and "
                                                 "certificates there: set security.state_dir)"));
  }
  return path;
}

}  // namespace medic::collector
