// The /metrics text format as Prometheus parses it: escaping, label order, histogram buckets.

#include "common/metrics/metrics.h"

#include <cmath>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::common::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsTest, CounterWithoutLabels) {
  Registry r;
  auto& c = r.AddCounter("medic_records_received_total", "Records stored.", {});
  c.Get({}).Increment();
  c.Get({}).Increment(2.5);
  EXPECT_EQ(r.Expose(),
            "# HELP medic_records_received_total Records stored.\n"
            "# TYPE medic_records_received_total counter\n"
            "medic_records_received_total 3.5\n");
}

TEST(MetricsTest, FamilyWithNoChildYetStillHasHelpAndType) {
  Registry r;
  r.AddGauge("medic_open_tickets", "Open tickets.", {"scope"});
  EXPECT_EQ(r.Expose(),
            "# HELP medic_open_tickets Open tickets.\n# TYPE medic_open_tickets gauge\n");
}

TEST(MetricsTest, GaugeLabelsSortedByValueAndEscaped) {
  Registry r;
  auto& g = r.AddGauge("medic_findings_standing", "Standing findings\nby code \\ resource.",
                       {"code", "note"});
  g.Get({"net.dns_failure", "say \"hi\"\\\nbye"}).Set(4);
  g.Get({"disk.space_low", ""}).Set(1);
  g.Get({"disk.space_low", ""}).Add(-0.5);
  EXPECT_EQ(r.Expose(),
            "# HELP medic_findings_standing Standing findings\\nby code \\\\ resource.\n"
            "# TYPE medic_findings_standing gauge\n"
            "medic_findings_standing{code=\"disk.space_low\",note=\"\"} 0.5\n"
            "medic_findings_standing{code=\"net.dns_failure\",note=\"say \\\"hi\\\"\\\\\\nbye\"} "
            "4\n");
}

TEST(MetricsTest, ClearDropsLabelSetsThatAreGone) {
  Registry r;
  auto& g = r.AddGauge("g", "h", {"code"});
  g.Get({"a"}).Set(1);
  g.Clear();
  g.Get({"b"}).Set(2);
  EXPECT_THAT(r.Expose(), Not(HasSubstr("code=\"a\"")));
  EXPECT_THAT(r.Expose(), HasSubstr("g{code=\"b\"} 2\n"));
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAndInclusive) {
  Registry r;
  auto& h = r.AddHistogram("medic_ingest_seconds", "Ingest latency.", {"kind"}, {0.1, 1});
  auto& snap = h.Get({"snapshot"});
  snap.Observe(0.05);
  snap.Observe(0.1);  // on a bound: counts in that bucket (le = less or equal)
  snap.Observe(0.5);
  snap.Observe(7);
  EXPECT_EQ(r.Expose(),
            "# HELP medic_ingest_seconds Ingest latency.\n"
            "# TYPE medic_ingest_seconds histogram\n"
            "medic_ingest_seconds_bucket{kind=\"snapshot\",le=\"0.1\"} 2\n"
            "medic_ingest_seconds_bucket{kind=\"snapshot\",le=\"1\"} 3\n"
            "medic_ingest_seconds_bucket{kind=\"snapshot\",le=\"+Inf\"} 4\n"
            "medic_ingest_seconds_sum{kind=\"snapshot\"} 7.65\n"
            "medic_ingest_seconds_count{kind=\"snapshot\"} 4\n");
}

TEST(MetricsTest, HistogramWithoutLabelsHasOnlyLe) {
  Registry r;
  r.AddHistogram("h", "x", {}, {1}).Get({}).Observe(2);
  EXPECT_THAT(r.Expose(), HasSubstr("h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\nh_sum 2\n"));
}

TEST(MetricsTest, FamiliesInTheOrderAdded) {
  Registry r;
  r.AddGauge("zz", "last added first", {}).Get({}).Set(1);
  r.AddCounter("aa", "second", {}).Get({}).Increment();
  const std::string text = r.Expose();
  EXPECT_LT(text.find("zz 1"), text.find("aa 1"));
}

TEST(MetricsTest, CollectorsRunAtEachScrape) {
  Registry r;
  auto& g = r.AddGauge("medic_outbox_depth", "x", {});
  int scrapes = 0;
  r.AddCollector([&] { g.Get({}).Set(++scrapes * 10); });
  EXPECT_THAT(r.Expose(), HasSubstr("medic_outbox_depth 10\n"));
  EXPECT_THAT(r.Expose(), HasSubstr("medic_outbox_depth 20\n"));
}

TEST(MetricsTest, FormatValue) {
  struct Case {
    double value;
    const char* text;
  } cases[] = {
      {0, "0"},                          // integral values without a decimal point
      {42, "42"},                        //
      {0.001, "0.001"},                  // shortest round trip, not 0.0010000000000000000208
      {1e21, "1e+21"},                   // exponent form that Go's ParseFloat reads
      {-3.5, "-3.5"},                    //
      {INFINITY, "+Inf"},                // the text format's spelling
      {-INFINITY, "-Inf"},               //
      {std::nan(""), "NaN"},             //
      {123456789012.0, "123456789012"},  // no loss of digits on large counters
  };
  for (const auto& c : cases) EXPECT_EQ(FormatValue(c.value), c.text) << c.value;
}

TEST(MetricsTest, ConcurrentIncrementsAreNotLost) {
  Registry r;
  auto& c = r.AddCounter("c", "x", {"t"});
  auto& h = r.AddHistogram("h", "x", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.Get({"same"}).Increment();
        h.Get({}).Observe(0.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Get({"same"}).value(), 40000);
  EXPECT_EQ(h.Get({}).Read().count, 40000u);
}

TEST(MetricsDeathTest, InvalidDefinitionsCrashAtOnce) {
  Registry r;
  EXPECT_DEATH(r.AddCounter("medic-records", "x", {}), "invalid metric name");
  EXPECT_DEATH(r.AddHistogram("h", "x", {"le"}, {1}), "'le'");
  r.AddCounter("c", "x", {"code"});
  EXPECT_DEATH(r.AddGauge("c", "x", {}), "added twice");
  EXPECT_DEATH(r.AddCounter("d", "x", {}).Get({}).Increment(-1), "cannot go down");
}

}  // namespace
}  // namespace medic::common::metrics
