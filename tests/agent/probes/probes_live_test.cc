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
        return medic::testing::CollectWithCommands(
            *entry.probe, fs_, commands_, common::RealClock::Get(), {}, {}, entry.deadline);
      }
    }
    return absl::NotFoundError(std::string(name));
  }

  common::RootedFileSystem fs_{"/"};
  common::RealCommandRunner commands_;
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

// apt exists on the build machines: the simulated upgrade really runs (1–3 s).
TEST_F(LiveProbesTest, UpdatesCountsAptUpgrades) {
  absl::StatusOr<ProbeOutput> output = Run("updates");
  ASSERT_TRUE(output.ok()) << output.status();
  const medic::v1::UpdatesStatus& updates = output->report.updates();
  EXPECT_EQ(updates.package_manager(), "apt");
  EXPECT_TRUE(updates.supported());
  EXPECT_GE(updates.pending(), updates.security());
  EXPECT_EQ(static_cast<uint32_t>(updates.packages_size()), updates.pending());
  EXPECT_EQ(output->findings.empty(), updates.pending() == 0);
}

// PID 1 is not systemd on the build machines: data, no finding.
TEST_F(LiveProbesTest, ServicesSaySystemdIsNotRunning) {
  absl::StatusOr<ProbeOutput> output = Run("services");
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_FALSE(output->report.services().systemd_running());
  EXPECT_EQ(output->report.services().note(), "systemd not running");
  EXPECT_TRUE(output->findings.empty());
}

// Whatever the source (timedatectl fails without D-Bus, so chrony or adjtimex), it answers.
TEST_F(LiveProbesTest, TimeHasASource) {
  absl::StatusOr<ProbeOutput> output = Run("time");
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_FALSE(output->report.time().source().empty()) << output->report.time().detail();
}

TEST_F(LiveProbesTest, RebootAndCrashes) {
  absl::StatusOr<ProbeOutput> reboot = Run("reboot");
  ASSERT_TRUE(reboot.ok()) << reboot.status();
  EXPECT_FALSE(reboot->report.reboot().running_kernel().empty());
  absl::StatusOr<ProbeOutput> crashes = Run("crashes");
  ASSERT_TRUE(crashes.ok()) << crashes.status();
  EXPECT_TRUE(crashes->report.has_crashes());
}

// This machine's kernel has PSI and oom_kill when the files are there: the report carries them.
TEST_F(LiveProbesTest, MemoryPressureWhenTheKernelHasIt) {
  absl::StatusOr<ProbeOutput> output = Run("memory");
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_EQ(output->report.memory().has_pressure(), fs_.Exists("/proc/pressure/memory"));
  const medic::v1::Pressure& p = output->report.memory().pressure();
  EXPECT_GE(p.some_avg60(), p.full_avg60());  // all tasks stalled implies some did
  EXPECT_LE(p.some_avg60(), 100.0);
}

// A VM without hwmon or thermal zones: "no sensors" is data and the probe succeeds.
TEST_F(LiveProbesTest, ThermalSaysWhetherThereAreSensors) {
  absl::StatusOr<ProbeOutput> output = Run("thermal");
  ASSERT_TRUE(output.ok()) << output.status();
  ASSERT_TRUE(output->report.has_thermal());
  const medic::v1::ThermalStatus& thermal = output->report.thermal();
  EXPECT_EQ(thermal.sensors_present(), thermal.sensors_size() > 0);
  if (!fs_.Exists("/sys/class/hwmon") && !fs_.Exists("/sys/class/thermal/thermal_zone0")) {
    EXPECT_FALSE(thermal.sensors_present());
    EXPECT_TRUE(output->findings.empty());
  }
  for (const medic::v1::TemperatureSensor& sensor : thermal.sensors()) {
    EXPECT_NE(sensor.name().find('/'), std::string::npos) << sensor.name();
    EXPECT_GT(sensor.celsius(), -60) << sensor.name();
    EXPECT_LT(sensor.celsius(), 150) << sensor.name();
  }
}

TEST_F(LiveProbesTest, BatterySaysWhetherThereIsOne) {
  absl::StatusOr<ProbeOutput> output = Run("battery");
  ASSERT_TRUE(output.ok()) << output.status();
  ASSERT_TRUE(output->report.has_battery());
  const medic::v1::BatteryStatus& battery = output->report.battery();
  EXPECT_EQ(battery.battery_present(), battery.batteries_size() > 0);
  absl::StatusOr<std::vector<std::string>> supplies = fs_.ListDir("/sys/class/power_supply");
  if (!supplies.ok() || supplies->empty()) {
    EXPECT_FALSE(battery.battery_present());
    EXPECT_TRUE(output->findings.empty());
  }
}

TEST_F(LiveProbesTest, HardwareErrorsReportWhatExists) {
  absl::StatusOr<ProbeOutput> output = Run("hardware_errors");
  ASSERT_TRUE(output.ok()) << output.status();
  ASSERT_TRUE(output->report.has_hardware_errors());
  const medic::v1::HardwareErrorsStatus& errors = output->report.hardware_errors();
  EXPECT_EQ(errors.edac_present(), fs_.Exists("/sys/devices/system/edac/mc"));
  if (!errors.edac_present()) {
    EXPECT_EQ(errors.memory_controllers_size(), 0);
  }
  for (const medic::v1::DiskErrors& disk : errors.disks()) EXPECT_FALSE(disk.device().empty());
}

// The virtio disk of the build machines has no SMART: data, never a finding; loop and zram
// devices are not disks. Whether smartctl is installed or not, the probe succeeds.
TEST_F(LiveProbesTest, SmartReportsTheDisksItCanRead) {
  absl::StatusOr<ProbeOutput> output = Run("smart");
  ASSERT_TRUE(output.ok()) << output.status();
  ASSERT_TRUE(output->report.has_smart());
  const medic::v1::SmartStatus& smart = output->report.smart();
  EXPECT_TRUE(smart.disks_size() > 0 || !smart.note().empty());
  for (const medic::v1::SmartDisk& disk : smart.disks()) {
    EXPECT_EQ(disk.device().rfind("/dev/", 0), 0u) << disk.device();
    EXPECT_EQ(disk.device().find("/dev/loop"), std::string::npos);
    EXPECT_EQ(disk.device().find("/dev/zram"), std::string::npos);
    if (disk.device().rfind("/dev/vd", 0) == 0) {
      EXPECT_EQ(disk.note(), "no SMART on this device");
    }
  }
  if (fs_.Exists("/sys/block/vda")) {
    EXPECT_THAT(smart.disks(),
                Contains(::testing::Property(&medic::v1::SmartDisk::device, "/dev/vda")))
        << smart.note();
    EXPECT_TRUE(output->findings.empty());
  }
}

// The build machines have PCI devices (lspci lists them) and a virtio disk, no DMI and no USB.
TEST_F(LiveProbesTest, InventoryListsThisMachine) {
  absl::StatusOr<ProbeOutput> output = Run("inventory");
  ASSERT_TRUE(output.ok()) << output.status();
  ASSERT_TRUE(output->report.has_inventory());
  const medic::v1::InventoryStatus& inventory = output->report.inventory();
  EXPECT_GE(inventory.cpu().logical_cores(), 1u);
  EXPECT_GT(inventory.memory_bytes(), 0u);
  absl::StatusOr<std::vector<std::string>> pci = fs_.ListDir("/sys/bus/pci/devices");
  EXPECT_EQ(inventory.pci_devices_size(), pci.ok() ? static_cast<int>(pci->size()) : 0);
  for (const medic::v1::PciDevice& device : inventory.pci_devices()) {
    EXPECT_EQ(device.vendor_id().size(), 4u) << device.address();
    EXPECT_EQ(device.class_id().size(), 6u) << device.address();
  }
  EXPECT_EQ(inventory.has_dmi(), fs_.Exists("/sys/class/dmi/id"));
  for (const medic::v1::InventoryDisk& disk : inventory.disks()) {
    EXPECT_EQ(disk.device().find("loop"), std::string::npos);
    if (disk.device() == "vda") {
      EXPECT_GT(disk.size_bytes(), 0u);
    }
  }
  EXPECT_TRUE(output->findings.empty());
}

}  // namespace
}  // namespace medic::agent
