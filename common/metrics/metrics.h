#pragma once

// A small Prometheus metrics registry: counters, gauges and fixed-bucket histograms, each in a
// family of label sets, written out in the text exposition format (version 0.0.4) that
// Prometheus and anything compatible scrapes from /metrics. prometheus-cpp is not packaged in
// Debian 12, and this is all the collector needs of it.
//
// Families are created once at start-up and live as long as the Registry; the Counter, Gauge
// and Histogram references a family hands out stay valid as long as their family (until
// Clear()). Every method is thread-safe; updates are lock-free except the first lookup of a
// label set.
//
//   Registry registry;
//   auto& received = registry.AddCounter("medic_records_received_total", "Records stored.", {});
//   received.Get({}).Increment();
//   auto& latency = registry.AddHistogram("medic_store_commit_seconds", "…", {"kind"},
//                                         {0.001, 0.01, 0.1});
//   latency.Get({"snapshot"}).Observe(0.004);
//   std::string text = registry.Expose();

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"

namespace medic::common::metrics {

// A value that only goes up (reset only by a restart of the process).
class Counter {
 public:
  // `amount` must not be negative (a broken invariant: CHECK-fails).
  void Increment(double amount = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double amount);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Counts observations into fixed buckets (upper bounds, ascending; +Inf is implicit) and
// keeps their sum.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf last
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0};
};

// Latency buckets in seconds, from 100 µs to 10 s.
std::vector<double> LatencyBuckets();

enum class Type { kCounter, kGauge, kHistogram };

// One metric name with its help text and label names; one child per set of label values.
template <typename T>
class Family {
 public:
  // The child for `label_values`, made on first use. Their number must match the family's
  // label names (a broken invariant: CHECK-fails).
  T& Get(const std::vector<std::string>& label_values);
  // Drops every child: for gauges refreshed in full at each scrape, so a label set that is
  // gone (a finding code no longer standing) disappears from the output.
  void Clear();

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}
  void Write(std::string& out) const;

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;  // histograms only
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Names must match [a-zA-Z_:][a-zA-Z0-9_:]* and be new to the registry, label names
  // [a-zA-Z_][a-zA-Z0-9_]* (not "le" on a histogram); broken invariants CHECK-fail.
  CounterFamily& AddCounter(std::string name, std::string help,
                            std::vector<std::string> label_names);
  GaugeFamily& AddGauge(std::string name, std::string help, std::vector<std::string> label_names);
  HistogramFamily& AddHistogram(std::string name, std::string help,
                                std::vector<std::string> label_names, std::vector<double> bounds);

  // Called at the start of every Expose(), in the order added, on the scraping thread: for
  // values read from elsewhere (the store) only when someone asks.
  void AddCollector(std::function<void()> collect);

  // Every family in the order added, in the Prometheus text format.
  std::string Expose() const;

 private:
  void CheckNewName(const std::string& name, const std::vector<std::string>& labels, bool histogram)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<CounterFamily>> counters_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<GaugeFamily>> gauges_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<HistogramFamily>> histograms_ ABSL_GUARDED_BY(mu_);
  // Exposition order: the type and the index into its vector.
  std::vector<std::pair<Type, size_t>> order_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> collectors_ ABSL_GUARDED_BY(mu_);
};

// The text format's escaping: backslash and newline; with `quotes` (label values) also the
// double quote.
std::string Escape(std::string_view text, bool quotes);
// A sample value: shortest round-trip decimal, or +Inf, -Inf, NaN.
std::string FormatValue(double value);

}  // namespace medic::common::metrics
