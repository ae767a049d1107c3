#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace medic::test {

// The p-quantile (0 ≤ p ≤ 1) of `v` by nearest rank; 0 for no values. For benchmarks' reports.
inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace medic::test
