#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

// Keeps each probe's standing findings and turns every new judgement into raise and clear
// events: a finding is raised once, re-raised only when its severity changes, and cleared
// once. Summary and evidence of a standing finding are refreshed silently (the next snapshot
// carries them). Not thread-safe: used from the scheduler's thread.
class FindingTracker {
 public:
  // Replaces `probe`'s standing set with `judged` (findings the probe judges standing now)
  // and returns what changed. New findings get raised_at = `now` and probe = `probe`.
  std::vector<medic::v1::FindingEvent> Update(std::string_view probe,
                                              std::vector<medic::v1::Finding> judged,
                                              absl::Time now);

  // `probe`'s standing findings (empty if none).
  const std::vector<medic::v1::Finding>& Standing(std::string_view probe) const;

  // Every standing finding, worst first.
  std::vector<medic::v1::Finding> AllStanding() const;

 private:
  std::map<std::string, std::vector<medic::v1::Finding>, std::less<>> standing_;
};

}  // namespace medic::agent
