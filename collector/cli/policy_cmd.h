#pragma once

// `medic policy`: central policy by group (deployment issue 12).

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "grpcpp/support/status.h"
#include "medic/v1/technician.grpc.pb.h"

namespace medic::cli {

struct PolicyCommand {
  CLI::App* policy = nullptr;
  CLI::App* set = nullptr;
  CLI::App* rollout = nullptr;
  CLI::App* show = nullptr;
  CLI::App* preview = nullptr;
  std::string group;  // "all", "site=hq", "subnet=10.1.0.0/16", "label=sales", "host=ws-1"
  std::string file;   // YAML, "-" for stdin
  std::string host;
  std::string canary = "";  // "5%"
  bool json = false;
};

// Adds `medic policy set|rollout|show|preview` to `app`.
void AddPolicyCommands(CLI::App& app, PolicyCommand* command);

// Runs the parsed policy command. Returns the exit code: 0, 2 for bad usage (printed), or
// `*failed` set with the collector's status and -1 for the caller to report.
int RunPolicyCommand(const PolicyCommand& command, medic::v1::TechnicianService::Stub& stub,
                     grpc::ClientContext& context, grpc::Status* failed);

}  // namespace medic::cli
