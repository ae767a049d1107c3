#include "agent/probes/hardware/inventory_parse.h"

#include <string>

#include "gtest/gtest.h"

namespace medic::agent {
namespace {

TEST(ParseCpuInventoryTest, Table) {
  struct Row {
    const char* what;
    const char* cpuinfo;
    uint32_t logical, physical, sockets;
    const char* model;
  };
  const Row rows[] = {
      {"laptop: 2 threads per core, one socket",
       "processor\t: 0\nmodel name\t: i7\nphysical id\t: 0\ncore id\t\t: 0\n\n"
       "processor\t: 1\nmodel name\t: i7\nphysical id\t: 0\ncore id\t\t: 1\n\n"
       "processor\t: 2\nmodel name\t: i7\nphysical id\t: 0\ncore id\t\t: 0\n\n"
       "processor\t: 3\nmodel name\t: i7\nphysical id\t: 0\ncore id\t\t: 1\n",
       4, 2, 1, "i7"},
      {"two-socket server: core ids repeat in each socket",
       "processor : 0\nmodel name : Xeon\nphysical id : 0\ncore id : 0\n\n"
       "processor : 1\nmodel name : Xeon\nphysical id : 1\ncore id : 0\n",
       2, 2, 2, "Xeon"},
      {"arm64: no model, no topology lines: unknown, not 0 of something",
       "processor\t: 0\nBogoMIPS\t: 48.00\n\nprocessor\t: 1\nBogoMIPS\t: 48.00\n", 2, 0, 0, ""},
      {"a block without core id makes the topology unknown",
       "processor : 0\nphysical id : 0\ncore id : 0\n\nprocessor : 1\nphysical id : 0\n", 2, 0, 0,
       ""},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.what);
    absl::StatusOr<medic::v1::InventoryCpu> cpu = ParseCpuInventory(row.cpuinfo);
    ASSERT_TRUE(cpu.ok()) << cpu.status();
    EXPECT_EQ(cpu->logical_cores(), row.logical);
    EXPECT_EQ(cpu->physical_cores(), row.physical);
    EXPECT_EQ(cpu->sockets(), row.sockets);
    EXPECT_EQ(cpu->model(), row.model);
  }
  // Not a cpuinfo at all.
  EXPECT_EQ(ParseCpuInventory("MemTotal: 1 kB\n").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseSysfsIdTest, Table) {
  EXPECT_EQ(ParseSysfsId("0x8086\n"), "8086");      // PCI vendor
  EXPECT_EQ(ParseSysfsId("0x030000\n"), "030000");  // PCI class keeps its leading zero
  EXPECT_EQ(ParseSysfsId("046d\n"), "046d");        // USB idVendor has no 0x
  EXPECT_EQ(ParseSysfsId("0x9A49"), "9a49");        // lower case
  EXPECT_EQ(ParseSysfsId(""), std::nullopt);
  EXPECT_EQ(ParseSysfsId("Logitech"), std::nullopt);
}

TEST(ParseBlockSizeTest, SectorsOf512Bytes) {
  EXPECT_EQ(ParseBlockSize("1000215216\n"), 512110190592u);  // a 512 GB NVMe
  EXPECT_EQ(ParseBlockSize("0\n"), 0u);                      // empty card reader
  EXPECT_EQ(ParseBlockSize("-1"), std::nullopt);
  EXPECT_EQ(ParseBlockSize(""), std::nullopt);
}

TEST(MachineNameTest, VendorAndProduct) {
  auto name = [](const char* vendor, const char* product) {
    medic::v1::DmiInfo dmi;
    dmi.set_sys_vendor(vendor);
    dmi.set_product_name(product);
    return MachineName(dmi);
  };
  EXPECT_EQ(name("Dell Inc.", "Latitude 7420"), "Dell Inc. Latitude 7420");
  EXPECT_EQ(name("HP", "HP EliteBook 840 G8 Notebook PC"), "HP EliteBook 840 G8 Notebook PC");
  EXPECT_EQ(name("LENOVO", ""), "LENOVO");
  EXPECT_EQ(name("", "Standard PC (Q35 + ICH9, 2009)"), "Standard PC (Q35 + ICH9, 2009)");
  EXPECT_EQ(name("", ""), "");
}

}  // namespace
}  // namespace medic::agent
