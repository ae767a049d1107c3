#include "agent/transport/enrollment.h"

#include <cstdlib>
#include <thread>

#include "absl/strings/ascii.h"
#include "boost/asio/post.hpp"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "common/tls/pki.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "spdlog/spdlog.h"

namespace medic::agent {
namespace {

namespace tls = common::tls;

constexpr absl::Duration kCheckEvery = absl::Hours(1);
constexpr absl::Duration kRetryEvery = absl::Minutes(1);
constexpr absl::Duration kCallTimeout = absl::Seconds(10);

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(kCallTimeout);
}

absl::Status FromGrpc(const grpc::Status& s, std::string_view what) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      common::StrCat(what, ": ", s.error_message()));
}

// The key of the state dir, made on first use.
absl::StatusOr<std::string> LoadOrCreateKey(const std::string& path) {
  auto key = tls::ReadWholeFile(path);
  if (key.ok() || !absl::IsNotFound(key.status())) return key;
  ASSIGN_OR_RETURN(std::string fresh, tls::GenerateKeyPem());
  RETURN_IF_ERROR(tls::WritePrivateFile(path, fresh));
  return fresh;
}

}  // namespace

AgentCredentialFiles CredentialFiles(const medic::v1::AgentConfig& config) {
  return {config.security().ca_file(), config.state_dir() + "/agent.key",
          config.state_dir() + "/agent.pem"};
}

absl::StatusOr<std::string> EnrollmentToken(const medic::v1::AgentConfig& config) {
  if (!config.enrollment_token().empty()) return config.enrollment_token();
  if (!config.enrollment_token_file().empty()) {
    ASSIGN_OR_RETURN(std::string text, tls::ReadWholeFile(config.enrollment_token_file()));
    return std::string(absl::StripAsciiWhitespace(text));
  }
  const char* env = std::getenv("MEDIC_ENROLLMENT_TOKEN");
  return std::string(env != nullptr ? env : "");
}

void AddServerNameOverride(const medic::v1::AgentConfig& config, grpc::ChannelArguments* args) {
  if (!config.security().server_name().empty()) {
    args->SetSslTargetNameOverride(config.security().server_name());
  }
}

absl::Status EnsureEnrolled(const medic::v1::AgentConfig& config, const std::string& machine_id,
                            const std::string& hostname) {
  const AgentCredentialFiles files = CredentialFiles(config);
  if (files.ca.empty()) {
    return absl::FailedPreconditionError(
        "security.ca_file is not set: the agent pins the collector's CA certificate (ca.pem in "
        "the collector's state dir); set it, or run with --insecure against a test collector");
  }
  ASSIGN_OR_RETURN(std::string ca, tls::ReadWholeFile(files.ca));
  ASSIGN_OR_RETURN(std::string key, LoadOrCreateKey(files.key));
  if (auto cert = tls::ReadWholeFile(files.cert); cert.ok()) {
    ASSIGN_OR_RETURN(tls::CertificateInfo info, tls::ReadCertificate(*cert));
    if (info.common_name == machine_id && tls::CheckKeyMatches(*cert, key).ok()) {
      spdlog::info("using the agent certificate {} (serial {}, valid until {})", files.cert,
                   info.serial, absl::FormatTime(info.not_after));
      return absl::OkStatus();
    }
    spdlog::warn("{} is not this machine's certificate (it names {}); enrolling again", files.cert,
                 info.common_name);
  }
  ASSIGN_OR_RETURN(std::string token, EnrollmentToken(config));
  if (token.empty()) {
    return absl::FailedPreconditionError(common::StrCat(
        "this agent is not enrolled (no certificate at ", files.cert,
        ") and has no enrollment token: set enrollment_token or enrollment_token_file in the "
        "config, or MEDIC_ENROLLMENT_TOKEN (an administrator makes one with `medic "
        "enroll-tokens create`)"));
  }
  medic::v1::EnrollRequest request;
  request.set_token(token);
  request.set_hostname(hostname);
  ASSIGN_OR_RETURN(std::string csr, tls::MakeCsr(key, machine_id));
  request.set_csr_pem(csr);

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca;  // server authentication only: no client certificate yet
  grpc::ChannelArguments args;
  AddServerNameOverride(config, &args);
  auto channel = grpc::CreateCustomChannel(config.collector(), grpc::SslCredentials(ssl), args);
  auto stub = medic::v1::AgentService::NewStub(channel);
  absl::Duration backoff = absl::Seconds(1);
  while (true) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    medic::v1::EnrollResponse response;
    grpc::Status status = stub->Enroll(&context, request, &response);
    if (status.ok()) {
      RETURN_IF_ERROR(tls::CheckKeyMatches(response.certificate_pem(), key));
      RETURN_IF_ERROR(tls::WritePublicFile(files.cert, response.certificate_pem()));
      spdlog::info("enrolled with the collector at {}; certificate in {}", config.collector(),
                   files.cert);
      return absl::OkStatus();
    }
    // Only an unreachable collector (or a rate limit) is worth waiting for; a refused token
    // stays refused.
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE &&
        status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED &&
        status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) {
      return FromGrpc(status, common::StrCat("the collector at ", config.collector(),
                                             " refused the enrollment"));
    }
    spdlog::warn("cannot enroll with the collector at {} yet ({}); retrying in {}",
                 config.collector(), status.error_message(), absl::FormatDuration(backoff));
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
    backoff = std::min(backoff * 2, absl::Minutes(1));
  }
}

std::shared_ptr<grpc::ChannelCredentials> AgentChannelCredentials(
    const medic::v1::AgentConfig& config) {
  const AgentCredentialFiles files = CredentialFiles(config);
  // Re-read every 10 s: a renewed certificate (written by rename) is picked up by itself.
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      files.key, files.cert, files.ca, /*refresh_interval_sec=*/10);
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  return grpc::experimental::TlsCredentials(options);
}

CertificateRenewer::CertificateRenewer(boost::asio::io_context& io,
                                       const medic::v1::AgentConfig& config,
                                       const common::Clock& clock)
    : io_(io), config_(config), clock_(clock), files_(CredentialFiles(config)), timer_(io) {
  grpc::ChannelArguments args;
  AddServerNameOverride(config, &args);
  channel_ = grpc::CreateCustomChannel(config.collector(), AgentChannelCredentials(config), args);
  stub_ = medic::v1::AgentService::NewStub(channel_);
}

CertificateRenewer::~CertificateRenewer() { Stop(); }

void CertificateRenewer::Start() { Check(); }

void CertificateRenewer::Stop() {
  stopped_ = true;
  timer_.cancel();
}

void CertificateRenewer::Schedule(absl::Duration after) {
  if (stopped_) return;
  timer_.expires_after(absl::ToChronoMilliseconds(after));
  timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error) Check();
  });
}

void CertificateRenewer::Check() {
  if (stopped_) return;
  auto cert = tls::ReadWholeFile(files_.cert);
  auto info = cert.ok() ? tls::ReadCertificate(*cert) : cert.status();
  if (!info.ok()) {
    spdlog::error("cannot read the agent certificate {}: {}", files_.cert, info.status().message());
    Schedule(kRetryEvery);
    return;
  }
  const absl::Time now = clock_.Now();
  if (!tls::NeedsRenewal(info->not_before, info->not_after, now,
                         config_.security().renew_fraction())) {
    Schedule(kCheckEvery);
    return;
  }
  auto key = tls::ReadWholeFile(files_.key);
  auto csr = key.ok() ? tls::MakeCsr(*key, info->common_name) : key.status();
  if (!csr.ok()) {
    spdlog::error("cannot make a renewal request: {}", csr.status().message());
    Schedule(kRetryEvery);
    return;
  }
  medic::v1::RenewRequest request;
  request.set_csr_pem(*csr);
  medic::v1::EnrollResponse response;
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  grpc::Status status = stub_->Renew(&context, request, &response);
  if (!status.ok()) {
    spdlog::warn("renewing the agent certificate (valid until {}) failed: {}; retrying in a minute",
                 absl::FormatTime(info->not_after), status.error_message());
    Schedule(kRetryEvery);
    return;
  }
  // The same key: the file watcher never sees a key and a certificate that do not match.
  if (absl::Status s = tls::CheckKeyMatches(response.certificate_pem(), *key); !s.ok()) {
    spdlog::error("the renewed certificate does not match the agent key: {}", s.message());
    Schedule(kRetryEvery);
    return;
  }
  if (absl::Status s = tls::WritePublicFile(files_.cert, response.certificate_pem()); !s.ok()) {
    spdlog::error("cannot save the renewed certificate: {}", s.message());
    Schedule(kRetryEvery);
    return;
  }
  spdlog::info("renewed the agent certificate; the new one is valid until {}",
               absl::FormatTime(common::FromProtoTime(response.not_after())));
  Schedule(kCheckEvery);
}

}  // namespace medic::agent
