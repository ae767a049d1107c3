#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/fs/unique_fd.h"

namespace medic::common {

// What statvfs(3) says of a mounted filesystem, in bytes and inodes.
struct FsStats {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;  // available to unprivileged users (f_bavail)
  uint64_t total_inodes = 0;
  uint64_t free_inodes = 0;
  bool read_only = false;
};

// What stat(2) says of a file (following symbolic links).
struct FileInfo {
  uint64_t size = 0;
  absl::Time mtime;  // last modification
  bool is_dir = false;
};

// Read-only access to the files the probes look at. Every path is absolute as the probe
// would see it on a live machine ("/proc/meminfo"); an implementation may map it elsewhere
// (a fixture tree, a container's root). Safe to call from several threads.
class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // The whole file. NotFound when it does not exist, PermissionDenied when unreadable.
  // Files larger than `max_bytes` are cut there (proc files have no size to ask for).
  virtual absl::StatusOr<std::string> ReadFile(std::string_view path,
                                               size_t max_bytes = 4 << 20) const = 0;

  // Names in a directory, without "." and "..", sorted.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(std::string_view path) const = 0;

  // statvfs of a mount point.
  virtual absl::StatusOr<FsStats> StatFs(std::string_view path) const = 0;

  // The target of a symbolic link.
  virtual absl::StatusOr<std::string> ReadLink(std::string_view path) const = 0;

  virtual bool Exists(std::string_view path) const = 0;

  // Size, modification time and kind of a file. NotFound when it does not exist.
  virtual absl::StatusOr<FileInfo> Stat(std::string_view path) const = 0;

  // Opens a file to read as a stream, in non-blocking mode: a character device such as
  // /dev/kmsg answers EAGAIN when it has nothing new instead of waiting. For a reader that
  // keeps its place between collections; the caller owns the descriptor.
  virtual absl::StatusOr<UniqueFd> OpenStream(std::string_view path) const = 0;
};

// Descriptors of /proc and /sys files kept open between reads; see RootedFileSystem.
class OpenFileCache;

// The real file system, seen through a root prefix: with root "/srv/fixture", ReadFile
// ("/proc/meminfo") reads "/srv/fixture/proc/meminfo". Root "/" is the live machine.
// Files of procfs and sysfs are kept open (up to `keep_open` of them, least recently read
// closed first) and read again from offset 0, which makes the kernel generate their text
// anew: most of a fast collection's cost was opening and closing them. A kept file whose
// object went away (a network interface removed: ENODEV) is opened again by path.
class RootedFileSystem : public FileSystem {
 public:
  static constexpr size_t kDefaultKeepOpen = 128;
  explicit RootedFileSystem(std::string root, size_t keep_open = kDefaultKeepOpen);
  ~RootedFileSystem() override;
  RootedFileSystem(RootedFileSystem&&) noexcept;

  absl::StatusOr<std::string> ReadFile(std::string_view path,
                                       size_t max_bytes = 4 << 20) const override;
  absl::StatusOr<std::vector<std::string>> ListDir(std::string_view path) const override;
  absl::StatusOr<FsStats> StatFs(std::string_view path) const override;
  absl::StatusOr<std::string> ReadLink(std::string_view path) const override;
  bool Exists(std::string_view path) const override;
  absl::StatusOr<FileInfo> Stat(std::string_view path) const override;
  absl::StatusOr<UniqueFd> OpenStream(std::string_view path) const override;

  const std::string& root() const { return root_; }

  // The real path behind `path`.
  std::string Resolve(std::string_view path) const;

 private:
  std::string root_;                           // without a trailing slash; empty for "/"
  std::unique_ptr<OpenFileCache> open_files_;  // null when nothing is kept open
};

}  // namespace medic::common
