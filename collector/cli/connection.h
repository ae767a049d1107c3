#pragma once

// How `medic` reaches the collector: the TLS channel (CA pinned) or plaintext with
// --insecure, and the API token sent as `authorization: Bearer …` on every call.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace medic::cli {

struct ConnectionOptions {
  std::string collector;
  std::string config_file;  // "" → the default path, if it exists
  std::string token_file;
  std::string ca_file;
  std::string server_name;
  bool insecure = false;
};

struct Connection {
  std::string collector;
  std::shared_ptr<grpc::Channel> channel;
  std::string token;  // "" when none was given; the collector then refuses the call
};

// Resolves flags, environment (MEDIC_COLLECTOR, MEDIC_TOKEN, MEDIC_TOKEN_FILE, MEDIC_CA_FILE)
// and the config file, in that order of precedence, and opens the channel.
absl::StatusOr<Connection> Connect(const ConnectionOptions& options);

// Adds the token to a call.
void Authenticate(const Connection& connection, grpc::ClientContext* context);

}  // namespace medic::cli
