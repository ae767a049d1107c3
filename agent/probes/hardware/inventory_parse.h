#pragma once

// Pure logic of the inventory probe: the CPU's shape from /proc/cpuinfo and the sysfs attribute
// formats of block, PCI and USB devices. No I/O; builds on every platform.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

// The CPU of /proc/cpuinfo: model (as ParseCpuInfo names it), logical cores ("processor"
// entries), sockets (distinct "physical id") and physical cores (distinct "physical id"/"core id"
// pairs). Sockets and physical cores stay 0 when the kernel does not say (arm64, most
// containers). InvalidArgument when there is no "processor" entry.
absl::StatusOr<medic::v1::InventoryCpu> ParseCpuInventory(std::string_view cpuinfo);

// A sysfs hexadecimal id ("0x8086\n", "046d\n") as four or six lower-case hex digits without
// "0x" ("8086", "030000"); nullopt when it is not hexadecimal.
std::optional<std::string> ParseSysfsId(std::string_view text);

// A block device's size from /sys/block/<dev>/size (512-byte sectors, whatever the device's own
// sector size) in bytes; nullopt when it is not a number.
std::optional<uint64_t> ParseBlockSize(std::string_view text);

// "Dell Inc. Latitude 7420": the machine as people name it, from DMI vendor and product name,
// without repeating a vendor the product name already starts with; empty when DMI says neither.
std::string MachineName(const medic::v1::DmiInfo& dmi);

}  // namespace medic::agent
