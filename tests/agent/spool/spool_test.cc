#include "agent/spool/spool.h"

#include <dirent.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace medic::agent {
namespace {

using ::testing::ElementsAre;

std::string Payload(uint64_t sequence, size_t size = 100) {
  std::string p = "record-" + std::to_string(sequence) + "-";
  p.resize(size, 'x');
  return p;
}

std::vector<std::string> Segments(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.ends_with(".seg")) out.push_back(dir + "/" + name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<uint64_t> Sequences(const Spool& spool, uint64_t epoch) {
  auto records = spool.Read(epoch, 0, 1'000'000);
  EXPECT_TRUE(records.ok()) << records.status();
  std::vector<uint64_t> out;
  for (const auto& r : *records) {
    EXPECT_EQ(r.payload, Payload(r.sequence, r.payload.size()));
    out.push_back(r.sequence);
  }
  return out;
}

SpoolOptions Options(const std::string& dir, uint64_t max_bytes = 1 << 20) {
  SpoolOptions options;
  options.dir = dir + "/spool";
  options.max_bytes = max_bytes;
  options.segment_bytes = 4096;
  options.fsync_interval = absl::ZeroDuration();
  return options;
}

TEST(SpoolTest, RecordsSurviveReopenUntilAcknowledged) {
  test::TempDir tmp;
  {
    auto spool = Spool::Open(Options(tmp.path()));
    ASSERT_TRUE(spool.ok()) << spool.status();
    for (uint64_t s = 1; s <= 100; ++s) {
      auto drops = (*spool)->Append(7, s, SpoolPriority::kHistory, Payload(s));
      ASSERT_TRUE(drops.ok()) << drops.status();
      EXPECT_TRUE(drops->empty());
    }
    ASSERT_TRUE((*spool)->Acknowledge(7, 60).ok());
    EXPECT_EQ((*spool)->records(), 40u);
  }
  // Acknowledgements are not persisted by the spool: fully acknowledged segments are gone,
  // the rest is offered again and the collector's resume point skips what it has.
  auto spool = Spool::Open(Options(tmp.path()));
  ASSERT_TRUE(spool.ok()) << spool.status();
  EXPECT_EQ((*spool)->open_stats().torn_records, 0u);
  std::vector<uint64_t> seqs = Sequences(**spool, 7);
  ASSERT_FALSE(seqs.empty());
  EXPECT_LE(seqs.front(), 61u);
  // 4 KiB segments hold 30 of these records: only the partly acknowledged one is left.
  EXPECT_GT(seqs.front(), 60u - 31u) << "whole acknowledged segments must have been deleted";
  EXPECT_EQ(seqs.back(), 100u);
  EXPECT_EQ((*spool)->last_sequence(7), 100u);
  ASSERT_TRUE((*spool)->Acknowledge(7, 100).ok());
  EXPECT_EQ((*spool)->records(), 0u);
  EXPECT_TRUE(Segments(tmp.path() + "/spool").empty());
  EXPECT_EQ((*spool)->bytes(), 0u);
}

// The steady state of a connected agent: each record acknowledged soon after it is written.
// The file being appended to is emptied and reused, not deleted and created again for each.
TEST(SpoolTest, AcknowledgedActiveSegmentIsEmptiedAndReused) {
  test::TempDir tmp;
  {
    auto spool = Spool::Open(Options(tmp.path()));
    ASSERT_TRUE(spool.ok()) << spool.status();
    for (uint64_t s = 1; s <= 3; ++s) {
      ASSERT_TRUE((*spool)->Append(7, s, SpoolPriority::kState, Payload(s)).ok());
      ASSERT_TRUE((*spool)->Acknowledge(7, s).ok());
    }
    const std::vector<std::string> segments = Segments(tmp.path() + "/spool");
    ASSERT_EQ(segments.size(), 1u);
    EXPECT_EQ(ReadBytes(segments[0]), "");
    EXPECT_EQ((*spool)->bytes(), 0u);
    EXPECT_EQ((*spool)->records(), 0u);
    ASSERT_TRUE((*spool)->Append(7, 4, SpoolPriority::kState, Payload(4)).ok());
    EXPECT_EQ(Segments(tmp.path() + "/spool"), segments);
    EXPECT_THAT(Sequences(**spool, 7), ElementsAre(4));
  }
  // After a restart only the record not acknowledged is offered again.
  auto spool = Spool::Open(Options(tmp.path()));
  ASSERT_TRUE(spool.ok()) << spool.status();
  EXPECT_EQ((*spool)->open_stats().torn_records, 0u);
  EXPECT_THAT(Sequences(**spool, 7), ElementsAre(4));
}

TEST(SpoolTest, AcknowledgementOfOneEpochNeverRemovesAnother) {
  test::TempDir tmp;
  auto spool = Spool::Open(Options(tmp.path()));
  ASSERT_TRUE(spool.ok());
  for (uint64_t s = 1; s <= 3; ++s)
    ASSERT_TRUE((*spool)->Append(1, s, SpoolPriority::kState, Payload(s)).ok());
  for (uint64_t s = 1; s <= 3; ++s)
    ASSERT_TRUE((*spool)->Append(2, s, SpoolPriority::kState, Payload(s)).ok());
  EXPECT_EQ((*spool)->oldest_epoch(), 1u);
  ASSERT_TRUE((*spool)->Acknowledge(2, 3).ok());  // the old epoch comes first: nothing goes
  EXPECT_EQ((*spool)->records(), 6u);
  ASSERT_TRUE((*spool)->Acknowledge(1, 3).ok());
  EXPECT_EQ((*spool)->oldest_epoch(), 2u);
  EXPECT_THAT(Sequences(**spool, 2), ElementsAre(1, 2, 3));
  EXPECT_EQ((*spool)->Read(2, 1, 1)->front().sequence, 2u);
}

// A restarted agent appends its new epoch to new files: once the old epoch is acknowledged
// nothing of it may come back at the next start (the store would have moved on to the new
// epoch and take the old records for new ones).
TEST(SpoolTest, AcknowledgedOldEpochNeverComesBackAfterARestart) {
  test::TempDir tmp;
  {
    auto spool = Spool::Open(Options(tmp.path()));
    ASSERT_TRUE(spool.ok());
    for (uint64_t s = 1; s <= 3; ++s) {
      ASSERT_TRUE((*spool)->Append(1, s, SpoolPriority::kState, Payload(s)).ok());
    }
  }
  {
    auto spool = Spool::Open(Options(tmp.path()));
    ASSERT_TRUE(spool.ok());
    for (uint64_t s = 1; s <= 2; ++s) {
      ASSERT_TRUE((*spool)->Append(2, s, SpoolPriority::kState, Payload(s)).ok());
    }
    ASSERT_TRUE((*spool)->Acknowledge(1, 3).ok());
    ASSERT_TRUE((*spool)->Sync().ok());
  }
  auto spool = Spool::Open(Options(tmp.path()));
  ASSERT_TRUE(spool.ok());
  EXPECT_EQ((*spool)->oldest_epoch(), 2u);
  EXPECT_TRUE(Sequences(**spool, 1).empty());
  EXPECT_THAT(Sequences(**spool, 2), ElementsAre(1, 2));
}

TEST(SpoolTest, FullSpoolDropsHistoryFirstThenStateAndReportsExactly) {
  test::TempDir tmp;
  auto spool = Spool::Open(Options(tmp.path(), 16 * 1024));
  ASSERT_TRUE(spool.ok());
  uint64_t seq = 0;
  // 1 KiB records: 3 findings, then history and state alternating until full.
  for (int i = 0; i < 3; ++i) {
    ++seq;
    ASSERT_TRUE((*spool)->Append(1, seq, SpoolPriority::kFinding, Payload(seq, 1000)).ok());
  }
  SpoolDrops total;
  for (int i = 0; i < 40; ++i) {
    ++seq;
    auto drops = (*spool)->Append(
        1, seq, i % 2 == 0 ? SpoolPriority::kHistory : SpoolPriority::kState, Payload(seq, 1000));
    ASSERT_TRUE(drops.ok()) << drops.status();
    for (uint64_t d : drops->sequences[1]) total.sequences[1].push_back(d);
    total.history += drops->history;
    total.state += drops->state;
    total.findings += drops->findings;
    EXPECT_LE((*spool)->bytes(), 16u * 1024) << "after record " << seq;
  }
  EXPECT_EQ(total.findings, 0u);
  EXPECT_GT(total.history, 0u);
  // Every record is either still there or reported dropped, exactly once.
  std::vector<uint64_t> kept = Sequences(**spool, 1);
  std::vector<uint64_t> all = kept;
  all.insert(all.end(), total.sequences[1].begin(), total.sequences[1].end());
  std::sort(all.begin(), all.end());
  std::vector<uint64_t> expected(seq);
  for (uint64_t s = 1; s <= seq; ++s) expected[s - 1] = s;
  EXPECT_EQ(all, expected);
  EXPECT_EQ(total.history + total.state, total.sequences[1].size());
  // The findings were kept; the oldest history went before any state record.
  EXPECT_THAT(std::vector<uint64_t>(kept.begin(), kept.begin() + 3), ElementsAre(1, 2, 3));
  if (total.state > 0) {
    // State records were only dropped once no history was left but the newest.
    int history_left = 0;
    for (uint64_t s : kept) history_left += (s >= 4 && (s - 4) % 2 == 0) ? 1 : 0;
    EXPECT_LE(history_left, 1);
  }
  // A reopened spool holds the same.
  spool->reset();
  auto again = Spool::Open(Options(tmp.path(), 16 * 1024));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Sequences(**again, 1), kept);
}

TEST(SpoolTest, LowPriorityRecordIsDroppedRatherThanFindings) {
  test::TempDir tmp;
  auto spool = Spool::Open(Options(tmp.path(), 8 * 1024));
  ASSERT_TRUE(spool.ok());
  uint64_t seq = 0;
  for (int i = 0; i < 7; ++i) {
    ++seq;
    ASSERT_TRUE((*spool)->Append(1, seq, SpoolPriority::kFinding, Payload(seq, 1000)).ok());
  }
  ++seq;
  auto drops = (*spool)->Append(1, seq, SpoolPriority::kHistory, Payload(seq, 1000));
  ASSERT_TRUE(drops.ok());
  EXPECT_EQ(drops->history, 1u);
  EXPECT_THAT(drops->sequences[1], ElementsAre(8));
  EXPECT_EQ((*spool)->records(), 7u);
  // A finding when only findings are left: the oldest finding makes room.
  ++seq;
  drops = (*spool)->Append(1, seq, SpoolPriority::kFinding, Payload(seq, 1000));
  ASSERT_TRUE(drops.ok());
  EXPECT_EQ(drops->findings, 1u);
  EXPECT_THAT(drops->sequences[1], ElementsAre(1));
}

// Writes 5 records, then damages the file: every possible cut of the last record, and every
// single flipped byte in it. Open must keep the first 4, count the damage, and accept new
// records afterwards.
class TornTailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto spool = Spool::Open(Options(tmp_.path()));
    ASSERT_TRUE(spool.ok());
    for (uint64_t s = 1; s <= 5; ++s)
      ASSERT_TRUE((*spool)->Append(3, s, SpoolPriority::kFinding, Payload(s, 50)).ok());
    spool->reset();
    auto segments = Segments(tmp_.path() + "/spool");
    ASSERT_EQ(segments.size(), 1u);
    good_ = ReadBytes(segments[0]);
    last_frame_ = EncodeSpoolFrame(3, 5, SpoolPriority::kFinding, Payload(5, 50)).size();
    ASSERT_GT(good_.size(), last_frame_);
  }

  void Check(const std::string& damaged, uint64_t expect_records, bool expect_torn,
             const std::string& what) {
    test::TempDir dir;
    mkdir((dir.path() + "/spool").c_str(), 0700);
    test::WriteFile(dir.path() + "/spool/0000000000000001.seg", damaged);
    auto spool = Spool::Open(Options(dir.path()));
    ASSERT_TRUE(spool.ok()) << what << ": " << spool.status();
    EXPECT_EQ((*spool)->records(), expect_records) << what;
    EXPECT_EQ((*spool)->open_stats().torn_records, expect_torn ? 1u : 0u) << what;
    ASSERT_TRUE((*spool)->Append(3, 6, SpoolPriority::kFinding, Payload(6, 50)).ok()) << what;
    spool->reset();
    auto reopened = Spool::Open(Options(dir.path()));
    ASSERT_TRUE(reopened.ok()) << what;
    EXPECT_EQ((*reopened)->open_stats().torn_records, 0u) << what;
    std::vector<uint64_t> seqs = Sequences(**reopened, 3);
    ASSERT_EQ(seqs.size(), expect_records + 1) << what;
    EXPECT_EQ(seqs.back(), 6u) << what;
  }

  test::TempDir tmp_;
  std::string good_;
  size_t last_frame_ = 0;
};

TEST_F(TornTailTest, EveryCutOfTheLastRecord) {
  const size_t start = good_.size() - last_frame_;
  for (size_t cut = start; cut < good_.size(); ++cut) {
    Check(good_.substr(0, cut), 4, cut != start, "cut at byte " + std::to_string(cut));
  }
  Check(good_, 5, false, "intact");
}

TEST_F(TornTailTest, EveryFlippedByteOfTheLastRecord) {
  for (size_t at = good_.size() - last_frame_; at < good_.size(); ++at) {
    std::string damaged = good_;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x5A);
    Check(damaged, 4, true, "flipped byte " + std::to_string(at));
  }
}

TEST_F(TornTailTest, GarbageAfterTheLastRecord) {
  Check(good_ + std::string(3, '\0'), 5, true, "three zero bytes");
  Check(good_ + std::string(200, '\xff'), 5, true, "200 bytes of 0xff");
}

TEST(SpoolTest, AnEmptyOrGarbageSegmentIsRemoved) {
  test::TempDir dir;
  mkdir((dir.path() + "/spool").c_str(), 0700);
  test::WriteFile(dir.path() + "/spool/0000000000000001.seg", "");
  test::WriteFile(dir.path() + "/spool/0000000000000002.seg", "not a spool segment at all");
  auto spool = Spool::Open(Options(dir.path()));
  ASSERT_TRUE(spool.ok()) << spool.status();
  EXPECT_EQ((*spool)->records(), 0u);
  EXPECT_EQ((*spool)->open_stats().torn_records, 1u);
  EXPECT_TRUE(Segments(dir.path() + "/spool").empty());
}

TEST(SpoolTest, UnusableDirectoryIsAnErrorNamingIt) {
  test::TempDir dir;
  test::WriteFile(dir.path() + "/file", "x");
  SpoolOptions options = Options(dir.path());
  options.dir = dir.path() + "/file/spool";
  auto spool = Spool::Open(options);
  ASSERT_FALSE(spool.ok());
  EXPECT_THAT(std::string(spool.status().message()), ::testing::HasSubstr(options.dir));
}

}  // namespace
}  // namespace medic::agent
