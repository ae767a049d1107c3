#include "common/fs/file_system.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/status/errno_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::common {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;

// A fresh directory tree standing in for a machine's root, removed at the end:
//   /proc/meminfo, /big (20000 bytes), /dir/{b,a,c}, /dir/sub/, /link -> /proc/meminfo
class RootedFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "medic_fs_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    root_ = pattern;
    std::filesystem::create_directories(root_ + "/proc");
    std::filesystem::create_directories(root_ + "/dir/sub");
    Write("/proc/meminfo", "MemTotal: 16 kB\n");
    Write("/big", std::string(20000, 'x'));
    for (const char* name : {"b", "a", "c"}) Write(std::string("/dir/") + name, name);
    std::filesystem::create_symlink("/proc/meminfo", root_ + "/link");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  void Write(std::string_view path, std::string_view contents) {
    std::ofstream(root_ + std::string(path), std::ios::binary) << contents;
  }

  std::string root_;
};

TEST_F(RootedFileSystemTest, ReadFileUnderRoot) {
  RootedFileSystem fs(root_);
  const absl::StatusOr<std::string> text = fs.ReadFile("/proc/meminfo");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "MemTotal: 16 kB\n");
}

TEST_F(RootedFileSystemTest, StatGivesSizeKindAndModificationTime) {
  RootedFileSystem fs(root_);
  const absl::Time set = absl::FromUnixSeconds(1'699'950'000);
  std::filesystem::last_write_time(root_ + "/big",
                                   std::filesystem::file_time_type::clock::from_sys(
                                       std::chrono::system_clock::from_time_t(absl::ToTimeT(set))));
  absl::StatusOr<FileInfo> big = fs.Stat("/big");
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->size, 20000u);
  EXPECT_FALSE(big->is_dir);
  EXPECT_EQ(big->mtime, set);
  absl::StatusOr<FileInfo> dir = fs.Stat("/dir/sub");
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_TRUE(dir->is_dir);
  // Links are followed (this one's absolute target is the live /proc/meminfo, a file).
  absl::StatusOr<FileInfo> link = fs.Stat("/link");
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_FALSE(link->is_dir);
  EXPECT_EQ(fs.Stat("/missing").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RootedFileSystemTest, TrailingSlashesOnRootAreIgnored) {
  RootedFileSystem fs(root_ + "///");
  EXPECT_EQ(fs.root(), root_);
  EXPECT_EQ(fs.Resolve("/proc/meminfo"), root_ + "/proc/meminfo");
  EXPECT_EQ(fs.Resolve("proc/meminfo"), root_ + "/proc/meminfo");
  EXPECT_TRUE(fs.ReadFile("/proc/meminfo").ok());
}

TEST(RootedFileSystemRootTest, SlashIsTheLiveMachine) {
  RootedFileSystem fs("/");
  EXPECT_EQ(fs.root(), "");
  EXPECT_EQ(fs.Resolve("/proc/meminfo"), "/proc/meminfo");
}

TEST_F(RootedFileSystemTest, ReadFileCutsAtMaxBytes) {
  RootedFileSystem fs(root_);
  // Below one read buffer.
  const absl::StatusOr<std::string> small = fs.ReadFile("/big", 10);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(*small, std::string(10, 'x'));
  // Across several read buffers.
  const absl::StatusOr<std::string> large = fs.ReadFile("/big", 12345);
  ASSERT_TRUE(large.ok());
  EXPECT_EQ(large->size(), 12345u);
  // A limit above the size reads it all.
  const absl::StatusOr<std::string> all = fs.ReadFile("/big", 1 << 20);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 20000u);
}

TEST_F(RootedFileSystemTest, ReadFileMissingIsNotFoundNamingThePath) {
  RootedFileSystem fs(root_);
  const absl::StatusOr<std::string> text = fs.ReadFile("/proc/nope");
  EXPECT_EQ(text.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(text.status().message()), StartsWith(root_ + "/proc/nope: "));
}

TEST_F(RootedFileSystemTest, ReadFileThroughAFileIsNotFound) {
  RootedFileSystem fs(root_);
  // ENOTDIR: a path component is a file.
  EXPECT_EQ(fs.ReadFile("/proc/meminfo/x").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RootedFileSystemTest, ReadFileOfADirectoryFailsNamingThePath) {
  RootedFileSystem fs(root_);
  const absl::StatusOr<std::string> text = fs.ReadFile("/dir");
  ASSERT_FALSE(text.ok());
  EXPECT_THAT(std::string(text.status().message()), StartsWith(root_ + "/dir: "));
}

TEST_F(RootedFileSystemTest, ListDirIsSortedWithoutDots) {
  RootedFileSystem fs(root_);
  const absl::StatusOr<std::vector<std::string>> names = fs.ListDir("/dir");
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, ElementsAre("a", "b", "c", "sub"));
}

TEST_F(RootedFileSystemTest, ListDirOfEmptyDirectory) {
  RootedFileSystem fs(root_);
  const absl::StatusOr<std::vector<std::string>> names = fs.ListDir("/dir/sub");
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty());
}

TEST_F(RootedFileSystemTest, ListDirErrors) {
  RootedFileSystem fs(root_);
  const absl::StatusOr<std::vector<std::string>> missing = fs.ListDir("/nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), StartsWith(root_ + "/nope: "));
  // A file is not a directory: ENOTDIR, reported as NotFound.
  EXPECT_EQ(fs.ListDir("/proc/meminfo").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RootedFileSystemTest, StatFsOfTheTempDir) {
  RootedFileSystem fs(root_);
  const absl::StatusOr<FsStats> stats = fs.StatFs("/");
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_GT(stats->total_bytes, 0u);
  EXPECT_LE(stats->free_bytes, stats->total_bytes);
  EXPECT_LE(stats->free_inodes, stats->total_inodes);
  EXPECT_FALSE(stats->read_only);
}

TEST_F(RootedFileSystemTest, StatFsMissingIsNotFound) {
  RootedFileSystem fs(root_);
  const absl::StatusOr<FsStats> stats = fs.StatFs("/nope");
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(stats.status().message()), StartsWith(root_ + "/nope: "));
}

TEST_F(RootedFileSystemTest, ReadLinkReturnsTheTargetAsWritten) {
  RootedFileSystem fs(root_);
  const absl::StatusOr<std::string> target = fs.ReadLink("/link");
  ASSERT_TRUE(target.ok()) << target.status();
  // The target is not mapped under the root: it is what the link says.
  EXPECT_EQ(*target, "/proc/meminfo");
}

TEST_F(RootedFileSystemTest, ReadLinkErrors) {
  RootedFileSystem fs(root_);
  const absl::StatusOr<std::string> missing = fs.ReadLink("/nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), StartsWith(root_ + "/nope: "));
  // A regular file is not a link: EINVAL.
  EXPECT_EQ(fs.ReadLink("/proc/meminfo").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RootedFileSystemTest, Exists) {
  RootedFileSystem fs(root_);
  EXPECT_TRUE(fs.Exists("/proc/meminfo"));
  EXPECT_TRUE(fs.Exists("/dir"));
  EXPECT_FALSE(fs.Exists("/proc/nope"));
  // Paths are looked up under the root, not on the live machine.
  EXPECT_FALSE(fs.Exists("/proc/self"));
}

// A fixture's /proc is plain files: never kept open, so a file replaced by rename (as tests
// and package managers do) reads new.
TEST_F(RootedFileSystemTest, PlainFilesUnderProcAreReadAfresh) {
  RootedFileSystem fs(root_);
  EXPECT_EQ(*fs.ReadFile("/proc/meminfo"), "MemTotal: 16 kB\n");
  Write("/proc/meminfo.new", "MemTotal: 32 kB\n");
  std::filesystem::rename(root_ + "/proc/meminfo.new", root_ + "/proc/meminfo");
  EXPECT_EQ(*fs.ReadFile("/proc/meminfo"), "MemTotal: 32 kB\n");
}

size_t OpenDescriptors() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

// The live machine's procfs/sysfs files stay open between reads, and each read is fresh.
TEST(RootedFileSystemKeepOpenTest, PseudoFilesStayOpenAndReadFresh) {
  RootedFileSystem fs("/");
  const size_t before = OpenDescriptors();
  const absl::StatusOr<std::string> first = fs.ReadFile("/proc/uptime");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(OpenDescriptors(), before + 1);
  ::usleep(20'000);
  const absl::StatusOr<std::string> second = fs.ReadFile("/proc/uptime");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(OpenDescriptors(), before + 1);  // the same descriptor, read again
  EXPECT_NE(*first, *second);                // the kernel wrote the text anew
  // Files longer than a page come whole (procfs hands out about a page per read), fresh and
  // through a kept descriptor alike.
  for (const char* path : {"/proc/self/maps", "/proc/self/smaps"}) {
    std::stringstream direct;
    direct << std::ifstream(path).rdbuf();
    ASSERT_GT(direct.str().size(), 8192u) << path;
    for (int read = 0; read < 2; ++read) {
      const absl::StatusOr<std::string> text = fs.ReadFile(path);
      ASSERT_TRUE(text.ok()) << text.status();
      // The process's own mappings may change a little between reads; the size barely does.
      EXPECT_GT(text->size(), direct.str().size() * 9 / 10) << path << " read " << read;
    }
  }
}

TEST(RootedFileSystemKeepOpenTest, KeepsAtMostItsCapacityAndNoneWhenZero) {
  const size_t before = OpenDescriptors();
  {
    RootedFileSystem fs("/", /*keep_open=*/2);
    for (const char* path : {"/proc/uptime", "/proc/loadavg", "/proc/stat", "/proc/loadavg"}) {
      ASSERT_TRUE(fs.ReadFile(path).ok()) << path;
    }
    EXPECT_EQ(OpenDescriptors(), before + 2);
  }
  EXPECT_EQ(OpenDescriptors(), before);  // closed with the file system
  RootedFileSystem uncached("/", /*keep_open=*/0);
  ASSERT_TRUE(uncached.ReadFile("/proc/uptime").ok());
  EXPECT_EQ(OpenDescriptors(), before);
}

// A kept file whose object went away (a process exited; a network interface removed) is
// looked up again by path: NotFound, not a stale answer.
TEST(RootedFileSystemKeepOpenTest, FileOfAGoneObjectIsNotFound) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  RootedFileSystem fs("/");
  const std::string path = "/proc/" + std::to_string(child) + "/stat";
  ASSERT_TRUE(fs.ReadFile(path).ok());
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  EXPECT_EQ(fs.ReadFile(path).status().code(), absl::StatusCode::kNotFound);
}

struct ErrnoCase {
  int error_number;
  absl::StatusCode code;
};

const ErrnoCase kErrnoCases[] = {
    // A missing file.
    {ENOENT, absl::StatusCode::kNotFound},
    // A path through a file.
    {ENOTDIR, absl::StatusCode::kNotFound},
    // File mode forbids.
    {EACCES, absl::StatusCode::kPermissionDenied},
    // Operation not permitted.
    {EPERM, absl::StatusCode::kPermissionDenied},
    // Read-only file system.
    {EROFS, absl::StatusCode::kPermissionDenied},
    // Disk full.
    {ENOSPC, absl::StatusCode::kResourceExhausted},
    // Quota exceeded.
    {EDQUOT, absl::StatusCode::kResourceExhausted},
    // Try again.
    {EAGAIN, absl::StatusCode::kUnavailable},
    // Interrupted.
    {EINTR, absl::StatusCode::kUnavailable},
    // Timed out.
    {ETIMEDOUT, absl::StatusCode::kUnavailable},
    // Nobody listening.
    {ECONNREFUSED, absl::StatusCode::kUnavailable},
    // A bad argument, e.g. readlink of a regular file.
    {EINVAL, absl::StatusCode::kInvalidArgument},
    // Anything else is internal.
    {EIO, absl::StatusCode::kInternal},
};

TEST(ErrnoToStatusTest, MapsErrnoToCodeWithContext) {
  for (const ErrnoCase& c : kErrnoCases) {
    SCOPED_TRACE(std::strerror(c.error_number));
    const absl::Status status = ErrnoToStatus(c.error_number, "/etc/medic/agent.yaml");
    EXPECT_EQ(status.code(), c.code);
    EXPECT_EQ(std::string(status.message()),
              std::string("/etc/medic/agent.yaml: ") + std::strerror(c.error_number));
  }
}

}  // namespace
}  // namespace medic::common
