// What the Linux probes do across collections, with config, and when a step fails or runs late.

#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "agent/probes/hardware/hardware_probes.h"
#include "agent/probes/network/network_probes.h"
#include "agent/probes/os/os_probes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/faulty_file_system.h"
#include "tests/support/fixture_file_system.h"
#include "tests/support/probe_harness.h"
#include "tests/support/process.h"

namespace medic::agent {
namespace {

using medic::testing::Collect;
using medic::testing::FaultyFileSystem;
using medic::testing::FixtureFileSystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string Fixture(const std::string& relative) {
  return std::string(MEDIC_FIXTURES) + "/" + relative;
}

std::vector<std::string> FindingResources(const std::vector<medic::v1::Finding>& findings) {
  std::vector<std::string> resources;
  for (const medic::v1::Finding& f : findings) resources.push_back(f.code() + " " + f.resource());
  return resources;
}

TEST(CpuProbeTest, FirstCollectionIsSinceBootThenTheDifference) {
  FixtureFileSystem fixture(Fixture("hardware/laptop_healthy"));
  FaultyFileSystem fs(fixture);
  common::FakeClock clock;
  std::unique_ptr<Probe> probe = NewCpuProbe();

  // user nice system idle iowait irq softirq steal guest guest_nice
  fs.SetFile("/proc/stat",
             "cpu  1000 0 1000 8000 0 0 0 0 0 0\ncpu0 1000 0 1000 8000 0 0 0 0 0 0\n");
  absl::StatusOr<ProbeOutput> first = Collect(*probe, fs, clock);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_DOUBLE_EQ(first->report.cpu().usage_pct(), 20.0);  // 2000 busy of 10000 since boot

  // 1000 ticks later: 400 busy, 100 iowait, 500 idle.
  fs.SetFile("/proc/stat",
             "cpu  1300 0 1100 8500 100 0 0 0 0 0\ncpu0 1300 0 1100 8500 100 0 0 0 0 0\n");
  absl::StatusOr<ProbeOutput> second = Collect(*probe, fs, clock);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_DOUBLE_EQ(second->report.cpu().usage_pct(), 40.0);
  EXPECT_DOUBLE_EQ(second->report.cpu().iowait_pct(), 10.0);
  EXPECT_EQ(second->report.cpu().logical_cores(), 1u);
  EXPECT_EQ(second->report.cpu().model(), "11th Gen Intel(R) Core(TM) i7-1165G7 @ 2.80GHz");

  // Another probe instance keeps its own previous sample: it starts again from boot.
  std::unique_ptr<Probe> fresh = NewCpuProbe();
  absl::StatusOr<ProbeOutput> other = Collect(*fresh, fs, clock);
  ASSERT_TRUE(other.ok());
  EXPECT_DOUBLE_EQ(other->report.cpu().usage_pct(), 100.0 * 2400 / 11000);
}

TEST(OsProbeTest, ArchitectureFromTheKernelElseTheHook) {
  common::FakeClock clock;
  // Kernel with /proc/sys/kernel/arch: the file wins over the hook.
  FixtureFileSystem debian(Fixture("os/debian12_workstation"));
  std::unique_ptr<Probe> probe = NewOsProbe([] { return std::string("from-hook"); });
  absl::StatusOr<ProbeOutput> output = Collect(*probe, debian, clock);
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_EQ(output->report.os().architecture(), "x86_64");
  // Kernel without it: the hook answers.
  FixtureFileSystem ubuntu(Fixture("os/ubuntu2204_arm64_server"));
  output = Collect(*probe, ubuntu, clock);
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_EQ(output->report.os().architecture(), "from-hook");
}

TEST(OsProbeTest, BootTimeIsClockMinusUptime) {
  FixtureFileSystem fs(Fixture("os/debian12_workstation"));  // uptime 351234.56 s
  common::FakeClock clock(absl::FromUnixSeconds(1'710'000'000));
  std::unique_ptr<Probe> probe = NewOsProbe();
  absl::StatusOr<ProbeOutput> output = Collect(*probe, fs, clock);
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_EQ(output->report.os().boot_time().seconds(), 1'710'000'000 - 351235);
  EXPECT_EQ(output->report.os().uptime().seconds(), 351234);
}

TEST(FilesystemsProbeTest, ConfigMarksAndIgnoredMountsApply) {
  FixtureFileSystem fs(Fixture("hardware/laptop_healthy"));
  common::FakeClock clock;
  medic::v1::AgentConfig config;
  config.mutable_filesystems()->set_space_low_pct(50);  // / has 42.2% free, the USB disk 41.2%
  config.mutable_filesystems()->add_ignore_mounts("/media/");
  std::unique_ptr<Probe> probe = NewFilesystemsProbe();
  absl::StatusOr<ProbeOutput> output = Collect(*probe, fs, clock, config);
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_THAT(FindingResources(output->findings), ElementsAre("disk.space_low /"));
  for (const medic::v1::Filesystem& f : output->report.filesystems().filesystems()) {
    EXPECT_FALSE(f.mount_point().starts_with("/media/")) << f.mount_point();
  }
}

TEST(FilesystemsProbeTest, StatvfsFailureOfOneMountIsReportedNotFatal) {
  FixtureFileSystem fixture(Fixture("hardware/server_disk_critical"));
  FaultyFileSystem fs(fixture);
  fs.Fail("/home", absl::PermissionDeniedError("/home: Permission denied"));
  common::FakeClock clock;
  std::unique_ptr<Probe> probe = NewFilesystemsProbe();
  absl::StatusOr<ProbeOutput> output = Collect(*probe, fs, clock);
  ASSERT_TRUE(output.ok()) << output.status();
  bool found = false;
  for (const medic::v1::Filesystem& f : output->report.filesystems().filesystems()) {
    if (f.mount_point() != "/home") continue;
    found = true;
    EXPECT_EQ(f.error(), "/home: Permission denied");
    EXPECT_EQ(f.total_bytes(), 0u);
  }
  EXPECT_TRUE(found);
  // /home cannot be judged; /var still is. No observation claims /home is empty.
  EXPECT_THAT(FindingResources(output->findings), ElementsAre("disk.space_low /var"));
  for (const medic::v1::Observation& o : output->report.observations()) {
    EXPECT_NE(o.resource(), "/home");
  }
}

TEST(FilesystemsProbeTest, StopsAtTheDeadlineNamingTheMount) {
  FixtureFileSystem fixture(Fixture("hardware/server_disk_critical"));
  FaultyFileSystem fs(fixture);
  common::FakeClock clock;
  // The first statvfs (/run) hangs for 3 s, as on a dead NFS server.
  fs.OnStatFs([&clock](std::string_view) { clock.Advance(absl::Seconds(3)); });
  std::unique_ptr<Probe> probe = NewFilesystemsProbe();
  absl::StatusOr<ProbeOutput> output = Collect(*probe, fs, clock);
  ASSERT_FALSE(output.ok());
  EXPECT_EQ(output.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(std::string(output.status().message()), "deadline passed before statvfs /");
}

// An NFS share whose server is gone: statvfs blocks in the kernel. The probe reports that mount
// as not answering within its time, the local disks as usual, and does not pile up calls on
// the stuck mount; once statvfs returns, the mount is read again.
// Counts StatFs calls begun and returned, so a test can wait until a call on a background
// thread has fully left the file systems under it before they are destroyed.
class CountingFileSystem : public common::FileSystem {
 public:
  explicit CountingFileSystem(const common::FileSystem& base) : base_(base) {}

  int begun() const { return begun_.load(); }
  int returned() const { return returned_.load(); }

  absl::StatusOr<common::FsStats> StatFs(std::string_view path) const override {
    ++begun_;
    absl::StatusOr<common::FsStats> result = base_.StatFs(path);
    ++returned_;  // last: nothing of `base_` is touched after this
    return result;
  }
  absl::StatusOr<std::string> ReadFile(std::string_view path, size_t max_bytes) const override {
    return base_.ReadFile(path, max_bytes);
  }
  absl::StatusOr<std::vector<std::string>> ListDir(std::string_view path) const override {
    return base_.ListDir(path);
  }
  absl::StatusOr<std::string> ReadLink(std::string_view path) const override {
    return base_.ReadLink(path);
  }
  bool Exists(std::string_view path) const override { return base_.Exists(path); }
  absl::StatusOr<common::FileInfo> Stat(std::string_view path) const override {
    return base_.Stat(path);
  }
  absl::StatusOr<common::UniqueFd> OpenStream(std::string_view path) const override {
    return base_.OpenStream(path);
  }

 private:
  const common::FileSystem& base_;
  mutable std::atomic<int> begun_ = 0;
  mutable std::atomic<int> returned_ = 0;
};

TEST(FilesystemsProbeTest, StuckNetworkMountDoesNotStopTheProbe) {
  test::TempDir root;
  ASSERT_EQ(::mkdir(root.File("proc").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(root.File("proc/self").c_str(), 0755), 0);
  test::WriteFile(root.File("proc/self/mounts"),
                  "/dev/sda1 / ext4 rw,relatime 0 0\n"
                  "fs1:/export/home /mnt/home nfs4 rw,relatime,hard 0 0\n");
  test::WriteFile(root.File("statfs.txt"),
                  "/ 100000000 50000000 1000 500\n/mnt/home 200000000 100000000 2000 1000\n");
  FixtureFileSystem fixture(root.path());
  FaultyFileSystem faulty(fixture);
  CountingFileSystem fs(faulty);
  std::mutex mu;
  std::condition_variable cv;
  bool server_back = false;
  std::atomic<int> home_calls = 0;
  const auto release = [&] {
    {
      std::lock_guard lock(mu);
      server_back = true;
    }
    cv.notify_all();
  };
  // On every path out of the test, even a failed assertion: release the blocked call and wait
  // until it has returned through every file system above, so the thread is done with this
  // test's locals before they are destroyed.
  absl::Cleanup release_at_exit = [&] {
    release();
    for (int i = 0; i < 1000 && fs.returned() < fs.begun(); ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_EQ(fs.returned(), fs.begun()) << "a StatFs call still runs after 10 s";
  };
  faulty.OnStatFs([&](std::string_view path) {
    if (path != "/mnt/home") return;
    ++home_calls;
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return server_back; });
  });
  common::FakeClock clock;
  std::unique_ptr<Probe> probe = NewFilesystemsProbe();

  for (int turn = 0; turn < 2; ++turn) {
    absl::StatusOr<ProbeOutput> output =
        Collect(*probe, fs, clock, {}, {}, /*budget=*/absl::Milliseconds(300));
    ASSERT_TRUE(output.ok()) << output.status();
    const auto& filesystems = output->report.filesystems().filesystems();
    ASSERT_EQ(filesystems.size(), 2);
    EXPECT_EQ(filesystems[0].mount_point(), "/");
    EXPECT_EQ(filesystems[0].free_bytes(), 50000000u);
    EXPECT_EQ(filesystems[1].mount_point(), "/mnt/home");
    // The waiting time is the probe's clock's: five minutes on, it says five minutes.
    EXPECT_THAT(filesystems[1].error(),
                HasSubstr(turn == 0 ? "did not answer within 300ms" : "has not answered for 5m:"));
    EXPECT_THAT(filesystems[1].error(), HasSubstr("is its server reachable?"));
    clock.Advance(absl::Minutes(5));
  }
  EXPECT_EQ(home_calls, 1);  // the stuck call was not repeated

  release();
  absl::StatusOr<ProbeOutput> output;
  for (int attempt = 0; attempt < 50; ++attempt) {  // the blocked thread returns soon
    output = Collect(*probe, fs, clock, {}, {}, /*budget=*/absl::Seconds(2));
    ASSERT_TRUE(output.ok()) << output.status();
    if (output->report.filesystems().filesystems(1).error().empty()) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(output->report.filesystems().filesystems(1).free_bytes(), 100000000u);
  EXPECT_EQ(home_calls, 2);
}

TEST(NetworkProbeTest, StopsAtTheDeadline) {
  FixtureFileSystem fs(Fixture("network/minimal_container"));
  common::FakeClock clock;
  std::unique_ptr<Probe> probe = NewNetworkProbe();
  absl::StatusOr<ProbeOutput> output =
      Collect(*probe, fs, clock, {}, {}, /*budget=*/-absl::Milliseconds(1));
  ASSERT_FALSE(output.ok());
  EXPECT_EQ(output.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(output.status().message()), HasSubstr("reading interface eth0"));
}

TEST(NetworkProbeTest, UnreadableResolvConfMeansNoDnsNotAFailure) {
  FixtureFileSystem fixture(Fixture("network/server_two_nics_ipv6"));
  FaultyFileSystem fs(fixture);
  fs.Fail("/etc/resolv.conf", absl::PermissionDeniedError("Permission denied"));
  common::FakeClock clock;
  std::unique_ptr<Probe> probe = NewNetworkProbe();
  absl::StatusOr<ProbeOutput> output = Collect(*probe, fs, clock);
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_THAT(output->report.network().dns_servers(), IsEmpty());
  EXPECT_EQ(output->report.network().interfaces_size(), 4);
}

// Answers every command with the same result (or status).
class CannedCommandRunner : public common::CommandRunner {
 public:
  explicit CannedCommandRunner(absl::StatusOr<common::CommandResult> result)
      : result_(std::move(result)) {}
  absl::StatusOr<common::CommandResult> Run(const std::vector<std::string>& argv, absl::Duration,
                                            size_t) const override {
    ran_.push_back(common::CommandText(argv));
    return result_;
  }
  mutable std::vector<std::string> ran_;

 private:
  absl::StatusOr<common::CommandResult> result_;
};

TEST(SmartProbeTest, SmartctlMissingIsDataNotAFinding) {
  FixtureFileSystem fs(Fixture("hardware/desktop_smart_failing"));
  common::FakeClock clock;
  std::unique_ptr<Probe> probe = NewSmartProbe();
  absl::StatusOr<ProbeOutput> output = Collect(*probe, fs, clock);  // no program exists
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_EQ(output->report.smart().note(), "smartmontools not installed");
  EXPECT_THAT(output->report.smart().disks(), IsEmpty());
  EXPECT_THAT(output->findings, IsEmpty());
}

TEST(SmartProbeTest, AsksEachDiskAndNotesUnreadableOutput) {
  FixtureFileSystem fs(Fixture("hardware/desktop_smart_failing"));
  common::FakeClock clock;
  CannedCommandRunner commands(common::CommandResult{
      .exit_code = 0, .std_out = "Segmentation", .std_err = "", .truncated = false});
  std::unique_ptr<Probe> probe = NewSmartProbe();
  absl::StatusOr<ProbeOutput> output =
      medic::testing::CollectWithCommands(*probe, fs, commands, clock);
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_THAT(commands.ran_, ElementsAre("smartctl --json --all --nocheck=standby /dev/nvme0n1",
                                         "smartctl --json --all --nocheck=standby /dev/sda"));
  ASSERT_EQ(output->report.smart().disks_size(), 2);
  EXPECT_EQ(output->report.smart().disks(1).device(), "/dev/sda");
  EXPECT_THAT(output->report.smart().disks(1).note(), HasSubstr("smartctl output is not JSON"));
  EXPECT_THAT(output->findings, IsEmpty());
}

TEST(SmartProbeTest, SmartctlOverrunningFailsTheCollection) {
  FixtureFileSystem fs(Fixture("hardware/desktop_smart_failing"));
  common::FakeClock clock;
  CannedCommandRunner commands(
      absl::DeadlineExceededError("`smartctl --json --all /dev/nvme0n1` did not finish"));
  std::unique_ptr<Probe> probe = NewSmartProbe();
  absl::StatusOr<ProbeOutput> output =
      medic::testing::CollectWithCommands(*probe, fs, commands, clock);
  EXPECT_EQ(output.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(SmartProbeTest, StopsAtTheDeadlineNamingTheDisk) {
  FixtureFileSystem fs(Fixture("hardware/desktop_smart_failing"));
  common::FakeClock clock;
  CannedCommandRunner commands(common::CommandResult{});
  std::unique_ptr<Probe> probe = NewSmartProbe();
  absl::StatusOr<ProbeOutput> output = medic::testing::CollectWithCommands(
      *probe, fs, commands, clock, {}, {}, /*budget=*/-absl::Milliseconds(1));
  ASSERT_FALSE(output.ok());
  EXPECT_EQ(output.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(output.status().message()), HasSubstr("smartctl /dev/nvme0n1"));
  EXPECT_THAT(commands.ran_, IsEmpty());
}

const medic::v1::NetworkInterface* FindInterface(const ProbeOutput& output,
                                                 const std::string& name) {
  for (const medic::v1::NetworkInterface& nic : output.report.network().interfaces()) {
    if (nic.name() == name) return &nic;
  }
  return nullptr;
}

constexpr std::string_view kNetDevHeader =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n";

TEST(NetworkProbeTest, CountersComeFromProcNetDevButRxDroppedFromSysfs) {
  FixtureFileSystem fixture(Fixture("network/server_two_nics_ipv6"));
  FaultyFileSystem fs(fixture);
  // eno2 missed 7 packets: /proc/net/dev counts them as drops, sysfs rx_dropped (233) does not.
  fs.SetFile("/proc/net/dev",
             std::string(kNetDevHeader) + "  eno2: 1000 0 18 240 0 0 0 0 2000 0 4 5 0 0 0 0\n");
  common::FakeClock clock;
  std::unique_ptr<Probe> probe = NewNetworkProbe();
  absl::StatusOr<ProbeOutput> output = Collect(*probe, fs, clock);
  ASSERT_TRUE(output.ok()) << output.status();
  const medic::v1::NetworkInterface* eno2 = FindInterface(*output, "eno2");
  ASSERT_NE(eno2, nullptr);
  EXPECT_EQ(eno2->rx_bytes(), 1000u);
  EXPECT_EQ(eno2->tx_bytes(), 2000u);
  EXPECT_EQ(eno2->rx_errors(), 18u);
  EXPECT_EQ(eno2->tx_errors(), 4u);
  EXPECT_EQ(eno2->rx_dropped(), 233u);
  EXPECT_EQ(eno2->tx_dropped(), 5u);
  // eno1 has no row: its counters come from sysfs.
  const medic::v1::NetworkInterface* eno1 = FindInterface(*output, "eno1");
  ASSERT_NE(eno1, nullptr);
  EXPECT_EQ(eno1->rx_bytes(), 88123349120554u);
}

TEST(NetworkProbeTest, WithoutProcNetDevCountersComeFromSysfs) {
  FixtureFileSystem fixture(Fixture("network/server_two_nics_ipv6"));
  FaultyFileSystem fs(fixture);
  fs.Fail("/proc/net/dev", absl::NotFoundError("No such file or directory"));
  common::FakeClock clock;
  std::unique_ptr<Probe> probe = NewNetworkProbe();
  absl::StatusOr<ProbeOutput> output = Collect(*probe, fs, clock);
  ASSERT_TRUE(output.ok()) << output.status();
  const medic::v1::NetworkInterface* eno2 = FindInterface(*output, "eno2");
  ASSERT_NE(eno2, nullptr);
  EXPECT_EQ(eno2->rx_bytes(), 5512330012334u);
  EXPECT_EQ(eno2->rx_errors(), 17u);
  EXPECT_EQ(eno2->rx_dropped(), 233u);
  EXPECT_EQ(eno2->tx_dropped(), 2u);
}

TEST(NetworkProbeTest, ChangesShowInTheNextCollections) {
  FixtureFileSystem fixture(Fixture("network/server_two_nics_ipv6"));
  FaultyFileSystem fs(fixture);
  common::FakeClock clock;
  std::unique_ptr<Probe> probe = NewNetworkProbe();
  ASSERT_TRUE(Collect(*probe, fs, clock).ok());

  // The resolver changed, and eno1's link came back at a lower speed.
  fs.SetFile("/etc/resolv.conf", "nameserver 192.0.2.53\n");
  fs.SetFile("/sys/class/net/eno1/carrier", "0\n");
  fs.SetFile("/sys/class/net/eno1/speed", "100\n");
  absl::StatusOr<ProbeOutput> output = Collect(*probe, fs, clock);
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_THAT(output->report.network().dns_servers(), ElementsAre("192.0.2.53"));
  const medic::v1::NetworkInterface* eno1 = FindInterface(*output, "eno1");
  ASSERT_NE(eno1, nullptr);
  EXPECT_FALSE(eno1->carrier());
  EXPECT_EQ(eno1->speed_mbps(), 100u);

  // An MTU changed on a live link shows within five collections.
  fs.SetFile("/sys/class/net/eno2/mtu", "1500\n");
  uint32_t mtu = 0;
  for (int i = 0; i < 5 && mtu != 1500; ++i) {
    output = Collect(*probe, fs, clock);
    ASSERT_TRUE(output.ok()) << output.status();
    const medic::v1::NetworkInterface* eno2 = FindInterface(*output, "eno2");
    ASSERT_NE(eno2, nullptr);
    mtu = eno2->mtu();
  }
  EXPECT_EQ(mtu, 1500u);
}

}  // namespace
}  // namespace medic::agent
