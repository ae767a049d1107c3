// A source a probe cannot do without that fails to read, or reads as garbage, makes the probe
// fail with a status naming the path: never an empty report.

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "agent/probes/hardware/hardware_probes.h"
#include "agent/probes/network/network_probes.h"
#include "agent/probes/os/os_probes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/faulty_file_system.h"
#include "tests/support/fixture_file_system.h"
#include "tests/support/probe_harness.h"

namespace medic::agent {
namespace {

using medic::testing::Collect;
using medic::testing::FaultyFileSystem;
using medic::testing::FixtureFileSystem;
using ::testing::HasSubstr;

struct FailureCase {
  std::string name;
  std::function<std::unique_ptr<Probe>()> make;
  std::string fixture;   // case folder under tests/fixtures
  std::string path;      // the source that fails
  std::string contents;  // empty: reading fails with PermissionDenied; else the file reads this
  absl::StatusCode code;
};

void PrintTo(const FailureCase& c, std::ostream* os) { *os << c.name; }

class ProbeFailureTest : public ::testing::TestWithParam<FailureCase> {};

TEST_P(ProbeFailureTest, FailsNamingThePath) {
  const FailureCase& c = GetParam();
  FixtureFileSystem fixture(std::string(MEDIC_FIXTURES) + "/" + c.fixture);
  FaultyFileSystem fs(fixture);
  if (c.contents.empty()) {
    // The message does not name the path: the probe must add it.
    fs.Fail(c.path, absl::PermissionDeniedError("Permission denied"));
  } else {
    fs.SetFile(c.path, c.contents);
  }
  common::FakeClock clock;
  std::unique_ptr<Probe> probe = c.make();
  absl::StatusOr<ProbeOutput> output = Collect(*probe, fs, clock);
  ASSERT_FALSE(output.ok()) << "an empty or partial report instead of an error";
  EXPECT_EQ(output.status().code(), c.code);
  EXPECT_THAT(std::string(output.status().message()), HasSubstr(c.path));
}

auto Cpu = [] { return NewCpuProbe(); };
auto Memory = [] { return NewMemoryProbe(); };
auto Filesystems = [] { return NewFilesystemsProbe(); };
auto Os = [] { return NewOsProbe([] { return std::string(); }); };
auto Network = [] { return NewNetworkProbe(); };
auto Inventory = [] { return NewInventoryProbe(); };
constexpr auto kDenied = absl::StatusCode::kPermissionDenied;
constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

INSTANTIATE_TEST_SUITE_P(
    Rows, ProbeFailureTest,
    ::testing::Values(
        // cpu: /proc/stat unreadable.
        FailureCase{"cpu_stat_denied", Cpu, "hardware/laptop_healthy", "/proc/stat", "", kDenied},
        // cpu: /proc/loadavg unreadable.
        FailureCase{"cpu_loadavg_denied", Cpu, "hardware/laptop_healthy", "/proc/loadavg", "",
                    kDenied},
        // cpu: /proc/stat cut off before the aggregate line.
        FailureCase{"cpu_stat_garbage", Cpu, "hardware/laptop_healthy", "/proc/stat",
                    "intr 1 2 3\n", kInvalid},
        // memory: /proc/meminfo unreadable.
        FailureCase{"memory_denied", Memory, "hardware/laptop_healthy", "/proc/meminfo", "",
                    kDenied},
        // memory: no MemTotal.
        FailureCase{"memory_garbage", Memory, "hardware/laptop_healthy", "/proc/meminfo",
                    "MemFree: 12 kB\n", kInvalid},
        // memory: a PSI file that is there but is not PSI.
        FailureCase{"memory_psi_garbage", Memory, "hardware/desktop_memory_pressure",
                    "/proc/pressure/memory", "some avg10=high\n", kInvalid},
        // cpu: likewise for /proc/pressure/cpu.
        FailureCase{"cpu_psi_garbage", Cpu, "hardware/desktop_memory_pressure",
                    "/proc/pressure/cpu", "nothing here\n", kInvalid},
        // filesystems: /proc/self/mounts unreadable and no /proc/mounts to fall back on.
        FailureCase{"filesystems_mounts_denied", Filesystems, "hardware/laptop_healthy",
                    "/proc/self/mounts", "", kDenied},
        // filesystems: a mount table line cut short.
        FailureCase{"filesystems_mounts_garbage", Filesystems, "hardware/laptop_healthy",
                    "/proc/self/mounts", "/dev/sda1 /\n", kInvalid},
        // os: hostname unreadable.
        FailureCase{"os_hostname_denied", Os, "os/debian12_workstation",
                    "/proc/sys/kernel/hostname", "", kDenied},
        // os: kernel release unreadable.
        FailureCase{"os_osrelease_denied", Os, "os/debian12_workstation",
                    "/proc/sys/kernel/osrelease", "", kDenied},
        // os: uptime unreadable.
        FailureCase{"os_uptime_denied", Os, "os/debian12_workstation", "/proc/uptime", "", kDenied},
        // os: an os-release with a broken quote.
        FailureCase{"os_release_garbage", Os, "os/debian12_workstation", "/etc/os-release",
                    "PRETTY_NAME=\"Debian\n", kInvalid},
        // network: the interface list unreadable.
        FailureCase{"network_sysfs_denied", Network, "network/server_two_nics_ipv6",
                    "/sys/class/net", "", kDenied},
        // network: the IPv4 routing table unreadable.
        FailureCase{"network_route_denied", Network, "network/server_two_nics_ipv6",
                    "/proc/net/route", "", kDenied},
        // network: fib_trie unreadable.
        FailureCase{"network_fib_trie_denied", Network, "network/server_two_nics_ipv6",
                    "/proc/net/fib_trie", "", kDenied},
        // network: if_inet6 present but malformed.
        FailureCase{"network_if_inet6_garbage", Network, "network/server_two_nics_ipv6",
                    "/proc/net/if_inet6", "not an address\n", kInvalid},
        // network: a nameserver line without its address.
        FailureCase{"network_resolv_garbage", Network, "network/server_two_nics_ipv6",
                    "/etc/resolv.conf", "nameserver\n", kInvalid},
        // inventory: /proc/cpuinfo unreadable.
        FailureCase{"inventory_cpuinfo_denied", Inventory, "inventory/laptop_inventory",
                    "/proc/cpuinfo", "", kDenied},
        // inventory: /proc/meminfo without MemTotal.
        FailureCase{"inventory_meminfo_garbage", Inventory, "inventory/laptop_inventory",
                    "/proc/meminfo", "MemFree: 12 kB\n", kInvalid}),
    [](const auto& info) { return info.param.name; });

TEST(FilesystemsProbeFallbackTest, ReadsProcMountsWhenProcSelfMountsFails) {
  FixtureFileSystem fixture(std::string(MEDIC_FIXTURES) + "/hardware/laptop_healthy");
  FaultyFileSystem fs(fixture);
  fs.Fail("/proc/self/mounts", absl::PermissionDeniedError("Permission denied"));
  fs.SetFile("/proc/mounts", *fixture.ReadFile("/proc/self/mounts"));
  common::FakeClock clock;
  std::unique_ptr<Probe> probe = NewFilesystemsProbe();
  absl::StatusOr<ProbeOutput> output = Collect(*probe, fs, clock);
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_EQ(output->report.filesystems().filesystems_size(), 8);
}

TEST(FilesystemsProbeFallbackTest, BothTablesFailingNamesBoth) {
  FixtureFileSystem fixture(std::string(MEDIC_FIXTURES) + "/hardware/laptop_healthy");
  FaultyFileSystem fs(fixture);
  fs.Fail("/proc/self/mounts", absl::PermissionDeniedError("Permission denied"));
  common::FakeClock clock;
  std::unique_ptr<Probe> probe = NewFilesystemsProbe();
  absl::StatusOr<ProbeOutput> output = Collect(*probe, fs, clock);
  ASSERT_FALSE(output.ok());
  EXPECT_THAT(std::string(output.status().message()), HasSubstr("/proc/self/mounts"));
  EXPECT_THAT(std::string(output.status().message()), HasSubstr("/proc/mounts"));
}

}  // namespace
}  // namespace medic::agent
