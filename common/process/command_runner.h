#pragma once

// Runs programs for the probes (apt-get, systemctl, timedatectl): a fixed argv, no shell, a time
// limit and an output cap. An interface so that tests answer from fixture files.

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace medic::common {

// How a program run ended. (Not `stdout`/`stderr`: those are macros of <cstdio>.)
struct CommandResult {
  int exit_code = 0;       // the exit status; 128 + N when signal N ended the program
  std::string std_out;     // at most max_output bytes
  std::string std_err;     // at most max_output bytes
  bool truncated = false;  // either stream was cut at max_output
};

// Runs a program and collects its output. Safe to call from several threads.
class CommandRunner {
 public:
  virtual ~CommandRunner() = default;

  // Runs argv[0] (looked up in PATH when it has no "/") with the arguments argv[1..], stdin
  // from /dev/null. A program that runs and exits, whatever its exit code, is a CommandResult.
  // NotFound when the program does not exist, PermissionDenied when it cannot be executed,
  // DeadlineExceeded naming the command when it has not finished within `timeout` (it is then
  // killed, with everything it started in its process group), InvalidArgument for an empty argv.
  virtual absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv,
                                            absl::Duration timeout, size_t max_output) const = 0;
};

// The real thing: posix_spawn(3) of the program in a process group of its own, with no file
// descriptor inherited but stdin (/dev/null), stdout and stderr (pipes), default signal
// dispositions and LC_ALL=C (so its output is the untranslated text the parsers expect). Output
// beyond max_output is read and dropped, so the program never blocks on a full pipe.
class RealCommandRunner : public CommandRunner {
 public:
  absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv, absl::Duration timeout,
                                    size_t max_output) const override;
};

// A runner for which no program exists: every Run is NotFound. For callers with nothing to run.
class NoCommandRunner : public CommandRunner {
 public:
  absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv, absl::Duration timeout,
                                    size_t max_output) const override;
};

// The command as people read it: argv joined by spaces ("systemctl list-units --failed").
std::string CommandText(const std::vector<std::string>& argv);

}  // namespace medic::common
