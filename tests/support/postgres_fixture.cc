#include "tests/support/postgres_fixture.h"

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"

namespace medic::test {
namespace {

// The newest installed server, e.g. /usr/lib/postgresql/15/bin.
std::string FindServerBinaries() {
  std::error_code ec;
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string bin = entry.path().string() + "/bin";
    if (std::filesystem::exists(bin + "/postgres") && std::filesystem::exists(bin + "/initdb")) {
      found.push_back(bin);
    }
  }
  if (found.empty()) return "";
  std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  return found.back();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::Start(bool durable) {
  std::unique_ptr<PostgresCluster> cluster(new PostgresCluster());
  cluster->bin_dir_ = FindServerBinaries();
  if (cluster->bin_dir_.empty()) {
    return absl::FailedPreconditionError(
        "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install the "
        "postgresql package (scripts/test installs it)");
  }
  cluster->as_postgres_user_ = geteuid() == 0;
  const std::string data = cluster->dir_.File("data");
  if (cluster->as_postgres_user_) {
    const passwd* pw = getpwnam("postgres");
    if (pw == nullptr) {
      return absl::FailedPreconditionError(
          "running as root, PostgreSQL needs the 'postgres' user (created by the postgresql "
          "package), and there is none");
    }
    // initdb and the server run as postgres: the directory is theirs.
    if (chown(cluster->dir_.path().c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return absl::InternalError(common::StrCat("cannot chown ", cluster->dir_.path()));
    }
  }
  RunResult init =
      RunCommand(cluster->AsServerUser({cluster->bin_dir_ + "/initdb", "-D", data, "-A", "trust",
                                        "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"}),
                 absl::Seconds(60));
  if (init.exit_code != 0) {
    return absl::InternalError(common::StrCat("initdb ", data, " failed (exit ", init.exit_code,
                                              "): ", init.out, init.err));
  }
  // A port can be taken between FreePort and the bind: try a few.
  for (int attempt = 0; attempt < 5; ++attempt) {
    cluster->port_ = FreePort();
    cluster->server_ = std::make_unique<Process>(
        cluster->AsServerUser({cluster->bin_dir_ + "/postgres", "-D", data, "-p",
                               std::to_string(cluster->port_), "-k", cluster->dir_.path(), "-c",
                               "listen_addresses=127.0.0.1", "-c",
                               durable ? "fsync=on" : "fsync=off", "-c",
                               durable ? "synchronous_commit=on" : "synchronous_commit=off", "-c",
                               durable ? "full_page_writes=on" : "full_page_writes=off", "-c",
                               "max_connections=200", "-c", "shared_buffers=32MB"}),
        cluster->dir_.path(), common::StrCat("postgres-", attempt));
    if (cluster->server_->WaitForStderr("ready to accept connections", absl::Seconds(30))) {
      return cluster;
    }
    const std::string log = cluster->server_->Describe();
    cluster->server_->Stop(SIGINT);
    if (log.find("already in use") == std::string::npos) {
      return absl::InternalError(common::StrCat("postgres did not start: ", log));
    }
  }
  return absl::InternalError("postgres did not find a free port in 5 attempts");
}

PostgresCluster::~PostgresCluster() {
  // Fast shutdown: the server disconnects clients and exits in well under a second.
  if (server_ != nullptr && server_->Running()) server_->Stop(SIGINT, absl::Seconds(10));
}

std::vector<std::string> PostgresCluster::AsServerUser(std::vector<std::string> argv) const {
  if (!as_postgres_user_) return argv;
  // setpriv execs in place (no child), so the PID the test holds is the server's own.
  std::vector<std::string> wrapped = {"/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres",
                                      "--init-groups", "--"};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

std::string PostgresCluster::Uri(const std::string& database) const {
  return common::StrCat("postgresql://postgres@127.0.0.1:", port_, "/", database);
}

absl::StatusOr<std::string> PostgresCluster::CreateDatabase() {
  const std::string name = common::StrCat("medic_", getpid(), "_", next_database_++);
  RETURN_IF_ERROR(Psql("postgres", common::StrCat("CREATE DATABASE ", name)).status());
  return Uri(name);
}

absl::StatusOr<std::string> PostgresCluster::Psql(const std::string& database,
                                                  const std::string& sql) const {
  RunResult r = RunCommand({bin_dir_ + "/psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
                            "-d", Uri(database), "-c", sql},
                           absl::Seconds(30));
  if (r.exit_code != 0) {
    return absl::InternalError(
        common::StrCat("psql -c '", sql, "' on ", Uri(database), " failed: ", r.err));
  }
  return r.out;
}

std::string PostgresCluster::Describe() const {
  return server_ != nullptr ? server_->Describe() : "(postgres not started)";
}

}  // namespace medic::test
