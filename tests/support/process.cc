#include "tests/support/process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "common/strings/str_cat.h"

namespace medic::test {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

pid_t Spawn(const std::vector<std::string>& argv, const std::string& out, const std::string& err) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int null_fd = open("/dev/null", O_RDONLY);
  dup2(null_fd, 0);
  dup2(out_fd, 1);
  dup2(err_fd, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

}  // namespace

Process::Process(std::vector<std::string> argv, std::string log_dir, std::string name)
    : name_(std::move(name)),
      stdout_path_(medic::common::StrCat(log_dir, "/", name_, ".out")),
      stderr_path_(medic::common::StrCat(log_dir, "/", name_, ".err")) {
  pid_ = Spawn(argv, stdout_path_, stderr_path_);
}

Process::~Process() {
  if (Running()) Stop(SIGKILL);
}

bool Process::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = DecodeStatus(status);
    pid_ = -1;
    return false;
  }
  return true;
}

int Process::Wait(absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (Running()) {
    if (absl::Now() > end) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return exit_code_;
}

int Process::Stop(int signal, absl::Duration timeout) {
  if (!Running()) return exit_code_;
  kill(pid_, signal);
  int code = Wait(timeout);
  if (code == -1 && pid_ > 0) {
    kill(pid_, SIGKILL);
    Wait(absl::Seconds(5));
    return -1;
  }
  return code;
}

bool Process::WaitFor(const std::string& file, std::string_view needle, absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (ReadAll(file).find(needle) != std::string::npos) return true;
    if (!Running()) return ReadAll(file).find(needle) != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool Process::WaitForStdout(std::string_view needle, absl::Duration timeout) {
  return WaitFor(stdout_path_, needle, timeout);
}

bool Process::WaitForStderr(std::string_view needle, absl::Duration timeout) {
  return WaitFor(stderr_path_, needle, timeout);
}

std::string Process::Stdout() const { return ReadAll(stdout_path_); }
std::string Process::Stderr() const { return ReadAll(stderr_path_); }

std::string Process::Describe() const {
  return medic::common::StrCat("--- ", name_, " stdout ---\n", Stdout(), "--- ", name_,
                               " stderr ---\n", Stderr());
}

RunResult RunCommand(std::vector<std::string> argv, absl::Duration timeout) {
  TempDir dir;
  Process process(std::move(argv), dir.path(), "run");
  RunResult result;
  result.exit_code = process.Wait(timeout);
  if (result.exit_code == -1) process.Stop(SIGKILL);
  result.out = process.Stdout();
  result.err = process.Stderr();
  return result;
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      medic::common::StrCat(base != nullptr ? base : "/tmp", "/medic-test-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) std::abort();
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

int FreePort() {
  // Below the kernel's ephemeral range (ip_local_port_range, 32768-60999 by default): a port
  // the kernel hands out for bind(0) is also what it hands out as the source port of the many
  // loopback connections the tests open, so between this check and the server's own bind
  // another test's client could take it. Random within the range, so parallel tests rarely
  // pick the same one; checked free by binding it.
  thread_local std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> pick(20000, 32767);
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int port = pick(random);
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    const bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (free) return port;
  }
  std::fprintf(stderr, "FreePort: no free port in 20000-32767 after 100 tries\n");
  std::abort();
}

void WriteFile(const std::string& path, std::string_view contents) {
  std::ofstream out(path, std::ios::trunc);
  out << contents;
}

}  // namespace medic::test
