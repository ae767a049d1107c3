// Security state shared by collector replicas on one real PostgreSQL database (issue 10), with
// TLS and real processes: an API token made through one replica works on the other, an agent
// enrolled through one connects to the other with its certificate, a revocation through one
// cuts the agent off the other within the revocation check, and the audit log is one. Also:
// a replica's former security.db (tokens, certificates and audit it kept before the state
// was shared) is moved into the shared database on its first start.

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "collector/store/store.h"
#include "common/time/clock.h"
#include "common/tls/pki.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "medic/v1/agent.grpc.pb.h"
#include "tests/support/postgres_fixture.h"
#include "tests/support/process.h"

namespace medic::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace tls = common::tls;

const std::string kBin = MEDIC_BIN_DIR;

constexpr char kAgentConfig[] = R"yaml(
heartbeat_interval: 1s
reconnect: {initial_backoff: 200ms, max_backoff: 1s}
probes:
  cpu: {interval: 1s}
  memory: {interval: 2s}
  filesystems: {disabled: true}
  network: {disabled: true}
  connectivity: {disabled: true}
)yaml";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

class ReplicaSecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = PostgresCluster::Start();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
  }
  static void TearDownTestSuite() { cluster_.reset(); }

  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    auto uri = cluster_->CreateDatabase();
    ASSERT_TRUE(uri.ok()) << uri.status();
    uri_ = *uri;
    for (int i = 0; i < 2; ++i) {
      std::filesystem::create_directories(StateDir(i));
      addresses_[i] = "127.0.0.1:" + std::to_string(FreePort());
    }
  }

  std::string StateDir(int i) const { return dir_.File(i == 0 ? "a" : "b"); }

  // Replica i over TLS on the shared database; revocations are looked for every second. Its
  // output goes to "replica-<a|b><run>" in the test's directory.
  void StartReplica(int i, const std::string& run = "") {
    const std::string name = i == 0 ? "a" : "b";
    const std::string config = dir_.File(name + ".yaml");
    WriteFile(config,
              "heartbeat_interval: 1s\noffline_after: 30s\nrevocation_check: 1s\n"
              "replica_name: " +
                  name + "\nsecurity: {state_dir: \"" + StateDir(i) + "\"}\n");
    replicas_[i] = std::make_unique<Process>(
        std::vector<std::string>{kBin + "/medic-collector", "--listen", addresses_[i],
                                 "--http-listen", "", "--db", uri_, "--config", config},
        dir_.path(), "replica-" + name + run);
    ASSERT_TRUE(replicas_[i]->WaitForStdout("listening on", absl::Seconds(20)))
        << replicas_[i]->Describe();
  }

  // A, then B with A's CA (copied, as an administrator gives every replica the same CA).
  void StartBoth() {
    StartReplica(0);
    for (const char* file : {"ca.pem", "ca.key"}) {
      std::filesystem::copy_file(StateDir(0) + "/" + file, StateDir(1) + "/" + file);
      std::filesystem::permissions(
          StateDir(1) + "/" + file,
          std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    }
    StartReplica(1);
    ca_ = ReadAll(StateDir(0) + "/ca.pem");
  }

  RunResult Medic(int replica, std::vector<std::string> args, const std::string& token_file) {
    std::vector<std::string> argv = {kBin + "/medic", "--collector",           addresses_[replica],
                                     "--ca-file",     StateDir(0) + "/ca.pem", "--token-file",
                                     token_file};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }
  RunResult Admin(int replica, std::vector<std::string> args) {
    return Medic(replica, std::move(args), StateDir(0) + "/admin.token");
  }

  std::shared_ptr<grpc::Channel> Channel(int replica, const std::string& key,
                                         const std::string& cert) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca_;
    ssl.pem_private_key = key;
    ssl.pem_cert_chain = cert;
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(addresses_[replica], grpc::SslCredentials(ssl), args);
  }

  // Says hello on a new stream to `replica` with the certificate; OK once welcomed.
  grpc::Status Hello(int replica, const std::string& machine_id, const std::string& key,
                     const std::string& cert) {
    auto stub = medic::v1::AgentService::NewStub(Channel(replica, key, cert));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = stub->Connect(&context);
    medic::v1::AgentMessage hello;
    hello.mutable_hello()->set_machine_id(machine_id);
    hello.mutable_hello()->set_hostname("host-" + machine_id);
    hello.mutable_hello()->set_epoch(1);
    stream->Write(hello);
    medic::v1::CollectorMessage reply;
    if (stream->Read(&reply) && reply.has_welcome()) {
      context.TryCancel();
      return grpc::Status::OK;
    }
    stream->WritesDone();
    return stream->Finish();
  }

  std::unique_ptr<Process> StartAgent(int replica, const std::string& hostname,
                                      const std::string& enroll_token,
                                      const std::string& extra_config = "") {
    std::string config = kAgentConfig + extra_config;
    if (!enroll_token.empty()) {
      WriteFile(dir_.File("enroll-" + hostname), enroll_token + "\n");
      config += "enrollment_token_file: " + dir_.File("enroll-" + hostname) + "\n";
    }
    WriteFile(dir_.File("agent-" + hostname + ".yaml"), config);
    return std::make_unique<Process>(
        std::vector<std::string>{kBin + "/medic-agent", "--collector", addresses_[replica],
                                 "--config", dir_.File("agent-" + hostname + ".yaml"),
                                 "--state-dir", dir_.File("state-" + hostname), "--hostname",
                                 hostname, "--ca-file", StateDir(0) + "/ca.pem"},
        dir_.path(), "agent-" + hostname);
  }

  static inline std::unique_ptr<PostgresCluster> cluster_;
  TempDir dir_;
  std::string uri_;
  std::string addresses_[2];
  std::unique_ptr<Process> replicas_[2];
  std::string ca_;
};

TEST_F(ReplicaSecurityTest, TokensCertificatesRevocationAndAuditAreSharedByReplicas) {
  StartBoth();
  // One first admin token for the database, in the state dir of the replica that made it.
  EXPECT_FALSE(std::filesystem::exists(StateDir(1) + "/admin.token"));

  // An API token made through A works on B.
  RunResult created = Admin(0, {"tokens", "create", "vera", "--role", "viewer"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string vera = dir_.File("vera.token");
  WriteFile(vera, created.out);
  RunResult on_b = Medic(1, {"machines"}, vera);
  EXPECT_EQ(on_b.exit_code, 0) << on_b.err << replicas_[1]->Describe();
  // Revoked through B, it stops working on A at once.
  ASSERT_EQ(Admin(1, {"tokens", "revoke", "tok-2"}).exit_code, 0);
  RunResult revoked_on_a = Medic(0, {"machines"}, vera);
  EXPECT_EQ(revoked_on_a.exit_code, 1);
  EXPECT_THAT(revoked_on_a.err, HasSubstr("revoked"));

  // A certificate issued through A is good on B.
  RunResult enroll = Admin(0, {"enroll-tokens", "create", "--name", "test"});
  ASSERT_EQ(enroll.exit_code, 0) << enroll.err;
  const std::string enroll_secret = Trim(enroll.out);
  const std::string key = *tls::GenerateKeyPem();
  medic::v1::EnrollRequest request;
  request.set_token(enroll_secret);
  request.set_hostname("host-m-shared");
  request.set_csr_pem(*tls::MakeCsr(key, "m-shared"));
  medic::v1::EnrollResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ASSERT_TRUE(medic::v1::AgentService::NewStub(Channel(0, "", ""))
                  ->Enroll(&context, request, &response)
                  .ok());
  const grpc::Status on_b_hello = Hello(1, "m-shared", key, response.certificate_pem());
  EXPECT_TRUE(on_b_hello.ok()) << on_b_hello.error_message() << replicas_[1]->Describe();

  // A real agent enrolled through A stays connected to A; revoked through B, A cuts it off
  // within the revocation check and refuses it from then on.
  auto agent = StartAgent(0, "ws-shared", enroll_secret);
  ASSERT_TRUE(replicas_[0]->WaitForStderr("ws-shared connected", absl::Seconds(20)))
      << agent->Describe() << replicas_[0]->Describe();
  RunResult revoke = Admin(1, {"agents", "revoke", "ws-shared", "--reason", "laptop stolen"});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.err;
  EXPECT_THAT(revoke.out, HasSubstr("1 certificates revoked"));
  // The bound is the wait itself: the promise is a minute; here revocation_check is 1 s.
  EXPECT_TRUE(replicas_[0]->WaitForStderr("its certificate (serial", absl::Seconds(20)))
      << replicas_[0]->Describe();
  EXPECT_TRUE(agent->WaitForStderr("was revoked", absl::Seconds(20))) << agent->Describe();

  // One audit log: through A, what was done through B, and the other way round.
  RunResult audit_a = Admin(0, {"audit", "--limit", "1000"});
  ASSERT_EQ(audit_a.exit_code, 0) << audit_a.err;
  EXPECT_THAT(audit_a.out, HasSubstr("laptop stolen"));
  EXPECT_THAT(audit_a.out, HasSubstr("RevokeApiToken"));
  RunResult audit_b = Admin(1, {"audit", "--action", "Connect", "--limit", "1000"});
  EXPECT_THAT(audit_b.out, HasSubstr("PERMISSION_DENIED"));  // the agent refused by A
  EXPECT_THAT(Admin(1, {"audit", "--action", "Enroll"}).out,
              HasSubstr("ok  (with enrollment token enr-1)"));
}

TEST_F(ReplicaSecurityTest, FormerSecurityDbIsMovedIntoTheSharedDatabaseOnce) {
  // What a replica kept in its own security.db before the state was shared.
  const std::string admin_secret = "medic_api_" + tls::RandomHex(24);
  const std::string viewer_secret = "medic_api_" + tls::RandomHex(24);
  const absl::Time now = absl::Now();
  {
    auto local = collector::OpenSqliteStore(StateDir(1) + "/security.db", {});
    ASSERT_TRUE(local.ok()) << local.status();
    collector::Store::ApiToken token;
    token.name = "admin";
    token.role = medic::v1::ROLE_ADMIN;
    token.secret_hash = tls::Sha256Hex(admin_secret);
    token.created = now - absl::Hours(48);
    token.created_by = "collector (first start)";
    ASSERT_TRUE((*local)->AddApiToken(token).ok());
    token.name = "old-viewer";
    token.role = medic::v1::ROLE_VIEWER;
    token.secret_hash = tls::Sha256Hex(viewer_secret);
    ASSERT_TRUE((*local)->AddApiToken(token).ok());
    collector::Store::AgentCertificate cert;
    cert.serial = "0a1b2c3d";
    cert.machine_id = "m-old";
    cert.fingerprint = "ff";
    cert.issued = now - absl::Hours(24);
    cert.not_after = now + absl::Hours(24 * 29);
    ASSERT_TRUE((*local)->AddCertificate(cert).ok());
    medic::v1::AuditEntry entry;
    *entry.mutable_at() = common::ToProtoTime(now - absl::Hours(1));
    entry.set_actor("admin (tok-1)");
    entry.set_action("CreateApiToken");
    entry.set_target("tok-2");
    entry.set_result("ok");
    entry.set_details("before the move");
    ASSERT_TRUE((*local)->AppendAudit(entry).ok());
  }
  StartBoth();
  EXPECT_TRUE(
      replicas_[1]->WaitForStderr("moved this replica's former security state", absl::Seconds(5)))
      << replicas_[1]->Describe();
  EXPECT_FALSE(std::filesystem::exists(StateDir(1) + "/security.db"));
  EXPECT_TRUE(std::filesystem::exists(StateDir(1) + "/security.db.imported"));

  // Its tokens work on every replica (A made the database's first admin, tok-1; B's moved
  // ones got new ids, and the log says which).
  const std::string old_viewer = dir_.File("old-viewer.token");
  WriteFile(old_viewer, viewer_secret + "\n");
  RunResult on_a = Medic(0, {"machines"}, old_viewer);
  EXPECT_EQ(on_a.exit_code, 0) << on_a.err;
  EXPECT_THAT(replicas_[1]->Stderr(), HasSubstr("tok-2 (old-viewer) is now tok-3"));
  // Its audit entries are in the shared log.
  EXPECT_THAT(Admin(0, {"audit", "--limit", "1000"}).out, HasSubstr("before the move"));
  // Its certificates are known: a machine enrolled before cannot enroll again.
  RunResult enroll = Admin(0, {"enroll-tokens", "create", "--name", "again"});
  ASSERT_EQ(enroll.exit_code, 0);
  const std::string key = *tls::GenerateKeyPem();
  medic::v1::EnrollRequest request;
  request.set_token(Trim(enroll.out));
  request.set_csr_pem(*tls::MakeCsr(key, "m-old"));
  medic::v1::EnrollResponse response;
  grpc::ClientContext context;
  EXPECT_EQ(medic::v1::AgentService::NewStub(Channel(0, "", ""))
                ->Enroll(&context, request, &response)
                .error_code(),
            grpc::StatusCode::ALREADY_EXISTS);

  // Restarted, B moves nothing again.
  replicas_[1]->Stop(SIGTERM);
  StartReplica(1, "-restarted");
  EXPECT_THAT(replicas_[1]->Stderr(), Not(HasSubstr("former security state")));
  RunResult tokens = Admin(1, {"tokens", "list"});
  EXPECT_THAT(tokens.out, HasSubstr("old-viewer"));
  EXPECT_THAT(tokens.out, Not(HasSubstr("tok-4")));
}

// A group policy saved through one replica reaches a machine connected to another (the saving
// replica announces it with NOTIFY medic_policy; the other reloads and pushes it down its
// streams), and the version the machine reports is seen through both.
TEST_F(ReplicaSecurityTest, PolicySavedThroughOneReplicaReachesMachinesOnAnother) {
  StartBoth();
  RunResult enroll = Admin(0, {"enroll-tokens", "create", "--name", "policy"});
  ASSERT_EQ(enroll.exit_code, 0) << enroll.err;
  auto agent = StartAgent(1, "ws-policy", Trim(enroll.out), "labels: [ou-replicas]\n");
  ASSERT_TRUE(replicas_[1]->WaitForStderr("ws-policy connected", absl::Seconds(20)))
      << agent->Describe() << replicas_[1]->Describe();

  WriteFile(dir_.File("policy.yaml"), "probes: {memory: {interval: 1s}}\n");
  RunResult set = Admin(0, {"policy", "set", "label=ou-replicas", dir_.File("policy.yaml")});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  for (int replica : {0, 1}) {
    std::string health;
    const absl::Time end = absl::Now() + absl::Seconds(20);
    while (absl::Now() < end) {
      health = Admin(replica, {"health", "ws-policy"}).out;
      if (health.find("policy label=ou-replicas@1") != std::string::npos) break;
      absl::SleepFor(absl::Milliseconds(200));
    }
    EXPECT_THAT(health, HasSubstr("policy label=ou-replicas@1"))
        << "through replica " << replica << agent->Describe() << replicas_[1]->Describe();
  }
}

}  // namespace
}  // namespace medic::test
