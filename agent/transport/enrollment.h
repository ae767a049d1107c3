#pragma once

// The agent's identity on the wire (issue 8): enrollment with a token, the mTLS channel
// credentials, and renewal of the client certificate before it expires.
//
// Files in the state dir: agent.key (0600, made once, kept across renewals), agent.pem (the
// certificate the collector signed). The collector's CA is pinned from security.ca_file.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/steady_timer.hpp"
#include "common/time/clock.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"
#include "medic/v1/agent.grpc.pb.h"
#include "medic/v1/config.pb.h"

namespace medic::agent {

struct AgentCredentialFiles {
  std::string ca;
  std::string key;
  std::string cert;
};
AgentCredentialFiles CredentialFiles(const medic::v1::AgentConfig& config);

// The enrollment token: config `enrollment_token`, else the file `enrollment_token_file`
// (trimmed), else $MEDIC_ENROLLMENT_TOKEN; "" when none.
absl::StatusOr<std::string> EnrollmentToken(const medic::v1::AgentConfig& config);

// Makes sure the state dir holds a certificate for `machine_id`: keeps one that is there, or
// enrolls with the token. Retries while the collector cannot be reached (backoff up to a
// minute); fails at once, naming what to do, when there is no token or the collector refuses
// it.
absl::Status EnsureEnrolled(const medic::v1::AgentConfig& config, const std::string& machine_id,
                            const std::string& hostname);

// Channel credentials for the collector: mTLS with the state dir's key and certificate and
// the pinned CA. The files are watched, so a renewed certificate is used by the next
// connection without a restart.
std::shared_ptr<grpc::ChannelCredentials> AgentChannelCredentials(
    const medic::v1::AgentConfig& config);

// Channel arguments for the collector's name check (security.server_name, when set).
void AddServerNameOverride(const medic::v1::AgentConfig& config, grpc::ChannelArguments* args);

// Renews the certificate when less than security.renew_fraction of its lifetime is left;
// checks hourly (and after a failure, every minute). Lives on the io thread; the Renew call
// itself blocks that thread for up to 10 s, once per certificate lifetime.
class CertificateRenewer {
 public:
  CertificateRenewer(boost::asio::io_context& io, const medic::v1::AgentConfig& config,
                     const common::Clock& clock);
  ~CertificateRenewer();
  void Start();
  void Stop();

 private:
  void Check();
  void Schedule(absl::Duration after);

  boost::asio::io_context& io_;
  const medic::v1::AgentConfig config_;
  const common::Clock& clock_;
  AgentCredentialFiles files_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<medic::v1::AgentService::Stub> stub_;
  boost::asio::steady_timer timer_;
  bool stopped_ = false;
};

}  // namespace medic::agent
