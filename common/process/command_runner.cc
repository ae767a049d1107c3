#include "common/process/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string_view>

#include "absl/status/status.h"
#include "common/fs/unique_fd.h"
#include "common/status/errno_status.h"
#include "common/strings/str_cat.h"

extern char** environ;

namespace medic::common {
namespace {

// Owns posix_spawn's file actions and attributes.
class SpawnSetup {
 public:
  SpawnSetup() {
    ::posix_spawn_file_actions_init(&actions_);
    ::posix_spawnattr_init(&attr_);
  }
  ~SpawnSetup() {
    ::posix_spawn_file_actions_destroy(&actions_);
    ::posix_spawnattr_destroy(&attr_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  posix_spawn_file_actions_t* actions() { return &actions_; }
  posix_spawnattr_t* attr() { return &attr_; }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

// The environment of this process with the locale forced to C.
std::vector<std::string> ChildEnvironment() {
  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view var = *entry;
    if (var.starts_with("LC_") || var.starts_with("LANG=") || var.starts_with("LANGUAGE=")) {
      continue;
    }
    env.emplace_back(var);
  }
  env.emplace_back("LC_ALL=C");
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// Appends what `fd` has to `out` up to `cap`, dropping the rest. False at end of file.
bool Drain(int fd, std::string& out, size_t cap, bool& truncated) {
  char buffer[8192];
  ssize_t n = ::read(fd, buffer, sizeof(buffer));
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n == 0) return false;
  const size_t room = cap > out.size() ? cap - out.size() : 0;
  const size_t keep = std::min(room, static_cast<size_t>(n));
  out.append(buffer, keep);
  if (keep < static_cast<size_t>(n)) truncated = true;
  return true;
}

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::string CommandText(const std::vector<std::string>& argv) {
  std::string text;
  for (const std::string& arg : argv) {
    if (!text.empty()) text += ' ';
    text += arg;
  }
  return text;
}

absl::StatusOr<CommandResult> RealCommandRunner::Run(const std::vector<std::string>& argv,
                                                     absl::Duration timeout,
                                                     size_t max_output) const {
  if (argv.empty()) return absl::InvalidArgumentError("no command to run");
  const std::string command = CommandText(argv);
  const absl::Time deadline = absl::Now() + timeout;

  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return ErrnoToStatus(errno, "pipe");
  UniqueFd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return ErrnoToStatus(errno, "pipe");
  UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);

  SpawnSetup setup;
  ::posix_spawn_file_actions_addopen(setup.actions(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(setup.actions(), out_write.get(), STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(setup.actions(), err_write.get(), STDERR_FILENO);
  // Descriptors this process opened without O_CLOEXEC must not leak into the program.
  ::posix_spawn_file_actions_addclosefrom_np(setup.actions(), STDERR_FILENO + 1);
  sigset_t no_signals;
  sigemptyset(&no_signals);
  sigset_t default_signals;
  sigfillset(&default_signals);
  ::posix_spawnattr_setsigmask(setup.attr(), &no_signals);
  ::posix_spawnattr_setsigdefault(setup.attr(), &default_signals);
  ::posix_spawnattr_setpgroup(setup.attr(), 0);
  ::posix_spawnattr_setflags(
      setup.attr(), POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

  std::vector<std::string> args = argv;
  std::vector<std::string> env = ChildEnvironment();
  std::vector<char*> c_args = CStrings(args);
  std::vector<char*> c_env = CStrings(env);
  pid_t pid = -1;
  if (int error = ::posix_spawnp(&pid, args[0].c_str(), setup.actions(), setup.attr(),
                                 c_args.data(), c_env.data());
      error != 0) {
    return ErrnoToStatus(error, argv[0]);
  }
  out_write.Reset();
  err_write.Reset();

  CommandResult result;
  bool out_open = true;
  bool err_open = true;
  bool timed_out = false;
  while (out_open || err_open) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      timed_out = true;
      break;
    }
    pollfd fds[2] = {{out_open ? out_read.get() : -1, POLLIN, 0},
                     {err_open ? err_read.get() : -1, POLLIN, 0}};
    const int wait_ms = static_cast<int>(
        std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, std::numeric_limits<int>::max()));
    const int ready = ::poll(fds, 2, wait_ms);
    if (ready < 0 && errno != EINTR) {
      const absl::Status status = ErrnoToStatus(errno, "poll");
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      return status;
    }
    if (ready <= 0) continue;
    if (out_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      out_open = Drain(out_read.get(), result.std_out, max_output, result.truncated);
    }
    if (err_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      err_open = Drain(err_read.get(), result.std_err, max_output, result.truncated);
    }
  }

  // The program may have closed its output and still be running: wait for it, to the deadline.
  int status = 0;
  while (!timed_out) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      result.exit_code = ExitCode(status);
      return result;
    }
    if (done < 0 && errno != EINTR) return ErrnoToStatus(errno, StrCat("waitpid ", argv[0]));
    if (absl::Now() >= deadline) {
      timed_out = true;
      break;
    }
    ::usleep(2000);
  }
  ::kill(-pid, SIGKILL);
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return absl::DeadlineExceededError(
      StrCat("`", command, "` did not finish within ", absl::FormatDuration(timeout)));
}

absl::StatusOr<CommandResult> NoCommandRunner::Run(const std::vector<std::string>& argv,
                                                   absl::Duration /*timeout*/,
                                                   size_t /*max_output*/) const {
  return absl::NotFoundError(
      StrCat(argv.empty() ? std::string("no command") : argv[0], ": no such program here"));
}

}  // namespace medic::common
