// Runs the Linux probes on the fixture trees under tests/fixtures/{hardware,os,network}/<case>/
// and compares what they report with the case's expected.textproto (a medic.v1.Snapshot holding
// the expected reports and findings). A hardware case may hold standing.textproto: the findings
// standing before the collection (hysteresis).
//
// After a deliberate change of output, MEDIC_UPDATE_FIXTURES=1 rewrites expected.textproto from
// what the probes report; review the diff before committing it.

#include <cstdlib>
#include <fstream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "agent/probes/hardware/hardware_probes.h"
#include "agent/probes/network/network_probes.h"
#include "agent/probes/os/os_probes.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/support/fixture_file_system.h"
#include "tests/support/probe_harness.h"

namespace medic::agent {
namespace {

using medic::testing::FixtureFileSystem;

struct FixtureCase {
  std::string area;  // folder under tests/fixtures
  std::string name;  // the case's folder
};

void PrintTo(const FixtureCase& c, std::ostream* os) { *os << c.area << "/" << c.name; }

std::string CaseDir(const FixtureCase& c) {
  return std::string(MEDIC_FIXTURES) + "/" + c.area + "/" + c.name;
}

std::vector<std::unique_ptr<Probe>> ProbesFor(const std::string& area) {
  std::vector<std::unique_ptr<Probe>> probes;
  if (area == "hardware") {
    probes.push_back(NewCpuProbe());
    probes.push_back(NewMemoryProbe());
    probes.push_back(NewFilesystemsProbe());
  } else if (area == "os") {
    // Fixtures say nothing of uname(2): the architecture comes from /proc/sys/kernel/arch only.
    probes.push_back(NewOsProbe([] { return std::string(); }));
  } else if (area == "network") {
    probes.push_back(NewNetworkProbe());
  }
  return probes;
}

class ProbeFixtureTest : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(ProbeFixtureTest, ReportsWhatTheTreeHolds) {
  const std::string dir = CaseDir(GetParam());
  FixtureFileSystem fs(dir);
  common::FakeClock clock;  // 2023-11-14T22:13:20Z
  medic::v1::Snapshot standing;
  medic::testing::ReadTextProto(dir + "/standing.textproto", &standing);
  const std::vector<medic::v1::Finding> standing_findings(standing.findings().begin(),
                                                          standing.findings().end());

  medic::v1::Snapshot actual;
  for (std::unique_ptr<Probe>& probe : ProbesFor(GetParam().area)) {
    absl::StatusOr<ProbeOutput> output =
        medic::testing::Collect(*probe, fs, clock, {}, standing_findings);
    ASSERT_TRUE(output.ok()) << probe->name() << ": " << output.status();
    EXPECT_EQ(output->report.probe(), probe->name());
    *actual.add_reports() = output->report;
    for (const medic::v1::Finding& finding : output->findings) *actual.add_findings() = finding;
  }

  const std::string expected_path = dir + "/expected.textproto";
  if (std::getenv("MEDIC_UPDATE_FIXTURES") != nullptr) {
    std::string text;
    google::protobuf::TextFormat::PrintToString(actual, &text);
    std::ofstream(expected_path) << "# What the probes report on this case: a medic.v1.Snapshot "
                                    "of their reports and findings.\n"
                                 << text;
    GTEST_SKIP() << "rewrote " << expected_path;
  }
  medic::v1::Snapshot expected;
  ASSERT_TRUE(medic::testing::ReadTextProto(expected_path, &expected)) << expected_path;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.set_float_comparison(google::protobuf::util::MessageDifferencer::APPROXIMATE);
  std::string differences;
  differencer.ReportDifferencesToString(&differences);
  EXPECT_TRUE(differencer.Compare(expected, actual)) << expected_path << " differs:\n"
                                                     << differences;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ProbeFixtureTest,
    ::testing::Values(
        // 8-thread laptop, snaps, gvfs/portal FUSE, an exFAT USB disk with a space in its label:
        // everything healthy, no findings.
        FixtureCase{"hardware", "laptop_healthy"},
        // Server: /home at 3.1% free (critical), /var at 7.5% (warning), a bind mount of /srv
        // reported once, docker overlays ignored, an NFS backup share.
        FixtureCase{"hardware", "server_disk_critical"},
        // CentOS 6: old /proc/stat and meminfo (no MemAvailable), rootfs under /, only
        // /proc/mounts readable, /var/spool at 2% of inodes free (disk.inodes_low).
        FixtureCase{"hardware", "centos6_inodes_low"},
        // Standing findings: / critical at 6% holds, /data warning at 11% holds, /scratch at
        // 12.5% clears, /var/mail inodes at 11.5% hold, /tmp at 9.5% is newly raised.
        FixtureCase{"hardware", "hysteresis_standing"},
        // arm64 container: no model name, no swap, overlay root, /etc/hosts bind mounts of the
        // host disk, /proc and /sys masks not reported.
        FixtureCase{"hardware", "minimal_container"},
        // Debian 12 with /proc/sys/kernel/arch and a machine-id.
        FixtureCase{"os", "debian12_workstation"},
        // Ubuntu: only /usr/lib/os-release; kernel without the arch sysctl.
        FixtureCase{"os", "ubuntu2204_arm64_server"},
        // Alpine container: unquoted values, no machine-id.
        FixtureCase{"os", "alpine_container"},
        // No os-release at all (os-release(5) defaults), hostname "(none)", machine-id
        // "uninitialized" (left empty).
        FixtureCase{"os", "busybox_no_os_release"},
        // Laptop: wifi (phy80211) with IPv4 and SLAAC IPv6, unplugged ethernet (speed -1),
        // docker bridge with no carrier, systemd-resolved stub.
        FixtureCase{"network", "laptop_wifi_ethernet_docker"},
        // Server: 10G and 1G (jumbo) NICs, an administratively down port, bonding_masters,
        // static IPv6 with a router default, resolv.conf with comments and domain/search.
        FixtureCase{"network", "server_two_nics_ipv6"},
        // Container: a veth, IPv6 off (no /proc/net/if_inet6 or ipv6_route), docker's resolver.
        FixtureCase{"network", "minimal_container"}),
    [](const auto& info) { return info.param.area + "_" + info.param.name; });

}  // namespace
}  // namespace medic::agent
