#include "collector/cli/connection.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "common/config/yaml_proto.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "medic/v1/security.pb.h"

namespace medic::cli {
namespace {

constexpr const char* kDefaultCollector = "127.0.0.1:7070";

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

absl::StatusOr<std::string> ReadFile(const std::string& path, std::string_view what) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(common::StrCat("cannot read ", what, " ", path));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string DefaultConfigPath() {
  std::string base = Env("XDG_CONFIG_HOME");
  if (base.empty()) {
    const std::string home = Env("HOME");
    if (home.empty()) return "";
    base = home + "/.config";
  }
  return base + "/medic/config.yaml";
}

}  // namespace

absl::StatusOr<Connection> Connect(const ConnectionOptions& options) {
  medic::v1::CliConfig config;
  std::string config_file = options.config_file;
  if (config_file.empty()) {
    config_file = DefaultConfigPath();
    std::error_code ec;
    if (!config_file.empty() && !std::filesystem::exists(config_file, ec)) config_file.clear();
  }
  if (!config_file.empty()) RETURN_IF_ERROR(common::MergeYamlFile(config_file, &config));

  Connection c;
  c.collector = !options.collector.empty()        ? options.collector
                : !Env("MEDIC_COLLECTOR").empty() ? Env("MEDIC_COLLECTOR")
                : !config.collector().empty()     ? config.collector()
                                                  : kDefaultCollector;
  // The token: --token-file, else $MEDIC_TOKEN, else $MEDIC_TOKEN_FILE, else the config's.
  std::string token_file = options.token_file;
  if (token_file.empty() && !Env("MEDIC_TOKEN").empty()) {
    c.token = Env("MEDIC_TOKEN");
  } else {
    if (token_file.empty()) token_file = Env("MEDIC_TOKEN_FILE");
    if (token_file.empty()) token_file = config.token_file();
    if (!token_file.empty()) {
      ASSIGN_OR_RETURN(std::string text, ReadFile(token_file, "the token file"));
      c.token = std::string(absl::StripAsciiWhitespace(text));
    }
  }
  if (options.insecure) {
    c.channel = grpc::CreateChannel(c.collector, grpc::InsecureChannelCredentials());
    return c;
  }
  std::string ca_file = !options.ca_file.empty()        ? options.ca_file
                        : !Env("MEDIC_CA_FILE").empty() ? Env("MEDIC_CA_FILE")
                                                        : config.ca_file();
  if (ca_file.empty()) {
    return absl::FailedPreconditionError(
        "no CA to check the collector with: give --ca-file (the collector's ca.pem), "
        "$MEDIC_CA_FILE or ca_file in medic's config; --insecure only for a test collector");
  }
  grpc::SslCredentialsOptions ssl;
  ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(ca_file, "the CA file"));
  grpc::ChannelArguments args;
  const std::string server_name =
      !options.server_name.empty() ? options.server_name : config.server_name();
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
  c.channel = grpc::CreateCustomChannel(c.collector, grpc::SslCredentials(ssl), args);
  return c;
}

void Authenticate(const Connection& connection, grpc::ClientContext* context) {
  if (!connection.token.empty()) {
    context->AddMetadata("authorization", "Bearer " + connection.token);
  }
}

}  // namespace medic::cli
