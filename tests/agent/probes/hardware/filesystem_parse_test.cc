#include "agent/probes/hardware/filesystem_parse.h"

#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr uint64_t kGiB = uint64_t{1} << 30;

struct DecodeCase {
  std::string name;
  std::string field;
  std::string decoded;
};

class DecodeMountFieldTest : public ::testing::TestWithParam<DecodeCase> {};

TEST_P(DecodeMountFieldTest, Decodes) {
  EXPECT_EQ(DecodeMountField(GetParam().field), GetParam().decoded);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, DecodeMountFieldTest,
    ::testing::Values(
        // Nothing to decode.
        DecodeCase{"plain", "/home", "/home"},
        // A space, as in a USB disk's label.
        DecodeCase{"space", "/media/ana/My\\040Passport", "/media/ana/My Passport"},
        // Tab, newline and backslash.
        DecodeCase{"tab_newline_backslash", "/a\\011b\\012c\\134d", "/a\tb\nc\\d"},
        // A backslash without three octal digits is kept.
        DecodeCase{"incomplete_escape", "/x\\04", "/x\\04"},
        // Not octal digits.
        DecodeCase{"non_octal", "/x\\089", "/x\\089"},
        // A trailing backslash.
        DecodeCase{"trailing_backslash", "/x\\", "/x\\"}),
    [](const auto& info) { return info.param.name; });

TEST(ParseMountsTest, ParsesFieldsOptionsAndEscapes) {
  absl::StatusOr<std::vector<MountEntry>> mounts = ParseMounts(
      "/dev/nvme0n1p2 / ext4 rw,relatime,errors=remount-ro 0 0\n"
      "/dev/sdb1 /media/ana/My\\040Passport exfat ro,nosuid,nodev,relatime 0 0\n"
      "\n"
      "tmpfs /tmp tmpfs rw,nosuid,nodev,size=8g 0 0\n");
  ASSERT_TRUE(mounts.ok()) << mounts.status();
  ASSERT_EQ(mounts->size(), 3u);
  EXPECT_EQ((*mounts)[0].device, "/dev/nvme0n1p2");
  EXPECT_EQ((*mounts)[0].mount_point, "/");
  EXPECT_EQ((*mounts)[0].type, "ext4");
  EXPECT_FALSE((*mounts)[0].read_only);
  EXPECT_EQ((*mounts)[1].mount_point, "/media/ana/My Passport");
  EXPECT_TRUE((*mounts)[1].read_only);
  EXPECT_EQ((*mounts)[2].options, "rw,nosuid,nodev,size=8g");
}

TEST(ParseMountsTest, ReadOnlyOnlyAsAWholeOption) {
  // "errors=remount-ro" is not "ro".
  absl::StatusOr<std::vector<MountEntry>> mounts =
      ParseMounts("/dev/sda1 / ext4 rw,errors=remount-ro 0 0\n");
  ASSERT_TRUE(mounts.ok());
  EXPECT_FALSE((*mounts)[0].read_only);
}

TEST(ParseMountsTest, MalformedLineIsNamed) {
  absl::StatusOr<std::vector<MountEntry>> mounts =
      ParseMounts("/dev/sda1 / ext4 rw 0 0\nbroken line\n");
  ASSERT_FALSE(mounts.ok());
  EXPECT_EQ(mounts.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mounts.status().message(), HasSubstr("line 2"));
}

TEST(ParseMountsTest, EmptyTableIsAnError) {
  EXPECT_EQ(ParseMounts("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseMounts("\n\n").status().code(), absl::StatusCode::kInvalidArgument);
}

std::vector<std::string> MountPoints(const std::vector<MountEntry>& mounts) {
  std::vector<std::string> points;
  for (const MountEntry& m : mounts) points.push_back(m.mount_point);
  return points;
}

std::vector<MountEntry> Parse(const std::string& text) {
  absl::StatusOr<std::vector<MountEntry>> mounts = ParseMounts(text);
  EXPECT_TRUE(mounts.ok()) << mounts.status();
  return mounts.ok() ? *mounts : std::vector<MountEntry>{};
}

TEST(SelectMountsTest, DefaultListDropsPseudoAndImageFilesystemsButKeepsTmpfs) {
  const std::vector<MountEntry> mounts = Parse(
      "sysfs /sys sysfs rw 0 0\nproc /proc proc rw 0 0\nudev /dev devtmpfs rw 0 0\n"
      "devpts /dev/pts devpts rw 0 0\ntmpfs /run tmpfs rw 0 0\n"
      "/dev/nvme0n1p2 / ext4 rw 0 0\nsecurityfs /sys/kernel/security securityfs rw 0 0\n"
      "tmpfs /dev/shm tmpfs rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n"
      "pstore /sys/fs/pstore pstore rw 0 0\nefivarfs /sys/firmware/efi/efivars efivarfs rw 0 0\n"
      "bpf /sys/fs/bpf bpf rw 0 0\nsystemd-1 /proc/sys/fs/binfmt_misc autofs rw 0 0\n"
      "mqueue /dev/mqueue mqueue rw 0 0\nhugetlbfs /dev/hugepages hugetlbfs rw 0 0\n"
      "debugfs /sys/kernel/debug debugfs rw 0 0\ntracefs /sys/kernel/tracing tracefs rw 0 0\n"
      "fusectl /sys/fs/fuse/connections fusectl rw 0 0\n"
      "configfs /sys/kernel/config configfs rw 0 0\n"
      "/dev/loop0 /snap/core22/1122 squashfs ro,nodev 0 0\n"
      "/dev/nvme0n1p1 /boot/efi vfat rw 0 0\n"
      "overlay /var/lib/docker/overlay2/0a1b/merged overlay rw 0 0\n"
      "nsfs /run/docker/netns/1c2d nsfs rw 0 0\n"
      "gvfsd-fuse /run/user/1000/gvfs fuse.gvfsd-fuse rw 0 0\n"
      "/dev/sr0 /media/ana/UBUNTU iso9660 ro 0 0\n"
      "tmpfs /tmp tmpfs rw 0 0\n");
  EXPECT_THAT(MountPoints(SelectMounts(mounts, {})),
              ElementsAre("/run", "/", "/dev/shm", "/boot/efi", "/tmp"));
}

TEST(SelectMountsTest, RootIsKeptWhateverItsType) {
  // A container: its root is an overlay, which the default list drops elsewhere.
  const std::vector<MountEntry> mounts = Parse(
      "overlay / overlay rw,lowerdir=/l,upperdir=/u,workdir=/w 0 0\n"
      "proc /proc proc rw 0 0\ntmpfs /dev tmpfs rw 0 0\n");
  EXPECT_THAT(MountPoints(SelectMounts(mounts, {})), ElementsAre("/", "/dev"));
}

TEST(SelectMountsTest, KernelInterfacesUnderProcAndSysAreNeverStorage) {
  // Docker masks parts of /proc and /sys with tmpfs; they are not disks anyone fills.
  const std::vector<MountEntry> mounts = Parse(
      "overlay / overlay rw 0 0\ntmpfs /proc/kcore tmpfs rw,nosuid,size=65536k,mode=755 0 0\n"
      "tmpfs /proc/acpi tmpfs ro,relatime 0 0\ntmpfs /sys/firmware tmpfs ro,relatime 0 0\n"
      "shm /dev/shm tmpfs rw,size=65536k 0 0\n");
  EXPECT_THAT(MountPoints(SelectMounts(mounts, {})), ElementsAre("/", "/dev/shm"));
}

TEST(SelectMountsTest, LaterMountOnSamePointHidesEarlier) {
  // Old kernels list the initramfs "rootfs" under the real root.
  const std::vector<MountEntry> mounts = Parse(
      "rootfs / rootfs rw 0 0\n/dev/sda1 / ext4 rw 0 0\ntmpfs /dev/shm tmpfs rw 0 0\n"
      "tmpfs /dev/shm tmpfs rw,size=1g 0 0\n");
  const std::vector<MountEntry> selected = SelectMounts(mounts, {});
  ASSERT_THAT(MountPoints(selected), ElementsAre("/", "/dev/shm"));
  EXPECT_EQ(selected[0].device, "/dev/sda1");
  EXPECT_EQ(selected[1].options, "rw,size=1g");
}

TEST(SelectMountsTest, BindMountsOfOneDeviceAreReportedOnceUnderTheShortestPoint) {
  const std::vector<MountEntry> mounts = Parse(
      "/dev/sdb1 /srv/exports/home ext4 rw 0 0\n/dev/sdb1 /srv ext4 rw 0 0\n"
      "/dev/sda1 / ext4 rw 0 0\n/dev/sda1 /etc/hosts ext4 rw 0 0\n"
      "nas:/vol/projects /mnt/projects nfs4 rw 0 0\nnas:/vol/projects /home/ana/projects nfs4 rw 0 "
      "0\n"
      "tmpfs /run tmpfs rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n");
  // Distinct tmpfs instances share the source name "tmpfs" but are separate filesystems.
  EXPECT_THAT(MountPoints(SelectMounts(mounts, {})),
              ElementsAre("/srv", "/", "/mnt/projects", "/run", "/tmp"));
}

TEST(SelectMountsTest, ConfiguredTypesReplaceTheDefaultList) {
  const std::vector<MountEntry> mounts =
      Parse("proc /proc proc rw 0 0\n/dev/sda1 / ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n");
  medic::v1::FilesystemsConfig config;
  config.add_ignore_types("tmpfs");
  EXPECT_THAT(MountPoints(SelectMounts(mounts, config)), ElementsAre("/proc", "/"));
}

TEST(SelectMountsTest, IgnoredMountsExactAndPrefix) {
  const std::vector<MountEntry> mounts = Parse(
      "/dev/sda1 / ext4 rw 0 0\n/dev/sdb1 /backup ext4 rw 0 0\n"
      "/dev/sdc1 /mnt/usb1 vfat rw 0 0\n/dev/sdd1 /mnt/usb2 vfat rw 0 0\n"
      "/dev/sde1 /mnt ext4 rw 0 0\n/dev/sdf1 /backups ext4 rw 0 0\n");
  medic::v1::FilesystemsConfig config;
  config.add_ignore_mounts("/backup");  // exact: /backups stays
  config.add_ignore_mounts("/mnt/");    // everything below /mnt, not /mnt itself
  EXPECT_THAT(MountPoints(SelectMounts(mounts, config)), ElementsAre("/", "/mnt", "/backups"));
}

TEST(ToFilesystemTest, ComputesSharesAndReadOnly) {
  MountEntry mount{"/dev/sda1", "/home", "ext4", "rw", false};
  common::FsStats stats{.total_bytes = 40 * kGiB,
                        .free_bytes = 10 * kGiB,
                        .total_inodes = 1000,
                        .free_inodes = 250,
                        .read_only = true};
  medic::v1::Filesystem fs = ToFilesystem(mount, stats);
  EXPECT_EQ(fs.mount_point(), "/home");
  EXPECT_EQ(fs.used_bytes(), 30 * kGiB);
  EXPECT_DOUBLE_EQ(fs.free_pct(), 25.0);
  EXPECT_DOUBLE_EQ(fs.inodes_free_pct(), 25.0);
  EXPECT_TRUE(fs.read_only());  // statvfs says so even though the options say rw

  // A zero-size filesystem has 0% free, not NaN.
  medic::v1::Filesystem empty = ToFilesystem(mount, common::FsStats{});
  EXPECT_EQ(empty.free_pct(), 0.0);
  EXPECT_EQ(empty.inodes_free_pct(), 0.0);
}

TEST(FsThresholdsTest, ZeroMeansDefault) {
  FsThresholds defaults = FsThresholds::FromConfig({});
  EXPECT_EQ(defaults.space_low_pct, 10);
  EXPECT_EQ(defaults.space_critical_pct, 5);
  EXPECT_EQ(defaults.inodes_low_pct, 10);
  medic::v1::FilesystemsConfig config;
  config.set_space_low_pct(20);
  config.set_inodes_low_pct(-1);
  FsThresholds custom = FsThresholds::FromConfig(config);
  EXPECT_EQ(custom.space_low_pct, 20);
  EXPECT_EQ(custom.space_critical_pct, 5);
  EXPECT_EQ(custom.inodes_low_pct, 10);
}

// /data: 1000 GiB with `free_pct` percent free, 100000 inodes with `inodes_free_pct` free.
medic::v1::FilesystemsStatus OneFilesystem(double free_pct, double inodes_free_pct = 50) {
  medic::v1::FilesystemsStatus status;
  medic::v1::Filesystem* fs = status.add_filesystems();
  fs->set_mount_point("/data");
  fs->set_total_bytes(1000 * kGiB);
  fs->set_free_bytes(static_cast<uint64_t>(free_pct * 10 * kGiB));
  fs->set_free_pct(free_pct);
  fs->set_total_inodes(100000);
  fs->set_free_inodes(static_cast<uint64_t>(inodes_free_pct * 1000));
  fs->set_inodes_free_pct(inodes_free_pct);
  return status;
}

medic::v1::Finding Standing(std::string_view code, medic::v1::Severity severity) {
  medic::v1::Finding finding;
  finding.set_code(std::string(code));
  finding.set_resource("/data");
  finding.set_severity(severity);
  return finding;
}

struct JudgeCase {
  std::string name;
  double free_pct;
  std::optional<medic::v1::Severity> standing;  // a disk.space_low standing before, if any
  std::optional<medic::v1::Severity> expected;  // the disk.space_low after, if any
};

class JudgeSpaceTest : public ::testing::TestWithParam<JudgeCase> {};

TEST_P(JudgeSpaceTest, Judges) {
  const JudgeCase& c = GetParam();
  std::vector<medic::v1::Finding> standing;
  if (c.standing) standing.push_back(Standing(kDiskSpaceLow, *c.standing));
  // A standing finding of another code on the same resource plays no part.
  standing.push_back(Standing("disk.readonly", medic::v1::SEVERITY_CRITICAL));
  std::vector<medic::v1::Finding> findings =
      JudgeFilesystems(OneFilesystem(c.free_pct), FsThresholds{}, standing);
  if (!c.expected) {
    EXPECT_THAT(findings, IsEmpty());
    return;
  }
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].code(), kDiskSpaceLow);
  EXPECT_EQ(findings[0].resource(), "/data");
  EXPECT_EQ(findings[0].severity(), *c.expected);
}

constexpr auto kWarning = medic::v1::SEVERITY_WARNING;
constexpr auto kCritical = medic::v1::SEVERITY_CRITICAL;

INSTANTIATE_TEST_SUITE_P(
    Rows, JudgeSpaceTest,
    ::testing::Values(
        // Plenty of space.
        JudgeCase{"healthy", 50, std::nullopt, std::nullopt},
        // Exactly at the mark is not below it.
        JudgeCase{"at_low_mark", 10, std::nullopt, std::nullopt},
        // Below 10%: warning.
        JudgeCase{"below_low", 9.9, std::nullopt, kWarning},
        // Below 5%: critical.
        JudgeCase{"below_critical", 4.9, std::nullopt, kCritical},
        // Not standing, 11%: nothing to raise.
        JudgeCase{"eleven_not_standing", 11, std::nullopt, std::nullopt},
        // Standing at 11% with a 10% mark: holds until 12%.
        JudgeCase{"hysteresis_holds", 11, kWarning, kWarning},
        // Standing at 12.5%: clears.
        JudgeCase{"hysteresis_clears", 12.5, kWarning, std::nullopt},
        // Standing at exactly mark + margin: clears.
        JudgeCase{"hysteresis_clears_at_margin", 12, kWarning, std::nullopt},
        // A standing critical at 6% (mark 5%) stays critical.
        JudgeCase{"critical_holds", 6, kCritical, kCritical},
        // A standing critical at 7.5% is above 5 + 2: it drops to warning.
        JudgeCase{"critical_drops_to_warning", 7.5, kCritical, kWarning},
        // A standing warning falling below 5% becomes critical.
        JudgeCase{"warning_escalates", 3, kWarning, kCritical},
        // A standing warning at 6% does not become critical because of the margin.
        JudgeCase{"warning_not_escalated_in_margin", 6, kWarning, kWarning}),
    [](const auto& info) { return info.param.name; });

TEST(JudgeFilesystemsTest, SummaryAndEvidenceATechnicianReads) {
  medic::v1::FilesystemsStatus status;
  medic::v1::Filesystem* fs = status.add_filesystems();
  fs->set_mount_point("/home");
  fs->set_total_bytes(40 * kGiB);
  fs->set_free_bytes(1331439862);  // 1.24 GiB
  fs->set_free_pct(100.0 * 1331439862 / (40.0 * kGiB));
  std::vector<medic::v1::Finding> findings = JudgeFilesystems(status, FsThresholds{}, {});
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].severity(), kCritical);
  EXPECT_EQ(findings[0].summary(), "/home has 3.1% free (1.2 GiB of 40 GiB)");
  EXPECT_THAT(findings[0].evidence(),
              UnorderedElementsAre(Pair("free_pct", "3.1"), Pair("free_bytes", "1331439862"),
                                   Pair("total_bytes", "42949672960"), Pair("threshold_pct", "5")));
}

TEST(JudgeFilesystemsTest, InodesLowWithHysteresis) {
  // 4% of inodes free: warning, the only level inodes have.
  std::vector<medic::v1::Finding> findings =
      JudgeFilesystems(OneFilesystem(50, 4), FsThresholds{}, {});
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].code(), kDiskInodesLow);
  EXPECT_EQ(findings[0].severity(), kWarning);
  EXPECT_EQ(findings[0].summary(), "/data has 4.0% of its inodes free (4000 of 100000)");
  EXPECT_THAT(findings[0].evidence(),
              UnorderedElementsAre(Pair("free_pct", "4.0"), Pair("free_inodes", "4000"),
                                   Pair("total_inodes", "100000"), Pair("threshold_pct", "10")));
  // Standing, at 11%: holds; at 12.5%: clears.
  std::vector<medic::v1::Finding> standing = {Standing(kDiskInodesLow, kWarning)};
  EXPECT_EQ(JudgeFilesystems(OneFilesystem(50, 11), FsThresholds{}, standing).size(), 1u);
  EXPECT_THAT(JudgeFilesystems(OneFilesystem(50, 12.5), FsThresholds{}, standing), IsEmpty());
}

TEST(JudgeFilesystemsTest, ConfiguredMarks) {
  FsThresholds thresholds{.space_low_pct = 25, .space_critical_pct = 15, .inodes_low_pct = 10};
  std::vector<medic::v1::Finding> findings = JudgeFilesystems(OneFilesystem(20), thresholds, {});
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].severity(), kWarning);
  EXPECT_EQ(findings[0].evidence().at("threshold_pct"), "25");
}

TEST(JudgeFilesystemsTest, NotJudged) {
  // Read-only (a mounted image), failed statvfs, no size, no inode count (btrfs): no findings.
  medic::v1::FilesystemsStatus status = OneFilesystem(0.5, 0.5);
  status.mutable_filesystems(0)->set_read_only(true);
  EXPECT_THAT(JudgeFilesystems(status, FsThresholds{}, {}), IsEmpty());

  status = OneFilesystem(0.5, 0.5);
  status.mutable_filesystems(0)->set_error("Permission denied");
  EXPECT_THAT(JudgeFilesystems(status, FsThresholds{}, {}), IsEmpty());

  medic::v1::FilesystemsStatus btrfs = OneFilesystem(50, 0);
  btrfs.mutable_filesystems(0)->set_total_inodes(0);
  btrfs.mutable_filesystems(0)->set_free_inodes(0);
  EXPECT_THAT(JudgeFilesystems(btrfs, FsThresholds{}, {}), IsEmpty());

  medic::v1::FilesystemsStatus sizeless;
  sizeless.add_filesystems()->set_mount_point("/run/user/1000/doc");
  EXPECT_THAT(JudgeFilesystems(sizeless, FsThresholds{}, {}), IsEmpty());
}

struct HumanBytesCase {
  std::string name;
  uint64_t bytes;
  std::string text;
};

class HumanBytesTest : public ::testing::TestWithParam<HumanBytesCase> {};

TEST_P(HumanBytesTest, Formats) { EXPECT_EQ(HumanBytes(GetParam().bytes), GetParam().text); }

INSTANTIATE_TEST_SUITE_P(Rows, HumanBytesTest,
                         ::testing::Values(
                             // Zero.
                             HumanBytesCase{"zero", 0, "0 B"},
                             // Below a KiB: whole bytes.
                             HumanBytesCase{"bytes", 1023, "1023 B"},
                             // Exactly one KiB: no ".0".
                             HumanBytesCase{"one_kib", 1024, "1 KiB"},
                             // One decimal.
                             HumanBytesCase{"gib_decimal", 1331439862, "1.2 GiB"},
                             // Whole GiB.
                             HumanBytesCase{"whole_gib", 40 * kGiB, "40 GiB"},
                             // 1023.96 MiB would print as "1024.0 MiB": one unit up instead.
                             HumanBytesCase{"rounds_up_a_unit", kGiB - 40 * 1024, "1 GiB"},
                             // Terabytes.
                             HumanBytesCase{"tib", 3 * 1024 * kGiB + 512 * kGiB, "3.5 TiB"}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace medic::agent

namespace medic::agent {
namespace {

TEST(IsNetworkFilesystemTest, ServersVersusLocalDisks) {
  for (const char* type : {"nfs", "nfs4", "cifs", "smb3", "fuse.sshfs", "ceph", "9p"}) {
    EXPECT_TRUE(IsNetworkFilesystem(type)) << type;
  }
  for (const char* type : {"ext4", "xfs", "btrfs", "vfat", "tmpfs", "fuse.portal", "nfsd", ""}) {
    EXPECT_FALSE(IsNetworkFilesystem(type)) << type;
  }
}

}  // namespace
}  // namespace medic::agent
