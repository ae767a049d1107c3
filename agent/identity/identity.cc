#include "agent/identity/identity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include "absl/strings/ascii.h"
#include "common/fs/file_system.h"
#include "common/status/errno_status.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"

namespace medic::agent {
namespace {

constexpr size_t kIdLength = 32;

bool IsMachineId(std::string_view text) {
  if (text.size() != kIdLength) return false;
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) || absl::ascii_isupper(c)) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::string> RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  common::RootedFileSystem fs("/");
  ASSIGN_OR_RETURN(std::string random, fs.ReadFile("/dev/urandom", bytes));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : random) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

absl::Status MakeDirs(const std::string& dir) {
  for (size_t pos = 0; pos != std::string::npos;) {
    pos = dir.find('/', pos + 1);
    const std::string prefix = dir.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0750) != 0 && errno != EEXIST) {
      return common::ErrnoToStatus(errno, common::StrCat("cannot create state directory ", prefix));
    }
  }
  return absl::OkStatus();
}

absl::Status WriteAtomically(const std::string& path, std::string_view contents) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return common::ErrnoToStatus(errno, common::StrCat("cannot write ", tmp));
  const bool written =
      ::write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size()) &&
      ::fsync(fd) == 0;
  const int write_errno = errno;
  ::close(fd);
  if (!written) return common::ErrnoToStatus(write_errno, common::StrCat("cannot write ", tmp));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return common::ErrnoToStatus(errno, common::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> LoadOrCreateMachineId(const std::string& state_dir) {
  const std::string path = common::StrCat(state_dir, "/machine-id");
  common::RootedFileSystem fs("/");
  absl::StatusOr<std::string> existing = fs.ReadFile(path, 1024);
  if (existing.ok()) {
    std::string id(absl::StripAsciiWhitespace(*existing));
    if (!IsMachineId(id)) {
      return absl::DataLossError(common::StrCat(
          path,
          " does not hold a machine id (32 lowercase hex digits); delete it to generate a "
          "new one — the collector will then see this machine as a new one"));
    }
    return id;
  }
  if (!absl::IsNotFound(existing.status())) return existing.status();

  absl::Status made = MakeDirs(state_dir);
  if (made.ok()) {
    ASSIGN_OR_RETURN(std::string id, RandomHex(kIdLength / 2));
    made = WriteAtomically(path, id + "\n");
    if (made.ok()) return id;
  }
  return absl::Status(
      made.code(), common::StrCat(made.message(),
                                  " — the agent keeps its identity there; run it as a user that "
                                  "can write the directory, or choose another with --state-dir"));
}

uint64_t NewEpoch() {
  std::random_device device;
  std::uniform_int_distribution<uint64_t> pick(1, (uint64_t{1} << 62));
  return pick(device);
}

}  // namespace medic::agent
