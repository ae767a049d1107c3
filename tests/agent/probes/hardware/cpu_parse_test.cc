#include "agent/probes/hardware/cpu_parse.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::agent {
namespace {

using ::testing::HasSubstr;

struct ProcStatCase {
  std::string name;
  std::string text;
  bool ok;
  uint64_t user = 0, idle = 0, iowait = 0, steal = 0, guest = 0;
  size_t cores = 0;
  std::string error = {};  // a part of the message when !ok
};

class ProcStatTest : public ::testing::TestWithParam<ProcStatCase> {};

TEST_P(ProcStatTest, Parses) {
  const ProcStatCase& c = GetParam();
  absl::StatusOr<ProcStat> stat = ParseProcStat(c.text);
  if (!c.ok) {
    ASSERT_FALSE(stat.ok());
    EXPECT_EQ(stat.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(stat.status().message(), HasSubstr(c.error));
    return;
  }
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_EQ(stat->total.user, c.user);
  EXPECT_EQ(stat->total.idle, c.idle);
  EXPECT_EQ(stat->total.iowait, c.iowait);
  EXPECT_EQ(stat->total.steal, c.steal);
  EXPECT_EQ(stat->total.guest, c.guest);
  EXPECT_EQ(stat->cores.size(), c.cores);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, ProcStatTest,
    ::testing::Values(
        // A 6.x kernel: ten columns, two CPUs, the other lines ignored.
        ProcStatCase{"modern",
                     "cpu  2166 0 2811 57511 528 0 104 48 7 0\n"
                     "cpu0 679 0 862 30032 11 0 11 22 3 0\n"
                     "cpu1 1486 0 1949 27479 517 0 93 26 4 0\n"
                     "intr 235693 0 0 0\nctxt 471314\nbtime 1700000000\n"
                     "processes 3691\nprocs_running 1\nprocs_blocked 0\n"
                     "softirq 1 2 3\n",
                     true, 2166, 57511, 528, 48, 7, 2},
        // RHEL 5 (2.6.18): eight columns, no guest time.
        ProcStatCase{"old_kernel_8_columns",
                     "cpu  100 2 30 4000 50 1 2 3\ncpu0 100 2 30 4000 50 1 2 3\n", true, 100, 4000,
                     50, 3, 0, 1},
        // 2.4 kernels: four columns only; the rest read as 0.
        ProcStatCase{"kernel_2_4_four_columns", "cpu  10 0 5 85\ncpu0 10 0 5 85\n", true, 10, 85, 0,
                     0, 0, 1},
        // cpu1 offline: the per-cpu lines have a gap; cores counts what is online.
        ProcStatCase{"offline_cpu_gap",
                     "cpu  20 0 10 170 0 0 0 0 0 0\ncpu0 10 0 5 85 0 0 0 0 0 0\n"
                     "cpu2 10 0 5 85 0 0 0 0 0 0\n",
                     true, 20, 170, 0, 0, 0, 2},
        // A future kernel with an eleventh column: ignored.
        ProcStatCase{"future_extra_column", "cpu  1 2 3 4 5 6 7 8 9 10 11\n", true, 1, 4, 5, 8, 9,
                     0},
        // A non-numeric column names the line and the column.
        ProcStatCase{"malformed_number", "cpu  1 2 3 4\ncpu0 1 x 3 4\n", false, 0, 0, 0, 0, 0, 0,
                     "cpu0"},
        // Three columns are not a cpu line.
        ProcStatCase{"too_few_columns", "cpu  1 2 3\n", false, 0, 0, 0, 0, 0, 0, "at least 4"},
        // No aggregate line.
        ProcStatCase{"no_aggregate", "cpu0 1 2 3 4\nintr 5\n", false, 0, 0, 0, 0, 0, 0,
                     "no aggregate \"cpu\" line"},
        // An empty read.
        ProcStatCase{"empty", "", false, 0, 0, 0, 0, 0, 0, "no aggregate"}),
    [](const auto& info) { return info.param.name; });

struct LoadAvgCase {
  std::string name;
  std::string text;
  bool ok;
  double load1 = 0, load15 = 0;
  uint32_t running = 0, total = 0;
};

class LoadAvgTest : public ::testing::TestWithParam<LoadAvgCase> {};

TEST_P(LoadAvgTest, Parses) {
  const LoadAvgCase& c = GetParam();
  absl::StatusOr<LoadAvg> load = ParseLoadAvg(c.text);
  if (!c.ok) {
    ASSERT_FALSE(load.ok());
    EXPECT_EQ(load.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(load.status().message(), HasSubstr("/proc/loadavg"));
    return;
  }
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_DOUBLE_EQ(load->load1, c.load1);
  EXPECT_DOUBLE_EQ(load->load15, c.load15);
  EXPECT_EQ(load->running_tasks, c.running);
  EXPECT_EQ(load->total_tasks, c.total);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, LoadAvgTest,
    ::testing::Values(
        // An idle machine, as the kernel writes it.
        LoadAvgCase{"idle", "0.02 0.10 0.06 1/82 3691\n", true, 0.02, 0.06, 1, 82},
        // A busy build server.
        LoadAvgCase{"busy", "31.57 28.02 19.44 33/1422 998877\n", true, 31.57, 19.44, 33, 1422},
        // Not numbers.
        LoadAvgCase{"malformed", "a b c 1/2 3\n", false},
        // The running/total pair is cut.
        LoadAvgCase{"no_tasks", "0.1 0.2 0.3\n", false},
        // The pair has no slash.
        LoadAvgCase{"tasks_without_slash", "0.1 0.2 0.3 182 4\n", false},
        // Empty.
        LoadAvgCase{"empty", "", false}),
    [](const auto& info) { return info.param.name; });

struct CpuInfoCase {
  std::string name;
  std::string text;
  bool ok;
  std::string model = {};
  uint32_t processors = 0;
};

class CpuInfoTest : public ::testing::TestWithParam<CpuInfoCase> {};

TEST_P(CpuInfoTest, Parses) {
  const CpuInfoCase& c = GetParam();
  absl::StatusOr<CpuInfo> info = ParseCpuInfo(c.text);
  if (!c.ok) {
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
    return;
  }
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model, c.model);
  EXPECT_EQ(info->processors, c.processors);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, CpuInfoTest,
    ::testing::Values(
        // x86: a "model name" per processor.
        CpuInfoCase{"x86",
                    "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n"
                    "model\t\t: 140\nmodel name\t: 11th Gen Intel(R) Core(TM) i7-1165G7 @ "
                    "2.80GHz\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: "
                    "11th Gen Intel(R) Core(TM) i7-1165G7 @ 2.80GHz\n",
                    true, "11th Gen Intel(R) Core(TM) i7-1165G7 @ 2.80GHz", 2},
        // arm64: no name for the model at all; that is data, not an error.
        CpuInfoCase{"arm64_no_model",
                    "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd\n"
                    "CPU implementer\t: 0x41\nCPU part\t: 0xd08\n\nprocessor\t: 1\n"
                    "BogoMIPS\t: 108.00\n",
                    true, "", 2},
        // Old 32-bit ARM kernels: "Processor" names the core.
        CpuInfoCase{"arm32_processor_key",
                    "Processor\t: ARMv7 Processor rev 4 (v7l)\nprocessor\t: 0\n"
                    "BogoMIPS\t: 38.40\n\nHardware\t: BCM2709\n",
                    true, "ARMv7 Processor rev 4 (v7l)", 1},
        // POWER: "cpu".
        CpuInfoCase{"power9", "processor\t: 0\ncpu\t\t: POWER9 (architected), altivec supported\n",
                    true, "POWER9 (architected), altivec supported", 1},
        // s390: "processor N: ..." lines.
        CpuInfoCase{"s390",
                    "vendor_id       : IBM/S390\n# processors    : 2\n"
                    "processor 0: version = FF,  identification = 0133E8,  machine = 2964\n"
                    "processor 1: version = FF,  identification = 0133E8,  machine = 2964\n",
                    true, "", 2},
        // Not a cpuinfo.
        CpuInfoCase{"empty", "", false}),
    [](const auto& info) { return info.param.name; });

struct UsageCase {
  std::string name;
  CpuTimes previous;
  CpuTimes current;
  double usage, iowait, steal;
};

class CpuUsageTest : public ::testing::TestWithParam<UsageCase> {};

TEST_P(CpuUsageTest, Computes) {
  const UsageCase& c = GetParam();
  const CpuUsage usage = ComputeCpuUsage(c.previous, c.current);
  EXPECT_NEAR(usage.usage_pct, c.usage, 1e-9);
  EXPECT_NEAR(usage.iowait_pct, c.iowait, 1e-9);
  EXPECT_NEAR(usage.steal_pct, c.steal, 1e-9);
}

// Fields: user nice system idle iowait irq softirq steal guest guest_nice.
INSTANTIATE_TEST_SUITE_P(
    Rows, CpuUsageTest,
    ::testing::Values(
        // First sample: usage since boot (200 of 1000 ticks busy; iowait counts as idle).
        UsageCase{"since_boot", {}, {100, 0, 100, 750, 50, 0, 0, 0, 0, 0}, 20, 5, 0},
        // Between two samples: 300 busy of 400 ticks, 40 of them stolen.
        UsageCase{"delta",
                  {100, 0, 100, 750, 50, 0, 0, 0, 0, 0},
                  {300, 0, 160, 830, 70, 0, 0, 40, 0, 0},
                  75,
                  5,
                  10},
        // Guest time is already inside user: counting it again would go above 100%.
        UsageCase{"guest_not_double_counted", {}, {500, 0, 0, 500, 0, 0, 0, 0, 500, 0}, 50, 0, 0},
        // No tick passed between samples: the since-boot figure rather than 0/0.
        UsageCase{"no_ticks",
                  {100, 0, 100, 750, 50, 0, 0, 0, 0, 0},
                  {100, 0, 100, 750, 50, 0, 0, 0, 0, 0},
                  20,
                  5,
                  0},
        // A CPU went offline and the aggregate went backwards: since boot.
        UsageCase{"counter_backwards",
                  {400, 0, 400, 3000, 200, 0, 0, 0, 0, 0},
                  {100, 0, 100, 750, 50, 0, 0, 0, 0, 0},
                  20,
                  5,
                  0},
        // Nothing at all yet (a read of zeros): 0, not NaN.
        UsageCase{"all_zero", {}, {}, 0, 0, 0}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace medic::agent
