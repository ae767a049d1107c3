#include "common/metrics/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace medic::common::metrics {
namespace {

// A broken invariant (a metric defined wrongly in code) crashes loudly at start-up: it is a
// programming error, not something to recover from. Use: MetricsCheck(cond) << "why";
class CheckFailure {
 public:
  explicit CheckFailure(bool ok) : ok_(ok) {}
  ~CheckFailure() {
    if (ok_) return;
    std::fprintf(stderr, "metrics: %s\n", message_.str().c_str());
    std::abort();
  }
  template <typename T>
  CheckFailure& operator<<(const T& v) {
    if (!ok_) message_ << v;
    return *this;
  }

 private:
  bool ok_;
  std::ostringstream message_;
};
#define CHECK(cond) CheckFailure(static_cast<bool>(cond))
#define CHECK_EQ(a, b) CheckFailure((a) == (b))

void AtomicAdd(std::atomic<double>& target, double amount) {
  double old = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(old, old + amount, std::memory_order_relaxed)) {
  }
}

bool ValidName(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    const bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

// {a="x",b="y"}, with `extra` (the histogram's le) last; empty when there are no labels.
std::string LabelText(const std::vector<std::string>& names, const std::vector<std::string>& values,
                      std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    out += Escape(values[i], /*quotes=*/true);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
  return out;
}

void WriteHeader(std::string& out, const std::string& name, const std::string& help,
                 std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += Escape(help, /*quotes=*/false);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void WriteChild(std::string& out, const std::string& name, const std::vector<std::string>& names,
                const std::vector<std::string>& values, const Counter& c) {
  out += name + LabelText(names, values) + ' ' + FormatValue(c.value()) + '\n';
}
void WriteChild(std::string& out, const std::string& name, const std::vector<std::string>& names,
                const std::vector<std::string>& values, const Gauge& g) {
  out += name + LabelText(names, values) + ' ' + FormatValue(g.value()) + '\n';
}
void WriteChild(std::string& out, const std::string& name, const std::vector<std::string>& names,
                const std::vector<std::string>& values, const Histogram& h) {
  const Histogram::Snapshot s = h.Read();
  for (size_t i = 0; i <= h.bounds().size(); ++i) {
    const std::string le = i < h.bounds().size() ? FormatValue(h.bounds()[i]) : "+Inf";
    out += name + "_bucket" + LabelText(names, values, "le", le) + ' ' +
           std::to_string(s.cumulative[i]) + '\n';
  }
  out += name + "_sum" + LabelText(names, values) + ' ' + FormatValue(s.sum) + '\n';
  out += name + "_count" + LabelText(names, values) + ' ' + std::to_string(s.count) + '\n';
}

constexpr std::string_view TypeWord(const Counter*) { return "counter"; }
constexpr std::string_view TypeWord(const Gauge*) { return "gauge"; }
constexpr std::string_view TypeWord(const Histogram*) { return "histogram"; }

}  // namespace

void Counter::Increment(double amount) {
  CHECK(amount >= 0) << "a counter cannot go down (increment by " << amount << ")";
  AtomicAdd(value_, amount);
}

void Gauge::Add(double amount) { AtomicAdd(value_, amount); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i + 1 < bounds_.size(); ++i) {
    CHECK(bounds_[i] < bounds_[i + 1]) << "histogram bounds must ascend";
  }
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;  // le: a value on a bound counts in it
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, value);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

template <typename T>
T& Family<T>::Get(const std::vector<std::string>& label_values) {
  CHECK_EQ(label_values.size(), label_names_.size())
      << name_ << ": " << label_values.size() << " label values for " << label_names_.size()
      << " label names";
  std::lock_guard lock(mu_);
  auto& child = children_[label_values];
  if (child == nullptr) {
    if constexpr (std::is_same_v<T, Histogram>) {
      child = std::make_unique<Histogram>(bounds_);
    } else {
      child = std::make_unique<T>();
    }
  }
  return *child;
}

template <typename T>
void Family<T>::Clear() {
  std::lock_guard lock(mu_);
  children_.clear();
}

template <typename T>
void Family<T>::Write(std::string& out) const {
  WriteHeader(out, name_, help_, TypeWord(static_cast<const T*>(nullptr)));
  std::lock_guard lock(mu_);
  for (const auto& [values, child] : children_) {
    WriteChild(out, name_, label_names_, values, *child);
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

void Registry::CheckNewName(const std::string& name, const std::vector<std::string>& labels,
                            bool histogram) {
  CHECK(ValidName(name, /*allow_colon=*/true)) << "invalid metric name '" << name << "'";
  for (const auto& label : labels) {
    CHECK(ValidName(label, /*allow_colon=*/false) && !label.starts_with("__"))
        << name << ": invalid label name '" << label << "'";
    CHECK(!histogram || label != "le") << name << ": 'le' is the histogram's own label";
  }
  for (const auto& c : counters_) CHECK(c->name_ != name) << "metric " << name << " added twice";
  for (const auto& g : gauges_) CHECK(g->name_ != name) << "metric " << name << " added twice";
  for (const auto& h : histograms_) CHECK(h->name_ != name) << "metric " << name << " added twice";
}

CounterFamily& Registry::AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  CheckNewName(name, label_names, false);
  counters_.emplace_back(new CounterFamily(std::move(name), std::move(help), label_names, {}));
  order_.emplace_back(Type::kCounter, counters_.size() - 1);
  return *counters_.back();
}

GaugeFamily& Registry::AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  CheckNewName(name, label_names, false);
  gauges_.emplace_back(new GaugeFamily(std::move(name), std::move(help), label_names, {}));
  order_.emplace_back(Type::kGauge, gauges_.size() - 1);
  return *gauges_.back();
}

HistogramFamily& Registry::AddHistogram(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  CheckNewName(name, label_names, true);
  CHECK(!bounds.empty()) << name << ": a histogram needs buckets";
  histograms_.emplace_back(
      new HistogramFamily(std::move(name), std::move(help), label_names, std::move(bounds)));
  order_.emplace_back(Type::kHistogram, histograms_.size() - 1);
  return *histograms_.back();
}

void Registry::AddCollector(std::function<void()> collect) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collect));
}

std::string Registry::Expose() const {
  std::vector<std::function<void()>> collectors;
  {
    std::lock_guard lock(mu_);
    collectors = collectors_;
  }
  // Outside the lock: a collector reads the store and sets gauges of this registry.
  for (const auto& collect : collectors) collect();
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& [type, index] : order_) {
    switch (type) {
      case Type::kCounter:
        counters_[index]->Write(out);
        break;
      case Type::kGauge:
        gauges_[index]->Write(out);
        break;
      case Type::kHistogram:
        histograms_[index]->Write(out);
        break;
    }
  }
  return out;
}

std::string Escape(std::string_view text, bool quotes) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, end);
}

}  // namespace medic::common::metrics
