#pragma once

// A file system over a fixture tree whose statvfs answers and modification times come from the
// tree itself (git does not keep mtimes).

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/probes/hardware/filesystem_parse.h"
#include "agent/probes/text.h"
#include "common/fs/file_system.h"

namespace medic::testing {

// RootedFileSystem(case_dir) whose StatFs(mount_point) reads `<case_dir>/statfs.txt`: one line
// per mount point,
//   <mount_point> <total_bytes> <free_bytes> <total_inodes> <free_inodes> [ro]
// with the mount point escaped as in /proc/self/mounts ("\040" for a space); "#" starts a
// comment line. A mount point not listed gives NotFound, a malformed line InvalidArgument.
// Stat(path) is the real stat of the file in the tree, with the modification time from
// `<case_dir>/mtimes.txt` when it lists the path: one line per file,
//   <path> <RFC 3339 time>
// ("/var/crash/_usr_bin_evince.1000.crash 2023-11-14T08:41:07Z"); "#" starts a comment line.
class FixtureFileSystem : public common::RootedFileSystem {
 public:
  explicit FixtureFileSystem(std::string case_dir) : RootedFileSystem(std::move(case_dir)) {}

  absl::StatusOr<common::FsStats> StatFs(std::string_view path) const override {
    absl::StatusOr<std::string> table = RootedFileSystem::ReadFile("/statfs.txt");
    if (!table.ok()) return table.status();
    for (std::string_view line : agent::SplitLines(*table)) {
      std::vector<std::string_view> fields = agent::SplitFields(line);
      if (fields.empty() || fields[0].front() == '#') continue;
      if (agent::DecodeMountField(fields[0]) != path) continue;
      common::FsStats stats;
      if (fields.size() < 5 || !agent::ParseInt(fields[1], &stats.total_bytes) ||
          !agent::ParseInt(fields[2], &stats.free_bytes) ||
          !agent::ParseInt(fields[3], &stats.total_inodes) ||
          !agent::ParseInt(fields[4], &stats.free_inodes)) {
        return absl::InvalidArgumentError(
            ::medic::common::StrCat("statfs.txt: malformed line \"", line, "\""));
      }
      stats.read_only = fields.size() > 5 && fields[5] == "ro";
      return stats;
    }
    return absl::NotFoundError(::medic::common::StrCat("statfs.txt has no line for ", path));
  }

  absl::StatusOr<common::FileInfo> Stat(std::string_view path) const override {
    absl::StatusOr<common::FileInfo> info = RootedFileSystem::Stat(path);
    if (!info.ok()) return info;
    absl::StatusOr<std::string> table = RootedFileSystem::ReadFile("/mtimes.txt");
    if (!table.ok()) return info;
    for (std::string_view line : agent::SplitLines(*table)) {
      std::vector<std::string_view> fields = agent::SplitFields(line);
      if (fields.size() < 2 || fields[0].front() == '#' || fields[0] != path) continue;
      std::string error;
      if (!absl::ParseTime(absl::RFC3339_full, std::string(fields[1]), &info->mtime, &error)) {
        return absl::InvalidArgumentError(
            ::medic::common::StrCat("mtimes.txt: bad time for ", path, ": ", error));
      }
    }
    return info;
  }
};

}  // namespace medic::testing
