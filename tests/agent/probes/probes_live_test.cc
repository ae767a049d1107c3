// Every probe on this very machine (RootedFileSystem("/")): the shapes a real kernel gives.

#include <string>

#include "agent/probes/registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/probe_harness.h"

namespace medic::agent {
namespace {

using ::testing::Contains;

class LiveProbesTest : public ::testing::Test {
 protected:
  absl::StatusOr<ProbeOutput> Run(std::string_view name) {
    for (ProbeEntry& entry : probes_) {
      if (entry.probe->name() == name) {
        return medic::testing::Collect(*entry.probe, fs_, common::RealClock::Get());
      }
    }
    return absl::NotFoundError(std::string(name));
  }

  common::RootedFileSystem fs_{"/"};
  std::vector<ProbeEntry> probes_ = NewProbes({});
};

TEST_F(LiveProbesTest, Cpu) {
  absl::StatusOr<ProbeOutput> output = Run("cpu");
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_GE(output->report.cpu().logical_cores(), 1u);
  EXPECT_GE(output->report.cpu().usage_pct(), 0.0);
  EXPECT_LE(output->report.cpu().usage_pct(), 100.0);
  EXPECT_GE(output->report.cpu().total_tasks(), 1u);
}

TEST_F(LiveProbesTest, Memory) {
  absl::StatusOr<ProbeOutput> output = Run("memory");
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_GT(output->report.memory().total_bytes(), 0u);
  EXPECT_LE(output->report.memory().available_bytes(), output->report.memory().total_bytes());
}

TEST_F(LiveProbesTest, FilesystemsIncludeRoot) {
  absl::StatusOr<ProbeOutput> output = Run("filesystems");
  ASSERT_TRUE(output.ok()) << output.status();
  std::vector<std::string> points;
  for (const medic::v1::Filesystem& f : output->report.filesystems().filesystems()) {
    points.push_back(f.mount_point());
    if (f.mount_point() == "/") {
      EXPECT_TRUE(f.error().empty()) << f.error();
      EXPECT_GT(f.total_bytes(), 0u);
    }
  }
  EXPECT_THAT(points, Contains("/"));
}

TEST_F(LiveProbesTest, Os) {
  absl::StatusOr<ProbeOutput> output = Run("os");
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_FALSE(output->report.os().name().empty());
  EXPECT_FALSE(output->report.os().hostname().empty());
  EXPECT_FALSE(output->report.os().kernel().empty());
  EXPECT_FALSE(output->report.os().architecture().empty());
  EXPECT_GT(output->report.os().uptime().seconds() + output->report.os().uptime().nanos(), 0);
}

TEST_F(LiveProbesTest, NetworkHasLoopback) {
  absl::StatusOr<ProbeOutput> output = Run("network");
  ASSERT_TRUE(output.ok()) << output.status();
  const medic::v1::NetworkInterface* lo = nullptr;
  for (const medic::v1::NetworkInterface& nic : output->report.network().interfaces()) {
    if (nic.name() == "lo") lo = &nic;
  }
  ASSERT_NE(lo, nullptr);
  EXPECT_TRUE(lo->loopback());
  EXPECT_TRUE(lo->up());
  EXPECT_THAT(lo->addresses(), Contains("127.0.0.1/8"));
}

}  // namespace
}  // namespace medic::agent
