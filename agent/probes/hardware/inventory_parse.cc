#include "agent/probes/hardware/inventory_parse.h"

#include <set>
#include <utility>

#include "agent/probes/hardware/cpu_parse.h"
#include "agent/probes/text.h"

namespace medic::agent {

absl::StatusOr<medic::v1::InventoryCpu> ParseCpuInventory(std::string_view cpuinfo) {
  absl::StatusOr<CpuInfo> info = ParseCpuInfo(cpuinfo);
  if (!info.ok()) return info.status();
  medic::v1::InventoryCpu cpu;
  cpu.set_model(info->model);
  cpu.set_logical_cores(info->processors);

  // Each "processor" block names its socket and core; a block without them leaves both unknown.
  std::set<std::string> sockets;
  std::set<std::pair<std::string, std::string>> cores;
  std::string socket, core;
  bool complete = true;
  auto close_block = [&] {
    if (socket.empty() || core.empty()) {
      complete = false;
    } else {
      sockets.insert(socket);
      cores.emplace(socket, core);
    }
    socket.clear();
    core.clear();
  };
  bool in_block = false;
  for (std::string_view line : SplitLines(cpuinfo)) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = Trim(line.substr(0, colon));
    const std::string_view value = Trim(line.substr(colon + 1));
    if (key == "processor" || StartsWith(key, "processor ")) {
      if (in_block) close_block();
      in_block = true;
    } else if (key == "physical id") {
      socket = std::string(value);
    } else if (key == "core id") {
      core = std::string(value);
    }
  }
  if (in_block) close_block();
  if (complete) {
    cpu.set_sockets(static_cast<uint32_t>(sockets.size()));
    cpu.set_physical_cores(static_cast<uint32_t>(cores.size()));
  }
  return cpu;
}

std::optional<std::string> ParseSysfsId(std::string_view text) {
  text = Trim(text);
  if (!ConsumePrefix(&text, "0x")) ConsumePrefix(&text, "0X");
  uint64_t value = 0;
  if (!ParseHex(text, &value)) return std::nullopt;
  std::string id(text);
  for (char& c : id) c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
  return id;
}

std::optional<uint64_t> ParseBlockSize(std::string_view text) {
  uint64_t sectors = 0;
  if (!ParseInt(Trim(text), &sectors)) return std::nullopt;
  return sectors * 512;
}

std::string MachineName(const medic::v1::DmiInfo& dmi) {
  const std::string& vendor = dmi.sys_vendor();
  const std::string& product = dmi.product_name();
  if (vendor.empty()) return product;
  if (product.empty() || StartsWith(product, vendor)) return product.empty() ? vendor : product;
  return common::StrCat(vendor, " ", product);
}

}  // namespace medic::agent
