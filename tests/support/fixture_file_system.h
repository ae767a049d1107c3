#pragma once

// A file system over a fixture tree whose statvfs answers come from the tree itself.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/probes/hardware/filesystem_parse.h"
#include "agent/probes/text.h"
#include "common/fs/file_system.h"

namespace medic::testing {

// RootedFileSystem(case_dir) whose StatFs(mount_point) reads `<case_dir>/statfs.txt`: one line
// per mount point,
//   <mount_point> <total_bytes> <free_bytes> <total_inodes> <free_inodes> [ro]
// with the mount point escaped as in /proc/self/mounts ("\040" for a space); "#" starts a
// comment line. A mount point not listed gives NotFound, a malformed line InvalidArgument.
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
};

}  // namespace medic::testing
