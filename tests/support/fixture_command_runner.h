#pragma once

// A CommandRunner that answers from files in a fixture case folder instead of running programs.

#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/probes/text.h"
#include "common/process/command_runner.h"
#include "common/strings/str_cat.h"
#include "tests/support/probe_harness.h"

namespace medic::testing {

// Run(argv) answers from `<case_dir>/commands/<name>` where <name> is argv joined by "_" with
// each "/" turned into "%": stdout from `<name>.out`, stderr from `<name>.err` (optional) and the
// exit code from `<name>.exit` (optional, default 0). A command without a `.out` file is a
// program the machine does not have: NotFound. `<name>.timeout` (any content) makes it
// DeadlineExceeded, as the real runner reports a program that overran.
class FixtureCommandRunner : public common::CommandRunner {
 public:
  explicit FixtureCommandRunner(std::string case_dir) : dir_(std::move(case_dir) + "/commands/") {}

  absl::StatusOr<common::CommandResult> Run(const std::vector<std::string>& argv,
                                            absl::Duration timeout,
                                            size_t max_output) const override {
    if (argv.empty()) return absl::InvalidArgumentError("no command to run");
    std::string name;
    for (const std::string& arg : argv) {
      if (!name.empty()) name += '_';
      for (char c : arg) name += c == '/' ? '%' : c;
    }
    const std::string base = dir_ + name;
    if (Exists(base + ".timeout")) {
      return absl::DeadlineExceededError(common::StrCat("`", common::CommandText(argv),
                                                        "` did not finish within ",
                                                        absl::FormatDuration(timeout)));
    }
    if (!Exists(base + ".out")) {
      return absl::NotFoundError(common::StrCat(argv[0], ": no such program in the fixture"));
    }
    common::CommandResult result;
    result.std_out = ReadWholeFile(base + ".out");
    result.std_err = ReadWholeFile(base + ".err");
    if (result.std_out.size() > max_output) {
      result.std_out.resize(max_output);
      result.truncated = true;
    }
    const std::string exit_text = ReadWholeFile(base + ".exit");
    if (!exit_text.empty() && !agent::ParseInt(agent::Trim(exit_text), &result.exit_code)) {
      return absl::InvalidArgumentError(common::StrCat(base, ".exit is not a number"));
    }
    return result;
  }

 private:
  static bool Exists(const std::string& path) { return std::ifstream(path).good(); }

  std::string dir_;
};

}  // namespace medic::testing
