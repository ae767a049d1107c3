// The inventory probe on Linux: /proc/cpuinfo, /proc/meminfo, /sys/block, /sys/bus/pci,
// /sys/bus/usb and /sys/class/dmi/id.

#include <algorithm>
#include <optional>

#include "agent/probes/hardware/hardware_probes.h"
#include "agent/probes/hardware/inventory_parse.h"
#include "agent/probes/hardware/memory_parse.h"
#include "agent/probes/hardware/smart_parse.h"
#include "agent/probes/probe_util.h"
#include "agent/probes/text.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"

namespace medic::agent {
namespace {

constexpr std::string_view kCpuInfo = "/proc/cpuinfo";
constexpr std::string_view kMemInfo = "/proc/meminfo";
constexpr std::string_view kBlock = "/sys/block";
constexpr std::string_view kPci = "/sys/bus/pci/devices";
constexpr std::string_view kUsb = "/sys/bus/usb/devices";
constexpr std::string_view kDmi = "/sys/class/dmi/id";

// The entries of `dir` (sorted, as ListDir gives them); none when it is missing.
std::vector<std::string> Entries(const common::FileSystem& fs, std::string_view dir) {
  absl::StatusOr<std::vector<std::string>> entries = fs.ListDir(dir);
  if (!entries.ok()) return {};
  return *std::move(entries);
}

std::string Id(const common::FileSystem& fs, const std::string& path) {
  std::optional<std::string> text = ReadOptional(fs, path);
  if (!text) return {};
  return ParseSysfsId(*text).value_or(std::string());
}

void ReadDisks(const common::FileSystem& fs, medic::v1::InventoryStatus& body) {
  for (const std::string& name : Entries(fs, kBlock)) {
    if (ClassifyBlockDevice(name) == SmartCandidate::kSkip) continue;
    const std::string dir = common::StrCat(kBlock, "/", name);
    medic::v1::InventoryDisk& disk = *body.add_disks();
    disk.set_device(name);
    disk.set_vendor(ReadAttribute(fs, dir + "/device/vendor").value_or(""));
    disk.set_model(ReadAttribute(fs, dir + "/device/model").value_or(""));
    std::string serial = ReadAttribute(fs, dir + "/device/serial").value_or("");
    if (serial.empty()) serial = ReadAttribute(fs, dir + "/device/wwid").value_or("");
    if (serial.empty()) serial = ReadAttribute(fs, dir + "/wwid").value_or("");
    disk.set_serial(serial);
    if (std::optional<std::string> size = ReadOptional(fs, dir + "/size")) {
      disk.set_size_bytes(ParseBlockSize(*size).value_or(0));
    }
    disk.set_removable(ReadAttribute(fs, dir + "/removable").value_or("") == "1");
  }
}

void ReadPci(const common::FileSystem& fs, medic::v1::InventoryStatus& body) {
  for (const std::string& address : Entries(fs, kPci)) {
    const std::string dir = common::StrCat(kPci, "/", address);
    medic::v1::PciDevice& device = *body.add_pci_devices();
    device.set_address(address);
    device.set_vendor_id(Id(fs, dir + "/vendor"));
    device.set_device_id(Id(fs, dir + "/device"));
    device.set_class_id(Id(fs, dir + "/class"));
  }
}

void ReadUsb(const common::FileSystem& fs, medic::v1::InventoryStatus& body) {
  for (const std::string& name : Entries(fs, kUsb)) {
    const std::string dir = common::StrCat(kUsb, "/", name);
    // Interfaces ("1-2:1.0") have no idVendor: only devices are listed.
    std::string vendor = Id(fs, dir + "/idVendor");
    if (vendor.empty()) continue;
    medic::v1::UsbDevice& device = *body.add_usb_devices();
    device.set_bus_id(name);
    device.set_vendor_id(std::move(vendor));
    device.set_product_id(Id(fs, dir + "/idProduct"));
    device.set_manufacturer(ReadAttribute(fs, dir + "/manufacturer").value_or(""));
    device.set_product(ReadAttribute(fs, dir + "/product").value_or(""));
  }
}

void ReadDmi(const common::FileSystem& fs, medic::v1::InventoryStatus& body) {
  if (!fs.Exists(kDmi)) return;
  medic::v1::DmiInfo& dmi = *body.mutable_dmi();
  const std::string dir(kDmi);
  dmi.set_sys_vendor(ReadAttribute(fs, dir + "/sys_vendor").value_or(""));
  dmi.set_product_name(ReadAttribute(fs, dir + "/product_name").value_or(""));
  dmi.set_product_serial(ReadAttribute(fs, dir + "/product_serial").value_or(""));  // root only
  dmi.set_bios_version(ReadAttribute(fs, dir + "/bios_version").value_or(""));
  dmi.set_bios_date(ReadAttribute(fs, dir + "/bios_date").value_or(""));
  dmi.set_board_vendor(ReadAttribute(fs, dir + "/board_vendor").value_or(""));
}

class InventoryProbe : public Probe {
 public:
  std::string_view name() const override { return "inventory"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    ProbeOutput output;
    output.report.set_probe(std::string(name()));
    medic::v1::InventoryStatus& body = *output.report.mutable_inventory();

    ASSIGN_OR_RETURN(*body.mutable_cpu(), ReadAndParse(ctx.fs, kCpuInfo, ParseCpuInventory));
    ASSIGN_OR_RETURN(medic::v1::MemoryStatus memory, ReadAndParse(ctx.fs, kMemInfo, ParseMemInfo));
    body.set_memory_bytes(memory.total_bytes());
    ReadDisks(ctx.fs, body);
    ReadPci(ctx.fs, body);
    ReadUsb(ctx.fs, body);
    ReadDmi(ctx.fs, body);
    return output;
  }
};

}  // namespace

std::unique_ptr<Probe> NewInventoryProbe() { return std::make_unique<InventoryProbe>(); }

}  // namespace medic::agent
