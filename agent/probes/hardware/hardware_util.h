#pragma once

// Small pure helpers the hardware judgements share.

#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_format.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

// `part` as a percentage of `whole`; 0 when `whole` is 0.
inline double Pct(double part, double whole) { return whole == 0 ? 0.0 : 100.0 * part / whole; }

// "3.1": percentages and temperatures as evidence and summaries show them.
inline std::string PctText(double value) { return absl::StrFormat("%.1f", value); }

// Whether `standing` holds a finding with this code and resource.
inline bool IsStanding(const std::vector<medic::v1::Finding>& standing, std::string_view code,
                       std::string_view resource) {
  for (const medic::v1::Finding& f : standing) {
    if (f.code() == code && f.resource() == resource) return true;
  }
  return false;
}

// The standing finding with this code and resource, or nullptr.
inline const medic::v1::Finding* StandingFinding(const std::vector<medic::v1::Finding>& standing,
                                                 std::string_view code, std::string_view resource) {
  for (const medic::v1::Finding& f : standing) {
    if (f.code() == code && f.resource() == resource) return &f;
  }
  return nullptr;
}

}  // namespace medic::agent
