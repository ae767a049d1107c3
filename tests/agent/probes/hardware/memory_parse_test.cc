#include "agent/probes/hardware/memory_parse.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::agent {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kKiB = 1024;

struct MemInfoCase {
  std::string name;
  std::string text;
  bool ok;
  uint64_t total = 0, available = 0, used = 0, swap_total = 0, swap_free = 0, cached = 0,
           buffers = 0;
  std::string error = {};
};

class MemInfoTest : public ::testing::TestWithParam<MemInfoCase> {};

TEST_P(MemInfoTest, Parses) {
  const MemInfoCase& c = GetParam();
  absl::StatusOr<medic::v1::MemoryStatus> memory = ParseMemInfo(c.text);
  if (!c.ok) {
    ASSERT_FALSE(memory.ok());
    EXPECT_EQ(memory.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(memory.status().message(), HasSubstr(c.error));
    return;
  }
  ASSERT_TRUE(memory.ok()) << memory.status();
  EXPECT_EQ(memory->total_bytes(), c.total);
  EXPECT_EQ(memory->available_bytes(), c.available);
  EXPECT_EQ(memory->used_bytes(), c.used);
  EXPECT_EQ(memory->swap_total_bytes(), c.swap_total);
  EXPECT_EQ(memory->swap_free_bytes(), c.swap_free);
  EXPECT_EQ(memory->cached_bytes(), c.cached);
  EXPECT_EQ(memory->buffers_bytes(), c.buffers);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, MemInfoTest,
    ::testing::Values(
        // A 5.x/6.x kernel: MemAvailable is used as it is; kB become bytes; count-valued keys
        // (HugePages_Total) and unknown keys are ignored.
        MemInfoCase{"modern",
                    "MemTotal:       16303756 kB\nMemFree:         1203400 kB\n"
                    "MemAvailable:    9876544 kB\nBuffers:          412000 kB\n"
                    "Cached:          7002000 kB\nSwapCached:         1200 kB\n"
                    "SwapTotal:       2097148 kB\nSwapFree:        2000000 kB\n"
                    "HugePages_Total:       0\nHugepagesize:       2048 kB\n",
                    true, 16303756 * kKiB, 9876544 * kKiB, (16303756 - 9876544) * kKiB,
                    2097148 * kKiB, 2000000 * kKiB, 7002000 * kKiB, 412000 * kKiB},
        // CentOS 6 (2.6.32): no MemAvailable, so MemFree + Buffers + Cached.
        MemInfoCase{"old_kernel_no_memavailable",
                    "MemTotal:        8061216 kB\nMemFree:          512000 kB\n"
                    "Buffers:          256000 kB\nCached:          2048000 kB\n"
                    "SwapCached:            0 kB\nSwapTotal:       4194296 kB\n"
                    "SwapFree:        4194296 kB\n",
                    true, 8061216 * kKiB, 2816000 * kKiB, (8061216 - 2816000) * kKiB,
                    4194296 * kKiB, 4194296 * kKiB, 2048000 * kKiB, 256000 * kKiB},
        // No swap configured: swap stays 0, that is data.
        MemInfoCase{"no_swap",
                    "MemTotal:       24684092 kB\nMemFree:        24440540 kB\n"
                    "MemAvailable:   24394184 kB\nBuffers:             688 kB\n"
                    "Cached:            18480 kB\nSwapTotal:             0 kB\n"
                    "SwapFree:              0 kB\n",
                    true, 24684092 * kKiB, 24394184 * kKiB, (24684092 - 24394184) * kKiB, 0, 0,
                    18480 * kKiB, 688 * kKiB},
        // A container's view (lxcfs) where MemAvailable exceeds MemTotal: clamped.
        MemInfoCase{"available_above_total",
                    "MemTotal:        1048576 kB\nMemFree:         1000000 kB\n"
                    "MemAvailable:    2000000 kB\n",
                    true, 1048576 * kKiB, 1048576 * kKiB, 0, 0, 0, 0, 0},
        // Without MemTotal nothing can be judged.
        MemInfoCase{"no_memtotal", "MemFree:  1000 kB\nMemAvailable: 2000 kB\n", false, 0, 0, 0, 0,
                    0, 0, 0, "MemTotal is missing"},
        // A known key with garbage for a value names the key.
        MemInfoCase{"malformed_value", "MemTotal:  lots kB\n", false, 0, 0, 0, 0, 0, 0, 0,
                    "MemTotal is not a number"},
        // An empty read.
        MemInfoCase{"empty", "", false, 0, 0, 0, 0, 0, 0, 0, "MemTotal is missing"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace medic::agent
