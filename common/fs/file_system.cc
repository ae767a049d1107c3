#include "common/fs/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/status/errno_status.h"

namespace medic::common {

RootedFileSystem::RootedFileSystem(std::string root) : root_(std::move(root)) {
  while (!root_.empty() && root_.back() == '/') root_.pop_back();
}

std::string RootedFileSystem::Resolve(std::string_view path) const {
  std::string resolved = root_;
  if (path.empty() || path.front() != '/') resolved += '/';
  resolved += path;
  return resolved;
}

absl::StatusOr<std::string> RootedFileSystem::ReadFile(std::string_view path,
                                                       size_t max_bytes) const {
  const std::string real = Resolve(path);
  UniqueFd fd(::open(real.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoToStatus(errno, real);
  std::string contents;
  char buffer[8192];
  while (contents.size() < max_bytes) {
    ssize_t n = ::read(fd.get(), buffer, std::min(sizeof(buffer), max_bytes - contents.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, real);
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  return contents;
}

absl::StatusOr<std::vector<std::string>> RootedFileSystem::ListDir(std::string_view path) const {
  const std::string real = Resolve(path);
  DIR* dir = ::opendir(real.c_str());
  if (dir == nullptr) return ErrnoToStatus(errno, real);
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    names.emplace_back(name);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<FsStats> RootedFileSystem::StatFs(std::string_view path) const {
  const std::string real = Resolve(path);
  struct statvfs st {};
  if (::statvfs(real.c_str(), &st) != 0) return ErrnoToStatus(errno, real);
  FsStats stats;
  stats.total_bytes = static_cast<uint64_t>(st.f_blocks) * st.f_frsize;
  stats.free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  stats.total_inodes = st.f_files;
  stats.free_inodes = st.f_favail;
  stats.read_only = (st.f_flag & ST_RDONLY) != 0;
  return stats;
}

absl::StatusOr<std::string> RootedFileSystem::ReadLink(std::string_view path) const {
  const std::string real = Resolve(path);
  char buffer[4096];
  ssize_t n = ::readlink(real.c_str(), buffer, sizeof(buffer));
  if (n < 0) return ErrnoToStatus(errno, real);
  return std::string(buffer, static_cast<size_t>(n));
}

bool RootedFileSystem::Exists(std::string_view path) const {
  return ::access(Resolve(path).c_str(), F_OK) == 0;
}

absl::StatusOr<FileInfo> RootedFileSystem::Stat(std::string_view path) const {
  const std::string real = Resolve(path);
  struct stat st {};
  if (::stat(real.c_str(), &st) != 0) return ErrnoToStatus(errno, real);
  FileInfo info;
  info.size = static_cast<uint64_t>(st.st_size);
  info.mtime = absl::TimeFromTimespec(st.st_mtim);
  info.is_dir = S_ISDIR(st.st_mode);
  return info;
}

absl::StatusOr<UniqueFd> RootedFileSystem::OpenStream(std::string_view path) const {
  const std::string real = Resolve(path);
  UniqueFd fd(::open(real.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return ErrnoToStatus(errno, real);
  return fd;
}

}  // namespace medic::common
