#include "agent/scheduler/finding_tracker.h"

#include <algorithm>

#include "common/time/clock.h"

namespace medic::agent {
namespace {

const medic::v1::Finding* Find(const std::vector<medic::v1::Finding>& findings,
                               const medic::v1::Finding& like) {
  for (const auto& f : findings) {
    if (f.code() == like.code() && f.resource() == like.resource()) return &f;
  }
  return nullptr;
}

}  // namespace

std::vector<medic::v1::FindingEvent> FindingTracker::Update(std::string_view probe,
                                                            std::vector<medic::v1::Finding> judged,
                                                            absl::Time now) {
  std::vector<medic::v1::FindingEvent> events;
  static const std::vector<medic::v1::Finding> kNone;
  auto it = standing_.find(probe);
  const std::vector<medic::v1::Finding>& before = it == standing_.end() ? kNone : it->second;

  for (auto& finding : judged) {
    finding.set_probe(std::string(probe));
    const medic::v1::Finding* previous = Find(before, finding);
    if (previous != nullptr) {
      *finding.mutable_raised_at() = previous->raised_at();
      if (previous->severity() == finding.severity()) continue;
    } else {
      *finding.mutable_raised_at() = common::ToProtoTime(now);
    }
    *events.emplace_back().mutable_raised() = finding;
  }
  for (const auto& old : before) {
    if (Find(judged, old) != nullptr) continue;
    auto* cleared = events.emplace_back().mutable_cleared();
    cleared->set_code(old.code());
    cleared->set_resource(old.resource());
    *cleared->mutable_cleared_at() = common::ToProtoTime(now);
  }
  if (judged.empty()) {
    if (it != standing_.end()) standing_.erase(it);
  } else {
    standing_[std::string(probe)] = std::move(judged);
  }
  return events;
}

const std::vector<medic::v1::Finding>& FindingTracker::Standing(std::string_view probe) const {
  static const std::vector<medic::v1::Finding> kNone;
  auto it = standing_.find(probe);
  return it == standing_.end() ? kNone : it->second;
}

std::vector<medic::v1::Finding> FindingTracker::AllStanding() const {
  std::vector<medic::v1::Finding> all;
  for (const auto& [probe, findings] : standing_)
    all.insert(all.end(), findings.begin(), findings.end());
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& a, const auto& b) { return a.severity() > b.severity(); });
  return all;
}

}  // namespace medic::agent
