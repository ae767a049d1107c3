#include "common/fs/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <unordered_map>

#include "common/status/errno_status.h"

namespace medic::common {

// Open descriptors by real path. A reader borrows one (no other reader gets it meanwhile; a
// second reader of the same file opens its own) and gives it back, or reports it broken.
class OpenFileCache {
 public:
  explicit OpenFileCache(size_t capacity) : capacity_(capacity) {}

  // The kept descriptor of `path`, lent to the caller; -1 when none is free.
  int Borrow(const std::string& path) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(path);
    if (it == entries_.end() || it->second.lent) return -1;
    it->second.lent = true;
    it->second.last_use = ++uses_;
    return it->second.fd.get();
  }

  // Ends a loan: the descriptor stays when it read well, else it is closed.
  void GiveBack(const std::string& path, bool worked) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(path);
    if (it == entries_.end()) return;
    if (worked) {
      it->second.lent = false;
    } else {
      entries_.erase(it);
    }
  }

  // Keeps `fd` for `path` unless one is kept already; closes the least recently read free one
  // when full.
  void Keep(const std::string& path, UniqueFd fd) {
    std::lock_guard lock(mu_);
    if (entries_.contains(path)) return;
    if (entries_.size() >= capacity_) {
      auto oldest = entries_.end();
      for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (!it->second.lent &&
            (oldest == entries_.end() || it->second.last_use < oldest->second.last_use)) {
          oldest = it;
        }
      }
      if (oldest == entries_.end()) return;  // all lent out
      entries_.erase(oldest);
    }
    entries_.emplace(path, Entry{std::move(fd), ++uses_, false});
  }

 private:
  struct Entry {
    UniqueFd fd;
    uint64_t last_use = 0;
    bool lent = false;
  };
  const size_t capacity_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  uint64_t uses_ = 0;
};

namespace {

// Reads all of `fd` from offset 0, at most `max_bytes`, until read says the end: a procfs file
// hands out about a page per read however large the buffer, so a short read is not its end.
// On failure `*error_number` is the read's errno.
absl::StatusOr<std::string> ReadFromStart(int fd, const std::string& path, size_t max_bytes,
                                          int* error_number) {
  std::string contents;
  constexpr size_t kChunk = 8192;
  while (contents.size() < max_bytes) {
    const size_t have = contents.size();
    const size_t want = std::min(kChunk, max_bytes - have);
    contents.resize(have + want);
    const ssize_t n = ::pread(fd, contents.data() + have, want, static_cast<off_t>(have));
    if (n < 0) {
      contents.resize(have);
      if (errno == EINTR) continue;
      *error_number = errno;
      return ErrnoToStatus(*error_number, path);
    }
    contents.resize(have + static_cast<size_t>(n));
    if (n == 0) break;
  }
  return contents;
}

// Whether a read error of a kept descriptor means its object is gone (a process exited, a
// device removed), so the path should be looked up again; other errors are the file's answer
// (EINVAL from the carrier of a link that is down) and keep the descriptor.
bool ObjectGone(int error_number) {
  return error_number == ENODEV || error_number == ESRCH || error_number == ENOENT ||
         error_number == ENXIO || error_number == ESTALE;
}

// Whether the probe-visible `path` may name a file the kernel generates (checked for real,
// with fstatfs, before a descriptor is kept: a fixture tree's /proc is plain files).
bool MayBePseudo(std::string_view path) {
  return path.starts_with("/proc/") || path.starts_with("/sys/");
}

bool IsPseudo(int fd) {
  struct statfs st {};
  if (::fstatfs(fd, &st) != 0) return false;
  return st.f_type == PROC_SUPER_MAGIC || st.f_type == SYSFS_MAGIC;
}

}  // namespace

RootedFileSystem::RootedFileSystem(std::string root, size_t keep_open)
    : root_(std::move(root)),
      open_files_(keep_open > 0 ? std::make_unique<OpenFileCache>(keep_open) : nullptr) {
  while (!root_.empty() && root_.back() == '/') root_.pop_back();
}

RootedFileSystem::~RootedFileSystem() = default;
RootedFileSystem::RootedFileSystem(RootedFileSystem&&) noexcept = default;

std::string RootedFileSystem::Resolve(std::string_view path) const {
  std::string resolved = root_;
  if (path.empty() || path.front() != '/') resolved += '/';
  resolved += path;
  return resolved;
}

absl::StatusOr<std::string> RootedFileSystem::ReadFile(std::string_view path,
                                                       size_t max_bytes) const {
  const std::string real = Resolve(path);
  const bool may_keep = open_files_ != nullptr && MayBePseudo(path);
  if (may_keep) {
    if (const int kept = open_files_->Borrow(real); kept >= 0) {
      int error_number = 0;
      absl::StatusOr<std::string> contents = ReadFromStart(kept, real, max_bytes, &error_number);
      const bool gone = !contents.ok() && ObjectGone(error_number);
      open_files_->GiveBack(real, !gone);
      if (!gone) return contents;
      // The object behind it went away: look the path up afresh.
    }
  }
  UniqueFd fd(::open(real.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoToStatus(errno, real);
  const bool keep = may_keep && IsPseudo(fd.get());
  int error_number = 0;
  absl::StatusOr<std::string> contents = ReadFromStart(fd.get(), real, max_bytes, &error_number);
  if (keep && !ObjectGone(error_number)) open_files_->Keep(real, std::move(fd));
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
