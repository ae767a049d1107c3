#pragma once

// Pure logic of the filesystems probe: the mount table, which mounts to report, and the
// disk.space_low / disk.inodes_low judgement. No I/O; builds on every platform.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/fs/file_system.h"
#include "medic/v1/config.pb.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

// One line of /proc/self/mounts (fstab(5) format), with octal escapes decoded.
struct MountEntry {
  std::string device;       // "/dev/nvme0n1p2", "tmpfs", "server:/export"
  std::string mount_point;  // "/media/user/My Passport"
  std::string type;         // "ext4"
  std::string options;      // "rw,relatime"
  bool read_only = false;   // "ro" among the options
};

// Whether a filesystem type is served over the network (nfs, nfs4, cifs, smb3, sshfs, ceph,
// glusterfs, 9p, davfs, afs, ...): its statvfs(3) waits for the server, possibly for good.
bool IsNetworkFilesystem(std::string_view type);

// Decodes the octal escapes the kernel writes for space, tab, newline and backslash in mount
// fields ("\040" → " "). A backslash not followed by three octal digits is kept as it is.
std::string DecodeMountField(std::string_view field);

// Parses /proc/self/mounts (or /proc/mounts). InvalidArgument naming the line when one has fewer
// than 4 fields, or when the text holds no mount at all (a live kernel always has "/").
absl::StatusOr<std::vector<MountEntry>> ParseMounts(std::string_view text);

// The filesystem types not reported unless the config names its own list: kernel pseudo
// filesystems, container overlays and read-only images (snaps, ISOs), which are full by design.
// tmpfs is reported: users fill /tmp and /dev/shm.
const std::vector<std::string>& DefaultIgnoredFsTypes();

// The mounts worth reporting, in mount-table order:
//  - a later mount on the same mount point hides the earlier one (rootfs under "/");
//  - mount points under /proc/ and /sys/ are kernel interfaces, never storage (a container masks
//    some of them with tmpfs), and are dropped;
//  - types in config.ignore_types (DefaultIgnoredFsTypes() when that is empty) are dropped,
//    except the mount on "/", which is the machine's own root whatever its type (a container's
//    overlay);
//  - mount points in config.ignore_mounts are dropped: an entry ending in "/" drops every mount
//    point below it, any other entry that exact mount point;
//  - mounts of the same device (a path such as "/dev/sda1", or "host:/export") are one
//    filesystem: bind mounts and btrfs subvolumes are reported once, under the shortest mount
//    point.
std::vector<MountEntry> SelectMounts(const std::vector<MountEntry>& mounts,
                                     const medic::v1::FilesystemsConfig& config);

// The report entry for a mount and what statvfs said of it: percentages are of the total
// (0 when the total is 0), read_only is the mount option or the statvfs flag.
medic::v1::Filesystem ToFilesystem(const MountEntry& mount, const common::FsStats& stats);

// Marks in percent free. Config values of 0 or below mean "the default".
struct FsThresholds {
  double space_low_pct = 10;      // disk.space_low warning below this
  double space_critical_pct = 5;  // disk.space_low critical below this
  double inodes_low_pct = 10;     // disk.inodes_low warning below this

  static FsThresholds FromConfig(const medic::v1::FilesystemsConfig& config);
};

// A standing finding clears only once the free share is this many points above the mark that
// raised it, so a disk hovering at the mark does not raise and clear on every collection.
inline constexpr double kClearMarginPct = 2;

inline constexpr std::string_view kDiskSpaceLow = "disk.space_low";
inline constexpr std::string_view kDiskInodesLow = "disk.inodes_low";

// The disk.space_low and disk.inodes_low findings standing after this collection, given those
// standing before it (`standing`; other codes are ignored):
//  - disk.space_low is raised below space_low_pct free (warning) and space_critical_pct
//    (critical); a standing one holds, with its severity, until free rises kClearMarginPct above
//    the mark that raised it (a critical one drops to warning above critical + margin);
//  - disk.inodes_low likewise at inodes_low_pct (warning only);
//  - filesystems that failed statvfs, have no size or no inodes (btrfs), or are mounted read-only
//    are not judged: they cannot fill up, and disk.readonly is a finding of its own.
// resource is the mount point; the summary reads "/home has 3.1% free (1.2 GiB of 40 GiB)";
// evidence holds free_pct, free_bytes, total_bytes (free_inodes, total_inodes) and threshold_pct.
std::vector<medic::v1::Finding> JudgeFilesystems(const medic::v1::FilesystemsStatus& status,
                                                 const FsThresholds& thresholds,
                                                 const std::vector<medic::v1::Finding>& standing);

// One line of /etc/fstab.
struct FstabEntry {
  std::string device;       // "UUID=…", "/dev/sda2"
  std::string mount_point;  // "/"
  std::string type;         // "ext4"
  std::string options;      // "defaults,noatime"
};

// Parses /etc/fstab: blank and "#" lines skipped, octal escapes decoded, lines with fewer than
// four fields (a mount point without options) skipped. Never fails: fstab is advisory here.
std::vector<FstabEntry> ParseFstab(std::string_view text);

// Filesystem types that live on a disk and are only read-only on purpose or after errors:
// ext2/3/4, xfs, btrfs, f2fs, jfs, reiserfs, vfat, exfat, ntfs3.
bool IsDiskFsType(std::string_view type);

inline constexpr std::string_view kDiskReadonly = "disk.readonly";

// disk.readonly (critical, resource = mount point) for every mount in `mounts` of a disk
// filesystem type that is mounted "ro" while /etc/fstab (`fstab`) lists that mount point without
// "ro": the kernel remounted it read-only after errors. Without an fstab (nullopt) only a
// read-only "/" is flagged. Evidence: device, type, options, and fstab_options when listed.
std::vector<medic::v1::Finding> JudgeReadOnly(const std::vector<MountEntry>& mounts,
                                              const std::optional<std::vector<FstabEntry>>& fstab);

// Bytes as people read them, in binary units with at most one decimal: "512 B", "1.2 GiB",
// "40 GiB".
std::string HumanBytes(uint64_t bytes);

}  // namespace medic::agent
