// The security promises of issue 8, with real processes over TLS on loopback: enrollment,
// refused tokens, an enrollment flood, agents without certificates, spoofed machine ids,
// revocation, cloned identities, technician roles, the audit log and secrets kept out of logs.

#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "common/strings/str_cat.h"
#include "common/tls/pki.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "medic/v1/agent.grpc.pb.h"
#include "medic/v1/technician.grpc.pb.h"
#include "tests/support/process.h"

namespace medic::test {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;
namespace tls = common::tls;

const std::string kBin = MEDIC_BIN_DIR;

// Collects every second and judges every filesystem short of space, so a finding (and a
// ticket) comes quickly.
constexpr char kAgentConfig[] = R"yaml(
heartbeat_interval: 1s
reconnect: {initial_backoff: 200ms, max_backoff: 1s}
probes:
  cpu: {interval: 1s}
  memory: {interval: 1s}
  filesystems: {interval: 1s}
  network: {interval: 2s}
  connectivity: {disabled: true}
filesystems:
  space_low_pct: 99.999
  space_critical_pct: 0.0001
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

int Mode(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return -1;
  return st.st_mode & 0777;
}

// An agent identity made by the test itself, to talk to the collector the way an agent does
// (or an attacker would).
struct TestIdentity {
  explicit TestIdentity(std::string id, std::string k = "", std::string c = "")
      : machine_id(std::move(id)), key(std::move(k)), cert(std::move(c)) {}
  std::string machine_id;
  std::string key;
  std::string cert;
};

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.File("collector.yaml"), "heartbeat_interval: 1s\noffline_after: 30s\n");
    port_ = FreePort();
    // Both loopbacks, so a test can come from two "hosts": 127.0.0.1 and ::1.
    collector_ = std::make_unique<Process>(
        std::vector<std::string>{kBin + "/medic-collector", "--listen",
                                 "[::]:" + std::to_string(port_), "--db", dir_.File("c.db"),
                                 "--config", dir_.File("collector.yaml")},
        dir_.path(), "collector");
    ASSERT_TRUE(collector_->WaitForStdout("listening on", absl::Seconds(20)))
        << collector_->Describe();
    address_ = "127.0.0.1:" + std::to_string(port_);
    ca_ = ReadAll(dir_.File("ca.pem"));
    ASSERT_FALSE(ca_.empty());
    admin_token_ = Trim(ReadAll(dir_.File("admin.token")));
    ASSERT_FALSE(admin_token_.empty());
  }

  // `medic` with the CA pinned and the given token file ("" for none).
  RunResult Medic(std::vector<std::string> args, const std::string& token_file) {
    std::vector<std::string> argv = {kBin + "/medic", "--collector", address_, "--ca-file",
                                     dir_.File("ca.pem")};
    if (!token_file.empty()) {
      argv.push_back("--token-file");
      argv.push_back(token_file);
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }
  RunResult Admin(std::vector<std::string> args) {
    return Medic(std::move(args), dir_.File("admin.token"));
  }

  // A fresh enrollment token (its secret), made with the CLI as an administrator would.
  std::string EnrollmentToken(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"enroll-tokens", "create", "--name", "test"};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = Admin(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return Trim(r.out);
  }

  // An API token of `role` in a 0600 file; returns the file.
  std::string ApiTokenFile(const std::string& name, const std::string& role) {
    RunResult r = Admin({"tokens", "create", name, "--role", role});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const std::string file = dir_.File(name + ".token");
    WriteFile(file, r.out);
    return file;
  }

  // A real agent; with a token, it reads it from enrollment_token_file.
  std::unique_ptr<Process> StartAgent(const std::string& hostname, const std::string& token) {
    std::string config = kAgentConfig;
    if (!token.empty()) {
      const std::string token_file = dir_.File("enroll-" + hostname);
      WriteFile(token_file, token + "\n");
      config += "enrollment_token_file: " + token_file + "\n";
    }
    WriteFile(dir_.File("agent-" + hostname + ".yaml"), config);
    return std::make_unique<Process>(
        std::vector<std::string>{kBin + "/medic-agent", "--collector", address_, "--config",
                                 dir_.File("agent-" + hostname + ".yaml"), "--state-dir",
                                 dir_.File("state-" + hostname), "--hostname", hostname,
                                 "--ca-file", dir_.File("ca.pem")},
        dir_.path(), "agent-" + hostname);
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& target, const TestIdentity* who) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca_;
    if (who != nullptr) {
      ssl.pem_private_key = who->key;
      ssl.pem_cert_chain = who->cert;
    }
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one connection per identity
    return grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), args);
  }

  grpc::Status Enroll(const std::string& target, const std::string& token, TestIdentity* who) {
    who->key = *tls::GenerateKeyPem();
    medic::v1::EnrollRequest request;
    request.set_token(token);
    request.set_hostname("host-" + who->machine_id);
    request.set_csr_pem(*tls::MakeCsr(who->key, who->machine_id));
    medic::v1::EnrollResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status status = medic::v1::AgentService::NewStub(Channel(target, nullptr))
                              ->Enroll(&context, request, &response);
    who->cert = response.certificate_pem();
    return status;
  }

  // Opens a stream as `who` and says hello as `claimed_id`; returns how it ended when it was
  // refused, or OK once the welcome came (the stream is then left in `*keep`).
  struct OpenStream {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<medic::v1::AgentService::Stub> stub;
    std::unique_ptr<grpc::ClientReaderWriter<medic::v1::AgentMessage, medic::v1::CollectorMessage>>
        stream;
  };
  grpc::Status Hello(const std::string& target, const TestIdentity* who,
                     const std::string& claimed_id, uint64_t epoch, OpenStream* keep) {
    keep->stub = medic::v1::AgentService::NewStub(Channel(target, who));
    keep->context = std::make_unique<grpc::ClientContext>();
    keep->context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    keep->stream = keep->stub->Connect(keep->context.get());
    medic::v1::AgentMessage hello;
    hello.mutable_hello()->set_machine_id(claimed_id);
    hello.mutable_hello()->set_hostname("host-" + claimed_id);
    hello.mutable_hello()->set_epoch(epoch);
    keep->stream->Write(hello);
    medic::v1::CollectorMessage reply;
    if (keep->stream->Read(&reply) && reply.has_welcome()) return grpc::Status::OK;
    keep->stream->WritesDone();
    return keep->stream->Finish();
  }

  std::string Audit(std::vector<std::string> filters = {}) {
    std::vector<std::string> args = {"audit", "--limit", "1000"};
    args.insert(args.end(), filters.begin(), filters.end());
    RunResult r = Admin(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  // Polls `medic machines --json` until it shows `needle`.
  bool WaitForMachines(const std::string& needle, absl::Duration timeout = absl::Seconds(30)) {
    const absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      if (Admin({"machines", "--json"}).out.find(needle) != std::string::npos) return true;
      absl::SleepFor(absl::Milliseconds(200));
    }
    return false;
  }

  TempDir dir_;
  int port_ = 0;
  std::string address_;
  std::string ca_;
  std::string admin_token_;
  std::unique_ptr<Process> collector_;
};

TEST_F(SecurityTest, FirstStartMakesCaServerCertAndAdminTokenWithPrivateKeys) {
  EXPECT_EQ(Mode(dir_.File("ca.key")), 0600);
  EXPECT_EQ(Mode(dir_.File("server.key")), 0600);
  EXPECT_EQ(Mode(dir_.File("admin.token")), 0600);
  auto ca = tls::ReadCertificate(ca_);
  ASSERT_TRUE(ca.ok());
  EXPECT_TRUE(ca->is_ca);
  EXPECT_TRUE(tls::VerifyCertificate(ReadAll(dir_.File("server.pem")), ca_, absl::Now()).ok());
  // The log names the file, never the token.
  EXPECT_THAT(collector_->Stderr(), HasSubstr(dir_.File("admin.token")));
  EXPECT_THAT(collector_->Stderr() + collector_->Stdout(), Not(HasSubstr(admin_token_)));
}

TEST_F(SecurityTest, AgentEnrollsWithATokenAndReportsOverMutualTls) {
  auto agent = StartAgent("ws-enrolled", EnrollmentToken({"--uses", "1"}));
  ASSERT_TRUE(WaitForMachines("\"hostname\": \"ws-enrolled\"")) << agent->Describe();
  EXPECT_TRUE(WaitForMachines("MACHINE_STATE_ONLINE")) << agent->Describe();
  EXPECT_EQ(Mode(dir_.File("state-ws-enrolled/agent.key")), 0600);
  const std::string cert = ReadAll(dir_.File("state-ws-enrolled/agent.pem"));
  EXPECT_TRUE(tls::VerifyCertificate(cert, ca_, absl::Now()).ok());
  EXPECT_EQ(tls::ReadCertificate(cert)->common_name,
            Trim(ReadAll(dir_.File("state-ws-enrolled/machine-id"))));
  EXPECT_THAT(Audit({"--action", "Enroll"}), HasSubstr("ok  (with enrollment token enr-1)"));

  // Restarted, it uses its certificate; the token (used up) is not needed again.
  agent->Stop(SIGTERM);
  auto again = StartAgent("ws-enrolled", "");
  ASSERT_TRUE(again->WaitForStderr("using the agent certificate", absl::Seconds(10)))
      << again->Describe();
  EXPECT_TRUE(WaitForMachines("MACHINE_STATE_ONLINE")) << again->Describe();
}

TEST_F(SecurityTest, BadExpiredUsedUpAndRevokedTokensAreRefused) {
  TestIdentity who{"m-bad"};
  grpc::Status bad = Enroll(address_, "medic_enroll_notatoken", &who);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::UNAUTHENTICATED) << bad.error_message();

  const std::string expiring = EnrollmentToken({"--valid-for", "1s"});
  absl::SleepFor(absl::Milliseconds(1500));
  grpc::Status expired = Enroll(address_, expiring, &who);
  EXPECT_EQ(expired.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(expired.error_message(), HasSubstr("has expired"));

  const std::string once = EnrollmentToken({"--uses", "1"});
  TestIdentity first{"m-first"};
  TestIdentity second{"m-second"};
  ASSERT_TRUE(Enroll(address_, once, &first).ok());
  grpc::Status used_up = Enroll(address_, once, &second);
  EXPECT_EQ(used_up.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(used_up.error_message(), HasSubstr("is used up"));

  const std::string revoked = EnrollmentToken();
  RunResult list = Admin({"enroll-tokens", "list"});
  ASSERT_THAT(list.out, HasSubstr("enr-3"));
  ASSERT_EQ(Admin({"enroll-tokens", "revoke", "enr-3"}).exit_code, 0);
  grpc::Status refused = Enroll(address_, revoked, &second);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(refused.error_message(), HasSubstr("was revoked"));

  // A token does not let anyone take over a machine that is already enrolled.
  const std::string many = EnrollmentToken();
  TestIdentity thief{"m-first"};
  grpc::Status taken = Enroll(address_, many, &thief);
  EXPECT_EQ(taken.error_code(), grpc::StatusCode::ALREADY_EXISTS);

  // A real agent with a bad token stops, saying why, and never reports.
  auto agent = StartAgent("ws-badtoken", "medic_enroll_0000");
  EXPECT_EQ(agent->Wait(absl::Seconds(15)), 1) << agent->Describe();
  EXPECT_THAT(agent->Stderr(), HasSubstr("refused the enrollment"));
  EXPECT_THAT(Admin({"machines"}).out, Not(HasSubstr("ws-badtoken")));
  EXPECT_THAT(Audit({"--action", "Enroll"}), HasSubstr("UNAUTHENTICATED"));
}

TEST_F(SecurityTest, EnrollmentFloodIsRateLimitedWithoutHarmingAGoodAgent) {
  const std::string good = EnrollmentToken();
  // The flood comes from ::1; the good agent from 127.0.0.1.
  const std::string flood_target = "[::1]:" + std::to_string(port_);
  int unauthenticated = 0, limited = 0;
  for (int i = 0; i < 60; ++i) {
    TestIdentity who{"m-flood-" + std::to_string(i)};
    grpc::Status s = Enroll(flood_target, "medic_enroll_guess" + std::to_string(i), &who);
    if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED) ++unauthenticated;
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++limited;
  }
  EXPECT_EQ(unauthenticated, 10);  // the default 10 failures a minute per address
  EXPECT_EQ(limited, 50);
  // Once limited, even a right token from the flooding address waits for the minute.
  TestIdentity late{"m-late"};
  EXPECT_EQ(Enroll(flood_target, good, &late).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  auto agent = StartAgent("ws-good", good);
  EXPECT_TRUE(WaitForMachines("\"hostname\": \"ws-good\"")) << agent->Describe();
  // One audit entry for the limit, not fifty.
  const std::string audit = Audit({"--action", "Enroll"});
  size_t count = 0;
  for (size_t at = audit.find("rate limited"); at != std::string::npos;
       at = audit.find("rate limited", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1u) << audit;
}

TEST_F(SecurityTest, AgentWithoutCertificateCannotConnect) {
  OpenStream stream;
  grpc::Status s = Hello(address_, nullptr, "m-nocert", 1, &stream);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("not enrolled"));

  // Nor with a certificate from another CA (a self-made one).
  TestIdentity forged{"m-forged", *tls::GenerateKeyPem()};
  const std::string other_ca_key = *tls::GenerateKeyPem();
  const std::string other_ca = *tls::MakeCaCertificate(
      other_ca_key, "evil", absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(1));
  tls::CertificateSpec spec{
      "m-forged", {}, false, absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(1)};
  forged.cert = *tls::IssueCertificate(other_ca, other_ca_key, forged.key, spec);
  OpenStream stream2;
  EXPECT_FALSE(Hello(address_, &forged, "m-forged", 1, &stream2).ok());
  EXPECT_THAT(Admin({"machines"}).out, Not(HasSubstr("m-forged")));
  EXPECT_THAT(Admin({"machines"}).out, Not(HasSubstr("m-nocert")));
}

TEST_F(SecurityTest, SpoofedMachineIdIsRefusedAndAudited) {
  TestIdentity who{"m-honest"};
  ASSERT_TRUE(Enroll(address_, EnrollmentToken(), &who).ok());
  OpenStream spoof;
  grpc::Status s = Hello(address_, &who, "m-victim", 1, &spoof);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_THAT(Audit({"--action", "agent.spoofed_id"}),
              HasSubstr("agent m-honest  agent.spoofed_id  m-victim  PERMISSION_DENIED"));
  EXPECT_THAT(Admin({"machines"}).out, Not(HasSubstr("m-victim")));
  // Its own id is fine.
  OpenStream honest;
  EXPECT_TRUE(Hello(address_, &who, "m-honest", 1, &honest).ok());
}

TEST_F(SecurityTest, RevokeCutsTheAgentOffAndRefusesItsCertificate) {
  auto agent = StartAgent("ws-revoked", EnrollmentToken());
  ASSERT_TRUE(WaitForMachines("\"hostname\": \"ws-revoked\"")) << agent->Describe();
  ASSERT_TRUE(collector_->WaitForStderr("ws-revoked connected", absl::Seconds(10)));
  RunResult tech = Medic({"agents", "revoke", "ws-revoked"}, ApiTokenFile("tech", "technician"));
  EXPECT_EQ(tech.exit_code, 1);
  EXPECT_THAT(tech.err, HasSubstr("needs the admin role"));

  RunResult r = Admin({"agents", "revoke", "ws-revoked", "--reason", "laptop stolen"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("1 certificates revoked, its live stream was cut"));
  EXPECT_TRUE(collector_->WaitForStderr("ws-revoked disconnected", absl::Seconds(5)))
      << collector_->Describe();
  // The agent keeps trying and is refused each time.
  EXPECT_TRUE(agent->WaitForStderr("was revoked", absl::Seconds(10))) << agent->Describe();
  EXPECT_THAT(Audit({"--action", "RevokeAgent"}), HasSubstr("laptop stolen"));
  EXPECT_THAT(Audit({"--action", "Connect"}), HasSubstr("PERMISSION_DENIED"));
}

TEST_F(SecurityTest, CloneIsRefusedAndFlaggedNotMerged) {
  TestIdentity who{"m-cloned"};
  ASSERT_TRUE(Enroll(address_, EnrollmentToken(), &who).ok());
  OpenStream original;
  ASSERT_TRUE(Hello(address_, &who, "m-cloned", 1, &original).ok());
  // The same certificate from another host (::1) and another agent process (epoch).
  OpenStream copy;
  grpc::Status s = Hello("[::1]:" + std::to_string(port_), &who, "m-cloned", 2, &copy);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("two machines share one identity"));
  RunResult machines = Admin({"machines", "--json"});
  EXPECT_THAT(machines.out, HasSubstr("\"identityAlert\": \"the identity of this machine was "
                                      "used from two hosts at once"));
  EXPECT_THAT(Audit({"--action", "agent.identity_alert"}), HasSubstr("m-cloned"));
  EXPECT_THAT(Admin({"health", "m-cloned"}).out, HasSubstr("IDENTITY ALERT"));
}

TEST_F(SecurityTest, RenewGivesTheSameMachineANewCertificate) {
  TestIdentity who{"m-renew"};
  ASSERT_TRUE(Enroll(address_, EnrollmentToken(), &who).ok());
  auto stub = medic::v1::AgentService::NewStub(Channel(address_, &who));
  medic::v1::RenewRequest request;
  request.set_csr_pem(*tls::MakeCsr(who.key, "m-renew"));
  medic::v1::EnrollResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->Renew(&context, request, &response).ok());
  auto renewed = tls::ReadCertificate(response.certificate_pem());
  EXPECT_EQ(renewed->common_name, "m-renew");
  EXPECT_NE(renewed->serial, tls::ReadCertificate(who.cert)->serial);
  // Not into another machine.
  request.set_csr_pem(*tls::MakeCsr(who.key, "m-other"));
  grpc::ClientContext context2;
  EXPECT_EQ(stub->Renew(&context2, request, &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Not without a certificate.
  grpc::ClientContext context3;
  EXPECT_EQ(medic::v1::AgentService::NewStub(Channel(address_, nullptr))
                ->Renew(&context3, request, &response)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(SecurityTest, TechnicianRolesAuditAndSecretsKeptOutOfLogs) {
  // Without a token: refused.
  RunResult anonymous = Medic({"machines"}, "");
  EXPECT_EQ(anonymous.exit_code, 1);
  EXPECT_THAT(anonymous.err, HasSubstr("refused"));
  RunResult wrong = RunCommand(
      {kBin + "/medic", "--collector", address_, "--ca-file", dir_.File("ca.pem"), "machines"});
  EXPECT_EQ(wrong.exit_code, 1);

  const std::string enroll_secret = EnrollmentToken();
  auto agent = StartAgent("ws-roles", enroll_secret);
  const std::string viewer = ApiTokenFile("vera", "viewer");
  const std::string tech = ApiTokenFile("tom", "technician");
  RunResult tickets;
  for (int i = 0; i < 150; ++i) {
    tickets = Medic({"tickets"}, viewer);
    if (tickets.out.find("MED-1") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_THAT(tickets.out, HasSubstr("MED-1")) << tickets.err << agent->Describe();

  RunResult viewer_ack = Medic({"tickets", "ack", "MED-1"}, viewer);
  EXPECT_EQ(viewer_ack.exit_code, 1);
  EXPECT_THAT(viewer_ack.err, HasSubstr("UpdateTicket needs the technician role"));
  RunResult viewer_tokens = Medic({"tokens", "list"}, viewer);
  EXPECT_EQ(viewer_tokens.exit_code, 1);
  RunResult tech_ack = Medic({"tickets", "ack", "MED-1", "--note", "on it"}, tech);
  EXPECT_EQ(tech_ack.exit_code, 0) << tech_ack.err;
  RunResult tech_audit = Medic({"audit"}, tech);
  EXPECT_EQ(tech_audit.exit_code, 1);
  EXPECT_THAT(tech_audit.err, HasSubstr("needs the admin role"));

  // The audit log: who, what, target, result; refusals too.
  const std::string audit = Audit();
  EXPECT_THAT(audit, HasSubstr("tom (tok-3)  UpdateTicket  MED-1  ok  (acknowledged)"));
  EXPECT_THAT(audit, HasSubstr("vera (tok-2)  UpdateTicket  PERMISSION_DENIED"));
  EXPECT_THAT(audit, HasSubstr("admin (tok-1)  CreateApiToken  tok-2  ok"));
  EXPECT_THAT(Audit({"--actor", "tom", "--action", "UpdateTicket"}), Not(HasSubstr("vera")));
  // The ticket's history names the token's holder.
  EXPECT_THAT(Medic({"tickets", "show", "MED-1"}, tech).out,
              ContainsRegex("tom( \\(as [a-z0-9_-]+\\))?: acknowledged: on it"));

  // A revoked token stops working at once.
  ASSERT_EQ(Admin({"tokens", "revoke", "tok-2"}).exit_code, 0);
  RunResult revoked = Medic({"machines"}, viewer);
  EXPECT_EQ(revoked.exit_code, 1);
  EXPECT_THAT(revoked.err, HasSubstr("revoked"));

  // No secret in any log, nor in the database: only hashes are stored.
  const std::string secrets[] = {admin_token_, Trim(ReadAll(viewer)), Trim(ReadAll(tech)),
                                 enroll_secret};
  const std::string logs =
      collector_->Stdout() + collector_->Stderr() + agent->Stdout() + agent->Stderr();
  const std::string db = ReadAll(dir_.File("c.db")) + ReadAll(dir_.File("c.db-wal"));
  for (const std::string& secret : secrets) {
    ASSERT_GT(secret.size(), 20u);
    EXPECT_THAT(logs, Not(HasSubstr(secret)));
    EXPECT_THAT(db, Not(HasSubstr(secret)));
  }
}

TEST_F(SecurityTest, ServesTls12AndUpOnly) {
  auto s_client = [&](const std::string& version) {
    return RunCommand({"/usr/bin/openssl", "s_client", "-connect", address_, version, "-CAfile",
                       dir_.File("ca.pem"), "-cipher", "DEFAULT:@SECLEVEL=0"},
                      absl::Seconds(10));
  };
  // A completed handshake shows the collector's certificate and a cipher; a refused one
  // neither.
  RunResult v12 = s_client("-tls1_2");
  EXPECT_THAT(v12.out, HasSubstr("Protocol  : TLSv1.2")) << v12.out << v12.err;
  EXPECT_THAT(v12.out, Not(HasSubstr("Cipher is (NONE)")));
  EXPECT_THAT(v12.out, Not(HasSubstr("no peer certificate available")));
  RunResult v11 = s_client("-tls1_1");
  EXPECT_THAT(v11.out, HasSubstr("Cipher is (NONE)")) << v11.out;
  EXPECT_THAT(v11.out, HasSubstr("no peer certificate available"));
}

TEST_F(SecurityTest, InsecureModeListensOnLoopbackOnly) {
  RunResult r = RunCommand({kBin + "/medic-collector", "--insecure", "--listen", "0.0.0.0:0",
                            "--db", dir_.File("x.db")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("loopback only"));
}

}  // namespace
}  // namespace medic::test
