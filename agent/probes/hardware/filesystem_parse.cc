#include "agent/probes/hardware/filesystem_parse.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "agent/probes/text.h"

namespace medic::agent {
namespace {

bool IsOctal(char c) { return c >= '0' && c <= '7'; }

double Pct(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

// A device that names one filesystem wherever it is mounted: a path or an "host:/export".
// Sources like "tmpfs" or "none" name a new filesystem at every mount.
bool NamesOneFilesystem(std::string_view device) {
  return StartsWith(device, "/") || Contains(device, ":/");
}

bool MountIgnored(std::string_view mount_point,
                  const google::protobuf::RepeatedPtrField<std::string>& ignore_mounts) {
  for (const std::string& entry : ignore_mounts) {
    if (entry.size() > 1 && entry.back() == '/') {
      if (StartsWith(mount_point, entry)) return true;
    } else if (mount_point == entry) {
      return true;
    }
  }
  return false;
}

const medic::v1::Finding* FindStanding(const std::vector<medic::v1::Finding>& standing,
                                       std::string_view code, std::string_view resource) {
  for (const medic::v1::Finding& finding : standing) {
    if (finding.code() == code && finding.resource() == resource) return &finding;
  }
  return nullptr;
}

// The severity a finding has after this collection, or nullopt when it does not stand.
// `critical_pct` <= 0 means the finding has no critical level.
std::optional<medic::v1::Severity> Judge(double free_pct, double low_pct, double critical_pct,
                                         const medic::v1::Finding* previous) {
  const bool was_critical =
      previous != nullptr && previous->severity() == medic::v1::SEVERITY_CRITICAL;
  if (critical_pct > 0 &&
      (free_pct < critical_pct || (was_critical && free_pct < critical_pct + kClearMarginPct))) {
    return medic::v1::SEVERITY_CRITICAL;
  }
  if (free_pct < low_pct || (previous != nullptr && free_pct < low_pct + kClearMarginPct)) {
    return medic::v1::SEVERITY_WARNING;
  }
  return std::nullopt;
}

// "3.1": percentages as evidence and summaries show them.
std::string PctText(double pct) { return absl::StrFormat("%.1f", pct); }

}  // namespace

bool IsNetworkFilesystem(std::string_view type) {
  for (std::string_view network :
       {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "ceph", "glusterfs", "9p", "afs", "davfs",
        "fuse.sshfs", "fuse.glusterfs", "fuse.s3fs", "fuse.rclone", "fuse.davfs2"}) {
    if (type == network) return true;
  }
  return false;
}

std::string DecodeMountField(std::string_view field) {
  std::string decoded;
  decoded.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && IsOctal(field[i + 1]) &&
        IsOctal(field[i + 2]) && IsOctal(field[i + 3])) {
      decoded.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                          (field[i + 3] - '0')));
      i += 3;
    } else {
      decoded.push_back(field[i]);
    }
  }
  return decoded;
}

absl::StatusOr<std::vector<MountEntry>> ParseMounts(std::string_view text) {
  std::vector<MountEntry> mounts;
  int line_number = 0;
  for (std::string_view line : SplitLines(text)) {
    ++line_number;
    if (line.empty()) continue;
    std::vector<std::string_view> fields = SplitFields(line);
    if (fields.empty()) continue;
    if (fields.size() < 4) {
      return absl::InvalidArgumentError(
          common::StrCat("mount table line ", line_number, " has ", fields.size(),
                         " fields, at least 4 expected: \"", line, "\""));
    }
    MountEntry mount;
    mount.device = DecodeMountField(fields[0]);
    mount.mount_point = DecodeMountField(fields[1]);
    mount.type = DecodeMountField(fields[2]);
    mount.options = DecodeMountField(fields[3]);
    for (std::string_view option : Split(mount.options, ',')) {
      if (option == "ro") mount.read_only = true;
    }
    mounts.push_back(std::move(mount));
  }
  if (mounts.empty()) return absl::InvalidArgumentError("mount table is empty");
  return mounts;
}

const std::vector<std::string>& DefaultIgnoredFsTypes() {
  // clang-format off
  static const auto* const kTypes = new std::vector<std::string>{
      // Kernel interfaces.
      "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts",
      "devtmpfs", "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nfsd", "nsfs", "proc", "pstore",
      "ramfs", "rpc_pipefs", "securityfs", "selinuxfs", "sysfs", "tracefs", "usbfs",
      // Container layers: the host's disk is reported where it is mounted.
      "aufs", "overlay",
      // Read-only images (snaps, ISOs), full by design.
      "erofs", "iso9660", "squashfs", "udf",
      // Desktop FUSE helpers without space of their own.
      "fuse.gvfsd-fuse", "fuse.portal", "fuse.snapfuse"};
  // clang-format on
  return *kTypes;
}

std::vector<MountEntry> SelectMounts(const std::vector<MountEntry>& mounts,
                                     const medic::v1::FilesystemsConfig& config) {
  const std::vector<std::string> configured(config.ignore_types().begin(),
                                            config.ignore_types().end());
  const std::vector<std::string>& ignore_types =
      configured.empty() ? DefaultIgnoredFsTypes() : configured;

  // The last mount on a mount point is the one visible there.
  std::map<std::string_view, size_t> last_on_point;
  for (size_t i = 0; i < mounts.size(); ++i) last_on_point[mounts[i].mount_point] = i;

  std::vector<MountEntry> selected;
  std::map<std::string, size_t> by_device;  // device → index in `selected`
  for (size_t i = 0; i < mounts.size(); ++i) {
    const MountEntry& mount = mounts[i];
    if (last_on_point[mount.mount_point] != i) continue;
    const bool type_ignored =
        std::find(ignore_types.begin(), ignore_types.end(), mount.type) != ignore_types.end();
    if (type_ignored && mount.mount_point != "/") continue;
    if (StartsWith(mount.mount_point, "/proc/") || StartsWith(mount.mount_point, "/sys/")) continue;
    if (MountIgnored(mount.mount_point, config.ignore_mounts())) continue;
    if (NamesOneFilesystem(mount.device)) {
      auto [it, inserted] = by_device.try_emplace(mount.device, selected.size());
      if (!inserted) {
        MountEntry& kept = selected[it->second];
        if (mount.mount_point.size() < kept.mount_point.size()) kept = mount;
        continue;
      }
    }
    selected.push_back(mount);
  }
  return selected;
}

medic::v1::Filesystem ToFilesystem(const MountEntry& mount, const common::FsStats& stats) {
  medic::v1::Filesystem fs;
  fs.set_mount_point(mount.mount_point);
  fs.set_device(mount.device);
  fs.set_type(mount.type);
  fs.set_read_only(mount.read_only || stats.read_only);
  fs.set_total_bytes(stats.total_bytes);
  fs.set_free_bytes(std::min(stats.free_bytes, stats.total_bytes));
  fs.set_used_bytes(stats.total_bytes - fs.free_bytes());
  fs.set_total_inodes(stats.total_inodes);
  fs.set_free_inodes(std::min(stats.free_inodes, stats.total_inodes));
  fs.set_free_pct(Pct(fs.free_bytes(), fs.total_bytes()));
  fs.set_inodes_free_pct(Pct(fs.free_inodes(), fs.total_inodes()));
  return fs;
}

FsThresholds FsThresholds::FromConfig(const medic::v1::FilesystemsConfig& config) {
  FsThresholds thresholds;
  if (config.space_low_pct() > 0) thresholds.space_low_pct = config.space_low_pct();
  if (config.space_critical_pct() > 0) thresholds.space_critical_pct = config.space_critical_pct();
  if (config.inodes_low_pct() > 0) thresholds.inodes_low_pct = config.inodes_low_pct();
  return thresholds;
}

std::vector<medic::v1::Finding> JudgeFilesystems(const medic::v1::FilesystemsStatus& status,
                                                 const FsThresholds& thresholds,
                                                 const std::vector<medic::v1::Finding>& standing) {
  std::vector<medic::v1::Finding> findings;
  for (const medic::v1::Filesystem& fs : status.filesystems()) {
    if (!fs.error().empty() || fs.read_only()) continue;
    const std::string& mount_point = fs.mount_point();
    if (fs.total_bytes() > 0) {
      std::optional<medic::v1::Severity> severity =
          Judge(fs.free_pct(), thresholds.space_low_pct, thresholds.space_critical_pct,
                FindStanding(standing, kDiskSpaceLow, mount_point));
      if (severity) {
        const double mark = *severity == medic::v1::SEVERITY_CRITICAL
                                ? thresholds.space_critical_pct
                                : thresholds.space_low_pct;
        medic::v1::Finding& finding = findings.emplace_back();
        finding.set_code(std::string(kDiskSpaceLow));
        finding.set_severity(*severity);
        finding.set_resource(mount_point);
        finding.set_summary(common::StrCat(mount_point, " has ", PctText(fs.free_pct()), "% free (",
                                           HumanBytes(fs.free_bytes()), " of ",
                                           HumanBytes(fs.total_bytes()), ")"));
        auto& evidence = *finding.mutable_evidence();
        evidence["free_pct"] = PctText(fs.free_pct());
        evidence["free_bytes"] = common::StrCat(fs.free_bytes());
        evidence["total_bytes"] = common::StrCat(fs.total_bytes());
        evidence["threshold_pct"] = absl::StrFormat("%g", mark);
      }
    }
    if (fs.total_inodes() > 0) {
      std::optional<medic::v1::Severity> severity =
          Judge(fs.inodes_free_pct(), thresholds.inodes_low_pct, /*critical_pct=*/0,
                FindStanding(standing, kDiskInodesLow, mount_point));
      if (severity) {
        medic::v1::Finding& finding = findings.emplace_back();
        finding.set_code(std::string(kDiskInodesLow));
        finding.set_severity(*severity);
        finding.set_resource(mount_point);
        finding.set_summary(common::StrCat(mount_point, " has ", PctText(fs.inodes_free_pct()),
                                           "% of its inodes free (", fs.free_inodes(), " of ",
                                           fs.total_inodes(), ")"));
        auto& evidence = *finding.mutable_evidence();
        evidence["free_pct"] = PctText(fs.inodes_free_pct());
        evidence["free_inodes"] = common::StrCat(fs.free_inodes());
        evidence["total_inodes"] = common::StrCat(fs.total_inodes());
        evidence["threshold_pct"] = absl::StrFormat("%g", thresholds.inodes_low_pct);
      }
    }
  }
  return findings;
}

std::vector<FstabEntry> ParseFstab(std::string_view text) {
  std::vector<FstabEntry> entries;
  for (std::string_view line : SplitLines(text)) {
    line = Trim(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<std::string_view> fields = SplitFields(line);
    if (fields.size() < 4) continue;
    entries.push_back(FstabEntry{DecodeMountField(fields[0]), DecodeMountField(fields[1]),
                                 DecodeMountField(fields[2]), DecodeMountField(fields[3])});
  }
  return entries;
}

bool IsDiskFsType(std::string_view type) {
  constexpr std::string_view kTypes[] = {"ext2", "ext3",     "ext4", "xfs",   "btrfs", "f2fs",
                                         "jfs",  "reiserfs", "vfat", "exfat", "ntfs3"};
  return std::find(std::begin(kTypes), std::end(kTypes), type) != std::end(kTypes);
}

std::vector<medic::v1::Finding> JudgeReadOnly(const std::vector<MountEntry>& mounts,
                                              const std::optional<std::vector<FstabEntry>>& fstab) {
  std::vector<medic::v1::Finding> findings;
  for (const MountEntry& mount : mounts) {
    if (!mount.read_only || !IsDiskFsType(mount.type)) continue;
    const FstabEntry* listed = nullptr;
    if (fstab) {
      for (const FstabEntry& entry : *fstab) {
        if (entry.mount_point == mount.mount_point) listed = &entry;
      }
      if (listed == nullptr) continue;
      bool wants_ro = false;
      for (std::string_view option : Split(listed->options, ',')) wants_ro |= option == "ro";
      if (wants_ro) continue;
    } else if (mount.mount_point != "/") {
      continue;
    }
    medic::v1::Finding& finding = findings.emplace_back();
    finding.set_code(std::string(kDiskReadonly));
    finding.set_severity(medic::v1::SEVERITY_CRITICAL);
    finding.set_resource(mount.mount_point);
    finding.set_summary(common::StrCat(
        mount.mount_point, " (", mount.type, " on ", mount.device, ") is mounted read-only",
        listed != nullptr ? " but /etc/fstab mounts it read-write" : "",
        ": the kernel likely remounted it after disk errors"));
    auto& evidence = *finding.mutable_evidence();
    evidence["device"] = mount.device;
    evidence["type"] = mount.type;
    evidence["options"] = mount.options;
    if (listed != nullptr) evidence["fstab_options"] = listed->options;
  }
  return findings;
}

std::string HumanBytes(uint64_t bytes) {
  constexpr std::string_view kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return common::StrCat(bytes, " B");
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  // Divide while the value would still print as 1024 or more with one decimal.
  while (unit + 1 < std::size(kUnits) && std::round(value * 10) / 10 >= 1024) {
    value /= 1024;
    ++unit;
  }
  std::string text = absl::StrFormat("%.1f", value);
  if (EndsWith(text, ".0")) text.resize(text.size() - 2);
  return common::StrCat(text, " ", kUnits[unit]);
}

}  // namespace medic::agent
