#pragma once

#include <string_view>

#include "medic/v1/config.pb.h"

namespace medic::common {

// Sets up spdlog's default logger: one line per event on stderr, prefixed with the program's
// name ("medic-agent: …"), at `level` (INFO when unspecified). Call once from main().
void InitLogging(std::string_view program, medic::v1::LogLevel level);

// Parses "debug", "info", … as the --log-level flag takes them.
bool ParseLogLevel(std::string_view text, medic::v1::LogLevel* level);

}  // namespace medic::common
