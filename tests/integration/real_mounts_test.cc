// The filesystems probe against real mounts the test creates (tmpfs), through the real
// agent binary: a nearly full filesystem and one out of inodes raise their findings.

#include <sys/mount.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "medic/v1/health.pb.h"
#include "tests/support/process.h"

namespace medic::test {
namespace {

const std::string kBin = MEDIC_BIN_DIR;

// No config: the defaults, with only the filesystems probe (--probes below), so nothing else
// can raise a finding or send traffic off this machine.
constexpr char kConfig[] = "log_level: warning\n";

class RealMountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "mounting tmpfs needs root (CI runs as root)";
    WriteFile(dir_.File("agent.yaml"), kConfig);
  }
  void TearDown() override {
    for (const auto& m : mounted_) umount2(m.c_str(), MNT_DETACH);
  }
  std::string Mount(const std::string& name, const std::string& options) {
    const std::string path = dir_.File(name);
    EXPECT_EQ(mkdir(path.c_str(), 0755), 0);
    EXPECT_EQ(mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()), 0)
        << "mount tmpfs " << options << " on " << path << ": " << strerror(errno);
    mounted_.push_back(path);
    return path;
  }
  std::vector<medic::v1::Finding> Findings() {
    RunResult r = RunCommand({kBin + "/medic-agent", "--once", "--json", "--probes", "filesystems",
                              "--config", dir_.File("agent.yaml")});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    medic::v1::Snapshot snapshot;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &snapshot).ok()) << r.out;
    return {snapshot.findings().begin(), snapshot.findings().end()};
  }
  const medic::v1::Finding* Find(const std::vector<medic::v1::Finding>& findings,
                                 const std::string& code, const std::string& resource) {
    for (const auto& f : findings) {
      if (f.code() == code && f.resource() == resource) return &f;
    }
    return nullptr;
  }

  TempDir dir_;
  std::vector<std::string> mounted_;
};

TEST_F(RealMountsTest, NearlyFullFilesystemIsCritical) {
  const std::string full = Mount("full", "size=5M");
  const std::string healthy = Mount("healthy", "size=5M");
  {
    // 4.9 MiB of 5 MiB: about 2 % free, below the 5 % critical mark.
    std::ofstream fill(full + "/fill", std::ios::binary);
    const std::string block(4096, 'x');
    for (int i = 0; i < (49 * 256) / 10; ++i) fill << block;
  }
  const auto findings = Findings();
  const medic::v1::Finding* low = Find(findings, "disk.space_low", full);
  ASSERT_NE(low, nullptr) << "no disk.space_low on " << full;
  EXPECT_EQ(low->severity(), medic::v1::SEVERITY_CRITICAL);
  EXPECT_THAT(low->summary(), ::testing::HasSubstr(full));
  EXPECT_EQ(Find(findings, "disk.space_low", healthy), nullptr);

  // Freed again: the next collection raises nothing for it.
  ASSERT_EQ(unlink((full + "/fill").c_str()), 0);
  EXPECT_EQ(Find(Findings(), "disk.space_low", full), nullptr);
}

TEST_F(RealMountsTest, FilesystemOutOfInodes) {
  const std::string tiny = Mount("tiny", "size=5M,nr_inodes=16");
  for (int i = 0;; ++i) {
    std::ofstream f(tiny + "/f" + std::to_string(i));
    if (!f) break;  // out of inodes
    ASSERT_LT(i, 64) << "nr_inodes=16 did not limit the inodes";
  }
  const auto findings = Findings();
  EXPECT_NE(Find(findings, "disk.inodes_low", tiny), nullptr) << "no disk.inodes_low on " << tiny;
}

}  // namespace
}  // namespace medic::test
