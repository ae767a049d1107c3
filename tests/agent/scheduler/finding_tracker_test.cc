#include "agent/scheduler/finding_tracker.h"

#include "common/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::agent {
namespace {

using ::testing::IsEmpty;
using ::testing::SizeIs;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

medic::v1::Finding Disk(std::string mount, medic::v1::Severity severity, std::string summary) {
  medic::v1::Finding f;
  f.set_code("disk.space_low");
  f.set_resource(std::move(mount));
  f.set_severity(severity);
  f.set_summary(std::move(summary));
  return f;
}

TEST(FindingTrackerTest, RaisesOnceAndClearsOnce) {
  FindingTracker tracker;
  auto events = tracker.Update("filesystems", {Disk("/", medic::v1::SEVERITY_WARNING, "8%")}, kT0);
  ASSERT_THAT(events, SizeIs(1));
  ASSERT_TRUE(events[0].has_raised());
  EXPECT_EQ(events[0].raised().probe(), "filesystems");
  EXPECT_EQ(common::FromProtoTime(events[0].raised().raised_at()), kT0);

  // Still standing, summary moved: no event, but the standing copy is refreshed and keeps
  // its original raise time.
  events = tracker.Update("filesystems", {Disk("/", medic::v1::SEVERITY_WARNING, "7%")},
                          kT0 + absl::Minutes(1));
  EXPECT_THAT(events, IsEmpty());
  ASSERT_THAT(tracker.Standing("filesystems"), SizeIs(1));
  EXPECT_EQ(tracker.Standing("filesystems")[0].summary(), "7%");
  EXPECT_EQ(common::FromProtoTime(tracker.Standing("filesystems")[0].raised_at()), kT0);

  events = tracker.Update("filesystems", {}, kT0 + absl::Minutes(2));
  ASSERT_THAT(events, SizeIs(1));
  ASSERT_TRUE(events[0].has_cleared());
  EXPECT_EQ(events[0].cleared().resource(), "/");
  EXPECT_THAT(tracker.Update("filesystems", {}, kT0 + absl::Minutes(3)), IsEmpty());
  EXPECT_THAT(tracker.AllStanding(), IsEmpty());
}

TEST(FindingTrackerTest, SeverityChangeIsRaisedAgainWithTheOriginalTime) {
  FindingTracker tracker;
  tracker.Update("filesystems", {Disk("/", medic::v1::SEVERITY_WARNING, "8%")}, kT0);
  auto events = tracker.Update("filesystems", {Disk("/", medic::v1::SEVERITY_CRITICAL, "3%")},
                               kT0 + absl::Minutes(5));
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].raised().severity(), medic::v1::SEVERITY_CRITICAL);
  EXPECT_EQ(common::FromProtoTime(events[0].raised().raised_at()), kT0);
}

TEST(FindingTrackerTest, ProbesDoNotTouchEachOthersFindings) {
  FindingTracker tracker;
  tracker.Update("filesystems", {Disk("/", medic::v1::SEVERITY_WARNING, "8%")}, kT0);
  medic::v1::Finding mem;
  mem.set_code("memory.pressure");
  mem.set_severity(medic::v1::SEVERITY_CRITICAL);
  tracker.Update("memory", {mem}, kT0);
  EXPECT_THAT(tracker.Update("memory", {mem}, kT0), IsEmpty());
  auto all = tracker.AllStanding();
  ASSERT_THAT(all, SizeIs(2));
  EXPECT_EQ(all[0].code(), "memory.pressure");  // worst first
  // The memory probe clearing its finding leaves the disk finding standing.
  tracker.Update("memory", {}, kT0);
  EXPECT_THAT(tracker.AllStanding(), SizeIs(1));
}

}  // namespace
}  // namespace medic::agent
