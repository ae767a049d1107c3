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
  ASSERT_THAT(Names(entries),
              ElementsAre("cpu", "memory", "filesystems", "os", "network", "thermal", "battery",
                          "hardware_errors", "reboot", "updates", "services", "time", "crashes",
                          "smart", "inventory", "connectivity", "printers", "agent"));
  EXPECT_EQ(Find(entries, "cpu").interval, absl::Seconds(15));
  EXPECT_EQ(Find(entries, "memory").interval, absl::Seconds(15));
  EXPECT_EQ(Find(entries, "filesystems").interval, absl::Seconds(60));
  EXPECT_EQ(Find(entries, "os").interval, absl::Seconds(300));
  EXPECT_EQ(Find(entries, "network").interval, absl::Seconds(60));
  EXPECT_EQ(Find(entries, "thermal").interval, absl::Seconds(60));
  EXPECT_EQ(Find(entries, "battery").interval, absl::Seconds(300));
  EXPECT_EQ(Find(entries, "hardware_errors").interval, absl::Seconds(60));
  for (const char* name : {"thermal", "battery", "hardware_errors"}) {
    EXPECT_EQ(Find(entries, name).deadline, absl::Seconds(2)) << name;
  }
  // Waits on other machines: its own thread, 5 s for every check together.
  EXPECT_EQ(Find(entries, "connectivity").interval, absl::Seconds(60));
  EXPECT_EQ(Find(entries, "connectivity").deadline, absl::Seconds(5));
  EXPECT_TRUE(Find(entries, "connectivity").slow);
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

  config.mutable_probes()->mutable_battery()->set_disabled(true);
  *config.mutable_probes()->mutable_thermal()->mutable_interval() =
      common::ToProtoDuration(absl::Seconds(30));

  std::vector<ProbeEntry> entries = NewProbes(config);
  ASSERT_THAT(Names(entries),
              ElementsAre("cpu", "memory", "filesystems", "network", "thermal", "hardware_errors",
                          "reboot", "updates", "services", "time", "crashes", "smart", "inventory",
                          "connectivity", "printers", "agent"));
  EXPECT_EQ(Find(entries, "thermal").interval, absl::Seconds(30));
  EXPECT_EQ(Find(entries, "hardware_errors").interval, absl::Seconds(60));
  EXPECT_EQ(Find(entries, "cpu").interval, absl::Seconds(5));
  EXPECT_EQ(Find(entries, "cpu").deadline, absl::Seconds(2));
  EXPECT_EQ(Find(entries, "filesystems").interval, absl::Seconds(60));
  EXPECT_EQ(Find(entries, "filesystems").deadline, absl::Milliseconds(500));
  EXPECT_EQ(Find(entries, "network").interval, absl::Seconds(60));
}

TEST(RegistryTest, OsChecksDefaultsAndOverrides) {
  std::vector<ProbeEntry> entries = NewProbes({});
  EXPECT_EQ(Find(entries, "reboot").interval, absl::Seconds(300));
  EXPECT_EQ(Find(entries, "updates").interval, absl::Seconds(3600));
  EXPECT_EQ(Find(entries, "updates").deadline, absl::Seconds(30));  // apt-get takes seconds
  EXPECT_EQ(Find(entries, "services").interval, absl::Seconds(60));
  EXPECT_EQ(Find(entries, "time").interval, absl::Seconds(300));
  EXPECT_EQ(Find(entries, "crashes").interval, absl::Seconds(300));
  for (const char* name : {"reboot", "services", "time", "crashes"}) {
    EXPECT_EQ(Find(entries, name).deadline, absl::Seconds(2)) << name;
  }

  medic::v1::AgentConfig config;
  *config.mutable_probes()->mutable_updates()->mutable_deadline() =
      common::ToProtoDuration(absl::Seconds(90));
  config.mutable_probes()->mutable_crashes()->set_disabled(true);
  entries = NewProbes(config);
  EXPECT_EQ(Find(entries, "updates").deadline, absl::Seconds(90));
  for (const ProbeEntry& e : entries) EXPECT_NE(e.probe->name(), "crashes");
}

TEST(RegistryTest, SmartIsSlowAndHourly) {
  std::vector<ProbeEntry> entries = NewProbes({});
  EXPECT_EQ(Find(entries, "smart").interval, absl::Seconds(3600));
  EXPECT_EQ(Find(entries, "smart").deadline, absl::Seconds(30));
  EXPECT_TRUE(Find(entries, "smart").slow);
  EXPECT_FALSE(Find(entries, "hardware_errors").slow);

  medic::v1::AgentConfig config;
  config.mutable_probes()->mutable_smart()->set_disabled(true);
  for (const ProbeEntry& e : NewProbes(config)) EXPECT_NE(e.probe->name(), "smart");
}

// The probes that run programs or read large logs never run on the fast thread.
TEST(RegistryTest, ProbesThatWaitRunOnTheSlowThread) {
  std::vector<ProbeEntry> entries = NewProbes({});
  for (const char* name : {"updates", "services", "time", "crashes", "smart", "printers"}) {
    EXPECT_TRUE(Find(entries, name).slow) << name;
  }
  EXPECT_EQ(Find(entries, "printers").interval, absl::Seconds(60));
  EXPECT_EQ(Find(entries, "printers").deadline, absl::Seconds(10));
  for (const char* name : {"cpu", "memory", "filesystems", "network", "os"}) {
    EXPECT_FALSE(Find(entries, name).slow) << name;
  }
}

// Inventory is cheap: hourly on the fast thread, with the default deadline.
TEST(RegistryTest, InventoryIsHourlyAndFast) {
  std::vector<ProbeEntry> entries = NewProbes({});
  EXPECT_EQ(Find(entries, "inventory").interval, absl::Seconds(3600));
  EXPECT_EQ(Find(entries, "inventory").deadline, absl::Seconds(2));
  EXPECT_FALSE(Find(entries, "inventory").slow);
}

TEST(RegistryTest, EachCallMakesNewProbes) {
  std::vector<ProbeEntry> a = NewProbes({});
  std::vector<ProbeEntry> b = NewProbes({});
  EXPECT_NE(a[0].probe.get(), b[0].probe.get());
}

}  // namespace
}  // namespace medic::agent

namespace medic::agent {
namespace {

// `medic-agent --probes printers,network`: only those run.
TEST(KeepOnlyProbesTest, DisablesEveryOtherProbe) {
  medic::v1::AgentConfig config;
  ASSERT_TRUE(KeepOnlyProbes({"printers", "network"}, config.mutable_probes()).ok());
  EXPECT_THAT(Names(NewProbes(config)), ElementsAre("network", "printers"));
}

TEST(KeepOnlyProbesTest, UnknownNameIsRefusedNamingTheProbes) {
  medic::v1::AgentConfig config;
  const absl::Status status = KeepOnlyProbes({"printer"}, config.mutable_probes());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              ::testing::StartsWith("no probe is called 'printer'; the probes are cpu, memory"));
  EXPECT_FALSE(config.probes().cpu().disabled());  // nothing changed
}

}  // namespace
}  // namespace medic::agent
