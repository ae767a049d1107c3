#include "agent/probes/registry.h"

#include <string>
#include <vector>

#include "common/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::agent {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> Names(const std::vector<ProbeEntry>& entries) {
  std::vector<std::string> names;
  for (const ProbeEntry& e : entries) names.emplace_back(e.probe->name());
  return names;
}

const ProbeEntry& Find(const std::vector<ProbeEntry>& entries, std::string_view name) {
  for (const ProbeEntry& e : entries) {
    if (e.probe->name() == name) return e;
  }
  ADD_FAILURE() << "no probe " << name;
  return entries.front();
}

TEST(RegistryTest, DefaultsEveryProbeInOrder) {
  std::vector<ProbeEntry> entries = NewProbes({});
  ASSERT_THAT(Names(entries), ElementsAre("cpu", "memory", "filesystems", "os", "network"));
  EXPECT_EQ(Find(entries, "cpu").interval, absl::Seconds(15));
  EXPECT_EQ(Find(entries, "memory").interval, absl::Seconds(15));
  EXPECT_EQ(Find(entries, "filesystems").interval, absl::Seconds(60));
  EXPECT_EQ(Find(entries, "os").interval, absl::Seconds(300));
  EXPECT_EQ(Find(entries, "network").interval, absl::Seconds(60));
  for (const ProbeEntry& e : entries) EXPECT_EQ(e.deadline, absl::Seconds(2)) << e.probe->name();
}

TEST(RegistryTest, ConfigOverridesAndDisables) {
  medic::v1::AgentConfig config;
  *config.mutable_probes()->mutable_cpu()->mutable_interval() =
      common::ToProtoDuration(absl::Seconds(5));
  *config.mutable_probes()->mutable_filesystems()->mutable_deadline() =
      common::ToProtoDuration(absl::Milliseconds(500));
  config.mutable_probes()->mutable_os()->set_disabled(true);
  // A zero interval is not a schedule: the default stays.
  *config.mutable_probes()->mutable_network()->mutable_interval() =
      common::ToProtoDuration(absl::ZeroDuration());

  std::vector<ProbeEntry> entries = NewProbes(config);
  ASSERT_THAT(Names(entries), ElementsAre("cpu", "memory", "filesystems", "network"));
  EXPECT_EQ(Find(entries, "cpu").interval, absl::Seconds(5));
  EXPECT_EQ(Find(entries, "cpu").deadline, absl::Seconds(2));
  EXPECT_EQ(Find(entries, "filesystems").interval, absl::Seconds(60));
  EXPECT_EQ(Find(entries, "filesystems").deadline, absl::Milliseconds(500));
  EXPECT_EQ(Find(entries, "network").interval, absl::Seconds(60));
}

TEST(RegistryTest, EachCallMakesNewProbes) {
  std::vector<ProbeEntry> a = NewProbes({});
  std::vector<ProbeEntry> b = NewProbes({});
  EXPECT_NE(a[0].probe.get(), b[0].probe.get());
}

}  // namespace
}  // namespace medic::agent
