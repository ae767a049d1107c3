#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/fs/unique_fd.h"

namespace medic::agent {

// What a record costs to lose; when the spool is full the lowest goes first, oldest first.
enum class SpoolPriority : uint8_t {
  kHistory = 0,  // observations only: later records carry newer values
  kState = 1,    // snapshots and topology: a later snapshot supersedes them
  kFinding = 2,  // finding raises and clears, diagnostic results, gap records
};

struct SpoolOptions {
  std::string dir;                      // created when missing
  uint64_t max_bytes = 64ull << 20;     // disk the spool may use, all segments together
  uint64_t segment_bytes = 1ull << 20;  // a new segment starts past this size
  absl::Duration fsync_interval = absl::Seconds(1);  // 0: every append is made durable at once
};

struct SpooledRecord {
  uint64_t epoch = 0;
  uint64_t sequence = 0;
  SpoolPriority priority = SpoolPriority::kHistory;
  std::string payload;
};

// What Open found and repaired.
struct SpoolOpenStats {
  uint64_t segments = 0;
  uint64_t records = 0;
  uint64_t torn_records = 0;         // frames cut from a segment's tail (torn or corrupt)
  uint64_t torn_bytes = 0;           // bytes cut
  uint64_t unreadable_segments = 0;  // segments that could not be read at all and were removed
};

// What one Append had to drop to stay within max_bytes. Each dropped record is named by its
// epoch and sequence; the counts are by priority.
struct SpoolDrops {
  std::map<uint64_t, std::vector<uint64_t>> sequences;  // epoch → dropped sequences, ascending
  uint64_t history = 0;
  uint64_t state = 0;
  uint64_t findings = 0;
  bool empty() const { return history + state + findings == 0; }
};

// A bounded, crash-safe, on-disk queue of outgoing records: append-only segment files
// ("<16 hex digits>.seg") in one directory. Each record is one frame:
//   magic u32 | payload length u32 | crc32 u32 | epoch u64 | sequence u64 | priority u8 | payload
// (little-endian; the CRC covers everything after itself). Open reads every segment, cuts a
// torn or corrupt tail off at the last good frame and counts it; it never fails for damaged
// contents, only when the directory itself cannot be used. Records leave the spool when the
// collector acknowledges them (a segment file whose records are all acknowledged is deleted)
// or when room is needed (lowest priority, oldest first). Each Open appends to a new segment,
// so a segment holds the records of one epoch (one agent run) only. Not thread-safe: one
// owner thread.
class Spool {
 public:
  static absl::StatusOr<std::unique_ptr<Spool>> Open(SpoolOptions options);
  ~Spool();

  // Appends a record; makes it durable at once when fsync_interval is 0. When the spool would
  // grow past max_bytes, drops records (lowest priority first, oldest first; possibly this
  // one) until it is within 90% of it, and reports what went. Fails only on I/O errors.
  absl::StatusOr<SpoolDrops> Append(uint64_t epoch, uint64_t sequence, SpoolPriority priority,
                                    std::string_view payload);

  // The collector has committed `epoch` up to `sequence`: forgets those records and deletes
  // segment files left with none.
  absl::Status Acknowledge(uint64_t epoch, uint64_t sequence);

  // Up to `limit` records of `epoch` with a sequence above `after`, in order.
  absl::StatusOr<std::vector<SpooledRecord>> Read(uint64_t epoch, uint64_t after,
                                                  size_t limit) const;

  // Makes every append and deletion so far durable (fdatasync of the open segment, fsync of
  // the directory). Cheap when nothing changed.
  absl::Status Sync();
  bool dirty() const { return dirty_; }

  // The epoch of the oldest record waiting, if any.
  std::optional<uint64_t> oldest_epoch() const;
  // The highest sequence waiting for `epoch`, 0 when none.
  uint64_t last_sequence(uint64_t epoch) const;
  uint64_t records() const { return live_records_; }
  uint64_t bytes() const { return disk_bytes_; }  // on disk, all segments
  const SpoolOpenStats& open_stats() const { return open_stats_; }
  const SpoolOptions& options() const { return options_; }

 private:
  struct Entry {
    uint64_t epoch;
    uint64_t sequence;
    SpoolPriority priority;
    uint64_t offset;  // of the frame in its segment
    uint32_t size;    // of the whole frame
    bool live;
  };
  struct Segment {
    std::string path;
    uint64_t size = 0;
    uint64_t live = 0;
    std::vector<Entry> entries;  // in file order
  };

  explicit Spool(SpoolOptions options) : options_(std::move(options)) {}
  absl::Status Load();
  absl::Status LoadSegment(uint64_t number, const std::string& path);
  absl::Status OpenActive();
  absl::Status RemoveSegment(std::map<uint64_t, Segment>::iterator it);
  absl::Status MakeRoom(uint64_t incoming, SpoolPriority priority, bool* drop_incoming,
                        SpoolDrops* drops);
  absl::Status Rewrite(uint64_t number, Segment& segment);
  // Truncates the active segment, all of whose records are acknowledged, to nothing.
  absl::Status Empty(Segment& segment);
  std::string SegmentPath(uint64_t number) const;

  const SpoolOptions options_;
  std::map<uint64_t, Segment> segments_;  // by number; the last one is appended to
  common::UniqueFd active_;               // the last segment, open for appending
  uint64_t active_number_ = 0;
  uint64_t disk_bytes_ = 0;
  uint64_t live_records_ = 0;
  bool dirty_ = false;
  bool dir_dirty_ = false;
  SpoolOpenStats open_stats_;
};

// The frame format, exposed for tests: the bytes Append writes for one record.
std::string EncodeSpoolFrame(uint64_t epoch, uint64_t sequence, SpoolPriority priority,
                             std::string_view payload);

}  // namespace medic::agent
