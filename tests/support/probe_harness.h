#pragma once

// Runs probes the way the scheduler does, for tests: one ProbeContext over a given file system,
// a fake clock and a config.

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/probes/probe.h"
#include "common/fs/file_system.h"
#include "common/process/command_runner.h"
#include "common/time/clock.h"
#include "google/protobuf/text_format.h"
#include "medic/v1/config.pb.h"
#include "medic/v1/health.pb.h"

namespace medic::testing {

// One probe collection with a deadline of `budget` from the clock's now, its programs run by
// `commands`.
inline absl::StatusOr<agent::ProbeOutput> CollectWithCommands(
    agent::Probe& probe, const common::FileSystem& fs, const common::CommandRunner& commands,
    const common::Clock& clock, const medic::v1::AgentConfig& config = {},
    const std::vector<medic::v1::Finding>& standing = {},
    absl::Duration budget = absl::Seconds(2)) {
  agent::ProbeContext ctx{fs, commands, clock, config, clock.Now() + budget, standing};
  return probe.Collect(ctx);
}

// One probe collection with a deadline of `budget` from the clock's now, on a machine where no
// program exists (every command is NotFound).
inline absl::StatusOr<agent::ProbeOutput> Collect(
    agent::Probe& probe, const common::FileSystem& fs, const common::Clock& clock,
    const medic::v1::AgentConfig& config = {}, const std::vector<medic::v1::Finding>& standing = {},
    absl::Duration budget = absl::Seconds(2)) {
  static const common::NoCommandRunner kNoCommands;
  return CollectWithCommands(probe, fs, kNoCommands, clock, config, standing, budget);
}

// The whole of a file; empty when it cannot be read.
inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Parses a text-format proto file into `message`; false when the file is missing or malformed.
inline bool ReadTextProto(const std::string& path, google::protobuf::Message* message) {
  std::ifstream in(path);
  if (!in) return false;
  return google::protobuf::TextFormat::ParseFromString(ReadWholeFile(path), message);
}

}  // namespace medic::testing
