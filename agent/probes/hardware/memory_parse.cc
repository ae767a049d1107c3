#include "agent/probes/hardware/memory_parse.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "agent/probes/text.h"

namespace medic::agent {
namespace {

constexpr std::string_view kKeys[] = {"MemTotal", "MemFree",   "MemAvailable", "Buffers",
                                      "Cached",   "SwapTotal", "SwapFree"};

bool IsKnownKey(std::string_view key) {
  for (std::string_view known : kKeys) {
    if (key == known) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<medic::v1::MemoryStatus> ParseMemInfo(std::string_view text) {
  std::map<std::string, uint64_t, std::less<>> bytes;
  for (std::string_view line : SplitLines(text)) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, colon);
    if (!IsKnownKey(key)) continue;
    std::string_view value = Trim(line.substr(colon + 1));
    const bool in_kb = ConsumeSuffix(&value, "kB");
    uint64_t number = 0;
    if (!ParseInt(Trim(value), &number)) {
      return absl::InvalidArgumentError(common::StrCat(
          "/proc/meminfo: ", key, " is not a number: \"", line.substr(colon + 1), "\""));
    }
    bytes[std::string(key)] = in_kb ? number * 1024 : number;
  }
  auto get = [&bytes](std::string_view key) -> uint64_t {
    auto it = bytes.find(key);
    return it == bytes.end() ? 0 : it->second;
  };
  if (!bytes.contains("MemTotal")) {
    return absl::InvalidArgumentError("/proc/meminfo: MemTotal is missing");
  }
  medic::v1::MemoryStatus status;
  status.set_total_bytes(get("MemTotal"));
  status.set_buffers_bytes(get("Buffers"));
  status.set_cached_bytes(get("Cached"));
  status.set_swap_total_bytes(get("SwapTotal"));
  status.set_swap_free_bytes(get("SwapFree"));
  const uint64_t available = bytes.contains("MemAvailable")
                                 ? get("MemAvailable")
                                 : get("MemFree") + get("Buffers") + get("Cached");
  status.set_available_bytes(std::min(available, status.total_bytes()));
  status.set_used_bytes(status.total_bytes() - status.available_bytes());
  return status;
}

}  // namespace medic::agent
