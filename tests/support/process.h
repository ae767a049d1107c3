#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace medic::test {

// A real child process for integration tests: stdout and stderr go to files in `log_dir`,
// so a test can wait for a line and show both when it fails. Killed (SIGKILL) on
// destruction if still running.
class Process {
 public:
  Process(std::vector<std::string> argv, std::string log_dir, std::string name);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Waits until stdout contains `needle`; false on timeout or if the process exited first.
  bool WaitForStdout(std::string_view needle, absl::Duration timeout);
  bool WaitForStderr(std::string_view needle, absl::Duration timeout);

  // Sends `signal` and waits for the exit; returns the exit code (128 + n when killed by n),
  // or -1 if it did not exit within `timeout` (it is then killed).
  int Stop(int signal, absl::Duration timeout = absl::Seconds(10));
  // Waits for the process to exit by itself; -1 on timeout.
  int Wait(absl::Duration timeout);
  bool Running();
  // The child's process id, for benchmarks that read /proc/PID.
  pid_t pid() const { return pid_; }

  std::string Stdout() const;
  std::string Stderr() const;
  // Both outputs, labelled, for failure messages.
  std::string Describe() const;

 private:
  bool WaitFor(const std::string& file, std::string_view needle, absl::Duration timeout);
  std::string name_;
  std::string stdout_path_;
  std::string stderr_path_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a command to completion (killing it after `timeout`) and returns its exit code and output.
RunResult RunCommand(std::vector<std::string> argv, absl::Duration timeout = absl::Seconds(30));

// A fresh empty directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago, outside the kernel's ephemeral range.
int FreePort();

// Writes `contents` to `path`.
void WriteFile(const std::string& path, std::string_view contents);

}  // namespace medic::test
