#include "collector/replicas/replicas.h"

#include <unistd.h>

#include <filesystem>
#include <system_error>

#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace medic::collector {

std::string ReplicaName(const medic::v1::CollectorConfig& config) {
  if (!config.replica_name().empty()) return config.replica_name();
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return common::StrCat(host, "/", config.listen());
}

std::string ReplicaStateDir(const medic::v1::CollectorConfig& config) {
  return config.security().state_dir().empty() ? "/var/lib/medic" : config.security().state_dir();
}

absl::Status ImportLocalSecurityDb(const medic::v1::CollectorConfig& config, Store& store) {
  const std::string path = common::StrCat(ReplicaStateDir(config), "/security.db");
  std::error_code error;
  if (!std::filesystem::exists(path, error)) return absl::OkStatus();
  Store::SecurityState state, added;
  {
    auto local = OpenSqliteStore(path, {});
    if (!local.ok()) {
      return absl::Status(local.status().code(),
                          common::StrCat("importing this replica's former security state: ",
                                         local.status().message()));
    }
    ASSIGN_OR_RETURN(state, (*local)->ExportSecurityState());
    auto imported = store.ImportSecurityState(state);
    if (!imported.ok()) {
      return absl::Status(imported.status().code(),
                          common::StrCat("importing ", path, " into the shared database: ",
                                         imported.status().message()));
    }
    added = *std::move(imported);
  }  // closed: SQLite folds its WAL back into the file
  // Token ids are the shared database's own now; say which became which, since
  // administrators revoke by id.
  std::string renamed;
  for (size_t i = 0, j = 0; i < state.api_tokens.size() && j < added.api_tokens.size(); ++i) {
    if (state.api_tokens[i].secret_hash != added.api_tokens[j].secret_hash) continue;
    common::StrAppend(&renamed, renamed.empty() ? "" : ", ", "tok-", state.api_tokens[i].id, " (",
                      state.api_tokens[i].name, ") is now tok-", added.api_tokens[j].id);
    ++j;
  }
  for (size_t i = 0, j = 0;
       i < state.enrollment_tokens.size() && j < added.enrollment_tokens.size(); ++i) {
    if (state.enrollment_tokens[i].secret_hash != added.enrollment_tokens[j].secret_hash) continue;
    common::StrAppend(&renamed, renamed.empty() ? "" : ", ", "enr-", state.enrollment_tokens[i].id,
                      " is now enr-", added.enrollment_tokens[j].id);
    ++j;
  }
  const std::string kept = path + ".imported";
  std::filesystem::rename(path, kept, error);
  if (error) {
    return absl::InternalError(common::StrCat("imported ", path,
                                              " into the shared database but could not rename it "
                                              "to ",
                                              kept, ": ", error.message()));
  }
  for (const char* suffix : {"-wal", "-shm"}) std::filesystem::remove(path + suffix, error);
  auto count = [](const Store::SecurityState& s) {
    return s.api_tokens.size() + s.enrollment_tokens.size() + s.certificates.size() +
           s.identity_alerts.size() + s.audit.size();
  };
  spdlog::info(
      "moved this replica's former security state from {} into the shared database: {} API "
      "tokens, {} enrollment tokens, {} agent certificates, {} identity alerts, {} audit "
      "entries ({} of {} rows were there already){}{}; the file is kept as {}",
      path, added.api_tokens.size(), added.enrollment_tokens.size(), added.certificates.size(),
      added.identity_alerts.size(), added.audit.size(), count(state) - count(added), count(state),
      renamed.empty() ? "" : "; ", renamed, kept);
  return absl::OkStatus();
}

}  // namespace medic::collector
