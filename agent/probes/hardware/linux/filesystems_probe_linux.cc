// The filesystems probe on Linux: the mount table and statvfs(3) of every mount worth reporting.

#include "agent/probes/hardware/filesystem_parse.h"
#include "agent/probes/hardware/hardware_probes.h"
#include "agent/probes/probe_util.h"
#include "agent/probes/text.h"

namespace medic::agent {
namespace {

constexpr std::string_view kSelfMounts = "/proc/self/mounts";
constexpr std::string_view kMounts = "/proc/mounts";
constexpr std::string_view kFstab = "/etc/fstab";

// The mount table: /proc/self/mounts, or /proc/mounts on systems where the former cannot be read.
absl::StatusOr<std::vector<MountEntry>> ReadMounts(const common::FileSystem& fs) {
  std::string_view path = kSelfMounts;
  absl::StatusOr<std::string> text = ReadRequired(fs, kSelfMounts);
  if (!text.ok()) {
    absl::StatusOr<std::string> fallback = ReadRequired(fs, kMounts);
    if (!fallback.ok()) {
      // The first failure says why the preferred source is missing; the second is named too.
      return absl::Status(text.status().code(), common::StrCat(text.status().message(), "; ",
                                                               fallback.status().message()));
    }
    text = std::move(fallback);
    path = kMounts;
  }
  absl::StatusOr<std::vector<MountEntry>> mounts = ParseMounts(*text);
  if (!mounts.ok()) return WithPath(mounts.status(), path);
  return mounts;
}

class FilesystemsProbe : public Probe {
 public:
  std::string_view name() const override { return "filesystems"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    absl::StatusOr<std::vector<MountEntry>> mounts = ReadMounts(ctx.fs);
    if (!mounts.ok()) return mounts.status();

    ProbeOutput output;
    output.report.set_probe(std::string(name()));
    medic::v1::FilesystemsStatus& body = *output.report.mutable_filesystems();
    const std::vector<MountEntry> selected = SelectMounts(*mounts, ctx.config.filesystems());
    for (const MountEntry& mount : selected) {
      // statvfs blocks while a network filesystem's server is away: stop at the deadline.
      if (absl::Status status = CheckDeadline(ctx, common::StrCat("statvfs ", mount.mount_point));
          !status.ok()) {
        return status;
      }
      absl::StatusOr<common::FsStats> stats = ctx.fs.StatFs(mount.mount_point);
      medic::v1::Filesystem& fs = *body.add_filesystems();
      if (!stats.ok()) {
        fs = ToFilesystem(mount, common::FsStats{});
        fs.set_error(std::string(stats.status().message()));
        continue;
      }
      fs = ToFilesystem(mount, *stats);
      if (fs.total_bytes() > 0) {
        AddObservation(output.report, "fs.free_bytes", fs.mount_point(),
                       static_cast<double>(fs.free_bytes()), "bytes");
        AddObservation(output.report, "fs.free_pct", fs.mount_point(), fs.free_pct(), "pct");
      }
    }
    output.findings =
        JudgeFilesystems(body, FsThresholds::FromConfig(ctx.config.filesystems()), ctx.standing);
    std::optional<std::vector<FstabEntry>> fstab;
    if (std::optional<std::string> text = ReadOptional(ctx.fs, kFstab)) fstab = ParseFstab(*text);
    for (medic::v1::Finding& finding : JudgeReadOnly(selected, fstab)) {
      output.findings.push_back(std::move(finding));
    }
    return output;
  }
};

}  // namespace

std::unique_ptr<Probe> NewFilesystemsProbe() { return std::make_unique<FilesystemsProbe>(); }

}  // namespace medic::agent
