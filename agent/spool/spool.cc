#include "agent/spool/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/status/errno_status.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace medic::agent {
namespace {

constexpr uint32_t kMagic = 0x3150534D;  // "MSP1" in a little-endian file
constexpr size_t kHeaderSize = 4 + 4 + 4 + 8 + 8 + 1;
constexpr size_t kCrcStart = 12;             // the CRC covers the bytes from here on
constexpr uint32_t kMaxPayload = 32u << 20;  // larger than any agent message allowed
constexpr std::string_view kSuffix = ".seg";

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
uint64_t GetLe(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint32_t Crc(const char* data, size_t size) {
  return static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(data), static_cast<uInt>(size)));
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return common::ErrnoToStatus(errno, common::StrCat("writing the spool segment ", path));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadWhole(const std::string& path) {
  common::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return common::ErrnoToStatus(errno, common::StrCat("opening ", path));
  std::string data;
  char buffer[64 * 1024];
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return common::ErrnoToStatus(errno, common::StrCat("reading ", path));
    }
    if (n == 0) break;
    data.append(buffer, static_cast<size_t>(n));
  }
  return data;
}

absl::Status FsyncDir(const std::string& dir) {
  common::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return common::ErrnoToStatus(errno, common::StrCat("opening ", dir));
  if (::fsync(fd.get()) != 0) return common::ErrnoToStatus(errno, common::StrCat("syncing ", dir));
  return absl::OkStatus();
}

}  // namespace

std::string EncodeSpoolFrame(uint64_t epoch, uint64_t sequence, SpoolPriority priority,
                             std::string_view payload) {
  std::string frame;
  frame.reserve(kHeaderSize + payload.size());
  PutU32(frame, kMagic);
  PutU32(frame, static_cast<uint32_t>(payload.size()));
  PutU32(frame, 0);  // the CRC, filled in below
  PutU64(frame, epoch);
  PutU64(frame, sequence);
  frame.push_back(static_cast<char>(priority));
  frame.append(payload);
  const uint32_t crc = Crc(frame.data() + kCrcStart, frame.size() - kCrcStart);
  for (int i = 0; i < 4; ++i) frame[8 + i] = static_cast<char>(crc >> (8 * i));
  return frame;
}

absl::StatusOr<std::unique_ptr<Spool>> Spool::Open(SpoolOptions options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("the spool has no directory");
  if (options.max_bytes < 4096) {
    return absl::InvalidArgumentError(
        common::StrCat("spool max_bytes ", options.max_bytes, " is too small (at least 4096)"));
  }
  if (options.segment_bytes == 0 || options.segment_bytes > options.max_bytes / 2) {
    options.segment_bytes = std::max<uint64_t>(1024, options.max_bytes / 8);
  }
  if (::mkdir(options.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return common::ErrnoToStatus(errno,
                                 common::StrCat("creating the spool directory ", options.dir));
  }
  std::unique_ptr<Spool> spool(new Spool(std::move(options)));
  RETURN_IF_ERROR(spool->Load());
  return spool;
}

Spool::~Spool() {
  if (absl::Status s = Sync(); !s.ok()) spdlog::warn("closing the spool: {}", s.message());
}

std::string Spool::SegmentPath(uint64_t number) const {
  char name[32];
  std::snprintf(name, sizeof(name), "%016llx", static_cast<unsigned long long>(number));
  return common::StrCat(options_.dir, "/", name, kSuffix);
}

absl::Status Spool::Load() {
  DIR* dir = ::opendir(options_.dir.c_str());
  if (dir == nullptr) {
    return common::ErrnoToStatus(errno,
                                 common::StrCat("listing the spool directory ", options_.dir));
  }
  std::vector<uint64_t> numbers;
  while (dirent* e = ::readdir(dir)) {
    std::string_view name = e->d_name;
    if (name.size() != 16 + kSuffix.size() || !name.ends_with(kSuffix)) continue;
    uint64_t number = 0;
    const char* end = name.data() + 16;
    if (std::from_chars(name.data(), end, number, 16).ptr == end) numbers.push_back(number);
  }
  ::closedir(dir);
  std::sort(numbers.begin(), numbers.end());
  for (uint64_t number : numbers) {
    RETURN_IF_ERROR(LoadSegment(number, SegmentPath(number)));
  }
  if (open_stats_.torn_records > 0) {
    spdlog::warn("spool {}: cut {} torn or corrupt record(s), {} bytes, left by a crash",
                 options_.dir, open_stats_.torn_records, open_stats_.torn_bytes);
  }
  // Appends go to a new segment, never to an earlier run's: a segment then holds one epoch
  // only, so once an epoch is fully acknowledged every file of it is deleted. (A file mixing
  // an acknowledged old epoch with a newer one would bring the old records back after a
  // crash, under an epoch the store has moved on from, and they would be stored twice.)
  if (!segments_.empty()) active_number_ = segments_.rbegin()->first;
  open_stats_.segments = segments_.size();
  open_stats_.records = live_records_;
  return absl::OkStatus();
}

absl::Status Spool::LoadSegment(uint64_t number, const std::string& path) {
  absl::StatusOr<std::string> data = ReadWhole(path);
  if (!data.ok()) {
    // Unreadable is as good as lost; keeping it would stop nothing from working but the
    // agent would trip over it at every start.
    spdlog::error("spool: removing the unreadable segment {}: {}", path, data.status().message());
    ++open_stats_.unreadable_segments;
    ::unlink(path.c_str());
    return absl::OkStatus();
  }
  Segment segment;
  segment.path = path;
  size_t offset = 0;
  while (offset < data->size()) {
    const size_t left = data->size() - offset;
    const char* p = data->data() + offset;
    if (left < kHeaderSize || GetLe(p, 4) != kMagic) break;
    const uint64_t length = GetLe(p + 4, 4);
    if (length > kMaxPayload || length > left - kHeaderSize) break;
    const uint32_t crc = static_cast<uint32_t>(GetLe(p + 8, 4));
    if (Crc(p + kCrcStart, kHeaderSize - kCrcStart + length) != crc) break;
    const uint8_t priority = static_cast<uint8_t>(p[kHeaderSize - 1]);
    if (priority > static_cast<uint8_t>(SpoolPriority::kFinding)) break;
    segment.entries.push_back(Entry{GetLe(p + 12, 8), GetLe(p + 20, 8),
                                    static_cast<SpoolPriority>(priority), offset,
                                    static_cast<uint32_t>(kHeaderSize + length), true});
    offset += kHeaderSize + length;
  }
  if (offset < data->size()) {
    ++open_stats_.torn_records;
    open_stats_.torn_bytes += data->size() - offset;
    if (::truncate(path.c_str(), static_cast<off_t>(offset)) != 0) {
      return common::ErrnoToStatus(errno, common::StrCat("cutting the torn tail of ", path));
    }
    dir_dirty_ = true;
  }
  if (segment.entries.empty()) {
    ::unlink(path.c_str());
    dir_dirty_ = true;
    return absl::OkStatus();
  }
  segment.size = offset;
  segment.live = segment.entries.size();
  live_records_ += segment.live;
  disk_bytes_ += segment.size;
  segments_.emplace(number, std::move(segment));
  return absl::OkStatus();
}

absl::Status Spool::OpenActive() {
  const std::string path = SegmentPath(active_number_);
  // Read-write: Read takes the records just written back through this descriptor.
  active_ = common::UniqueFd(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!active_.valid()) {
    return common::ErrnoToStatus(errno, common::StrCat("opening the spool segment ", path));
  }
  auto [it, created] = segments_.try_emplace(active_number_);
  if (created) {
    it->second.path = path;
    dir_dirty_ = true;
  }
  return absl::OkStatus();
}

absl::StatusOr<SpoolDrops> Spool::Append(uint64_t epoch, uint64_t sequence, SpoolPriority priority,
                                         std::string_view payload) {
  SpoolDrops drops;
  const std::string frame = EncodeSpoolFrame(epoch, sequence, priority, payload);
  bool drop_incoming = false;
  RETURN_IF_ERROR(MakeRoom(frame.size(), priority, &drop_incoming, &drops));
  if (drop_incoming) {
    drops.sequences[epoch].push_back(sequence);
    switch (priority) {
      case SpoolPriority::kHistory:
        ++drops.history;
        break;
      case SpoolPriority::kState:
        ++drops.state;
        break;
      case SpoolPriority::kFinding:
        ++drops.findings;
        break;
    }
    return drops;
  }
  if (!active_.valid() || segments_.at(active_number_).size >= options_.segment_bytes) {
    if (active_.valid() && dirty_) {
      // The segment being closed is made durable now; later syncs only see the new one.
      if (::fdatasync(active_.get()) != 0) {
        return common::ErrnoToStatus(errno,
                                     common::StrCat("syncing ", SegmentPath(active_number_)));
      }
    }
    ++active_number_;
    RETURN_IF_ERROR(OpenActive());
  }
  Segment& segment = segments_.at(active_number_);
  if (absl::Status written = WriteAll(active_.get(), frame, segment.path); !written.ok()) {
    // A partial frame would be cut at the next open; cut it now so later frames stay readable.
    if (::ftruncate(active_.get(), static_cast<off_t>(segment.size)) != 0) {
      spdlog::error("spool: could not cut a partly written record from {}", segment.path);
    }
    return written;
  }
  segment.entries.push_back(
      Entry{epoch, sequence, priority, segment.size, static_cast<uint32_t>(frame.size()), true});
  segment.size += frame.size();
  ++segment.live;
  ++live_records_;
  disk_bytes_ += frame.size();
  dirty_ = true;
  if (options_.fsync_interval <= absl::ZeroDuration()) RETURN_IF_ERROR(Sync());
  return drops;
}

absl::Status Spool::MakeRoom(uint64_t incoming, SpoolPriority priority, bool* drop_incoming,
                             SpoolDrops* drops) {
  if (disk_bytes_ + incoming <= options_.max_bytes) return absl::OkStatus();
  const uint64_t target = options_.max_bytes / 10 * 9;
  if (incoming > target) {
    *drop_incoming = true;
    return absl::OkStatus();
  }
  uint64_t live_bytes = 0;
  for (const auto& [number, segment] : segments_) {
    for (const Entry& e : segment.entries) {
      if (e.live) live_bytes += e.size;
    }
  }
  // Victims: lower priorities first, oldest first within one; never a record of higher
  // priority than the incoming one, and of equal priority only older ones.
  uint64_t freed = 0;
  std::vector<Entry*> victims;
  for (int p = 0; p <= static_cast<int>(priority) && live_bytes - freed + incoming > target; ++p) {
    for (auto& [number, segment] : segments_) {
      for (Entry& e : segment.entries) {
        if (!e.live || static_cast<int>(e.priority) != p) continue;
        if (live_bytes - freed + incoming <= target) break;
        victims.push_back(&e);
        freed += e.size;
      }
    }
  }
  if (live_bytes - freed + incoming > target) {
    // Even dropping all it may drop leaves no room: this record is the one to go, and nothing
    // older of higher worth is touched.
    victims.clear();
    *drop_incoming = true;
    if (live_bytes + incoming <= options_.max_bytes) {
      // Dead bytes (acknowledged records in a partly acknowledged segment) can make room.
      *drop_incoming = false;
    } else {
      return absl::OkStatus();
    }
  }
  for (Entry* e : victims) {
    e->live = false;
    drops->sequences[e->epoch].push_back(e->sequence);
    switch (e->priority) {
      case SpoolPriority::kHistory:
        ++drops->history;
        break;
      case SpoolPriority::kState:
        ++drops->state;
        break;
      case SpoolPriority::kFinding:
        ++drops->findings;
        break;
    }
  }
  for (auto& [epoch, sequences] : drops->sequences) std::sort(sequences.begin(), sequences.end());
  // Rewrites every segment with anything dead in it, reclaiming the dead bytes.
  for (auto it = segments_.begin(); it != segments_.end();) {
    Segment& segment = it->second;
    const uint64_t live_before = segment.live;
    segment.live = 0;
    for (const Entry& e : segment.entries) segment.live += e.live ? 1 : 0;
    live_records_ -= live_before - segment.live;
    if (segment.live == 0) {
      auto next = std::next(it);
      RETURN_IF_ERROR(RemoveSegment(it));
      it = next;
      continue;
    }
    if (segment.live != segment.entries.size()) RETURN_IF_ERROR(Rewrite(it->first, segment));
    ++it;
  }
  return absl::OkStatus();
}

absl::Status Spool::Rewrite(uint64_t number, Segment& segment) {
  common::UniqueFd old_fd(::open(segment.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!old_fd.valid())
    return common::ErrnoToStatus(errno, common::StrCat("opening ", segment.path));
  const std::string tmp = common::StrCat(segment.path, ".tmp");
  common::UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out.valid()) return common::ErrnoToStatus(errno, common::StrCat("creating ", tmp));
  std::vector<Entry> kept;
  uint64_t size = 0;
  std::string frame;
  for (const Entry& e : segment.entries) {
    if (!e.live) continue;
    frame.resize(e.size);
    if (::pread(old_fd.get(), frame.data(), e.size, static_cast<off_t>(e.offset)) !=
        static_cast<ssize_t>(e.size)) {
      return common::ErrnoToStatus(errno, common::StrCat("reading ", segment.path));
    }
    RETURN_IF_ERROR(WriteAll(out.get(), frame, tmp));
    Entry moved = e;
    moved.offset = size;
    size += e.size;
    kept.push_back(moved);
  }
  if (::fdatasync(out.get()) != 0)
    return common::ErrnoToStatus(errno, common::StrCat("syncing ", tmp));
  if (::rename(tmp.c_str(), segment.path.c_str()) != 0) {
    return common::ErrnoToStatus(errno, common::StrCat("replacing ", segment.path));
  }
  dir_dirty_ = true;
  disk_bytes_ = disk_bytes_ - segment.size + size;
  segment.size = size;
  segment.entries = std::move(kept);
  if (number == active_number_ && active_.valid()) RETURN_IF_ERROR(OpenActive());
  return absl::OkStatus();
}

absl::Status Spool::RemoveSegment(std::map<uint64_t, Segment>::iterator it) {
  if (it->first == active_number_) active_.Reset();
  if (::unlink(it->second.path.c_str()) != 0 && errno != ENOENT) {
    return common::ErrnoToStatus(errno, common::StrCat("deleting ", it->second.path));
  }
  dir_dirty_ = true;
  disk_bytes_ -= it->second.size;
  segments_.erase(it);
  return absl::OkStatus();
}

absl::Status Spool::Empty(Segment& segment) {
  if (::ftruncate(active_.get(), 0) != 0) {
    return common::ErrnoToStatus(errno, common::StrCat("emptying ", segment.path));
  }
  disk_bytes_ -= segment.size;
  segment.size = 0;
  segment.entries.clear();
  dirty_ = true;
  return absl::OkStatus();
}

absl::Status Spool::Acknowledge(uint64_t epoch, uint64_t sequence) {
  for (auto it = segments_.begin(); it != segments_.end();) {
    Segment& segment = it->second;
    bool stop = false;
    for (Entry& e : segment.entries) {
      if (!e.live) continue;
      if (e.epoch != epoch || e.sequence > sequence) {
        stop = true;
        break;
      }
      e.live = false;
      --segment.live;
      --live_records_;
    }
    if (segment.live == 0 && it->first == active_number_ && active_.valid()) {
      // The segment being appended to is emptied and kept: an agent whose records are
      // acknowledged as fast as it writes them would otherwise delete and create a file (and
      // sync the directory) for every record or two.
      if (segment.size > 0) RETURN_IF_ERROR(Empty(segment));
      ++it;
    } else if (segment.live == 0) {
      auto next = std::next(it);
      RETURN_IF_ERROR(RemoveSegment(it));
      it = next;
    } else {
      ++it;
    }
    if (stop) break;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SpooledRecord>> Spool::Read(uint64_t epoch, uint64_t after,
                                                       size_t limit) const {
  std::vector<SpooledRecord> out;
  for (const auto& [number, segment] : segments_) {
    if (out.size() >= limit) break;
    // The active segment is open for reading already (the usual case: a connected agent
    // sends each record just after writing it); older ones are opened once per call.
    common::UniqueFd opened;
    int fd = number == active_number_ && active_.valid() ? active_.get() : -1;
    for (const Entry& e : segment.entries) {
      if (out.size() >= limit) break;
      if (!e.live || e.epoch != epoch || e.sequence <= after) continue;
      if (fd < 0) {
        opened = common::UniqueFd(::open(segment.path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!opened.valid()) {
          return common::ErrnoToStatus(errno, common::StrCat("opening ", segment.path));
        }
        fd = opened.get();
      }
      std::string frame(e.size, '\0');
      if (::pread(fd, frame.data(), e.size, static_cast<off_t>(e.offset)) !=
          static_cast<ssize_t>(e.size)) {
        return absl::DataLossError(
            common::StrCat("spool segment ", segment.path, " is shorter than its index"));
      }
      out.push_back(SpooledRecord{e.epoch, e.sequence, e.priority, frame.substr(kHeaderSize)});
    }
  }
  return out;
}

absl::Status Spool::Sync() {
  if (dirty_ && active_.valid()) {
    if (::fdatasync(active_.get()) != 0) {
      return common::ErrnoToStatus(errno, common::StrCat("syncing ", SegmentPath(active_number_)));
    }
  }
  dirty_ = false;
  if (dir_dirty_) {
    RETURN_IF_ERROR(FsyncDir(options_.dir));
    dir_dirty_ = false;
  }
  return absl::OkStatus();
}

std::optional<uint64_t> Spool::oldest_epoch() const {
  for (const auto& [number, segment] : segments_) {
    for (const Entry& e : segment.entries) {
      if (e.live) return e.epoch;
    }
  }
  return std::nullopt;
}

uint64_t Spool::last_sequence(uint64_t epoch) const {
  uint64_t last = 0;
  for (const auto& [number, segment] : segments_) {
    for (const Entry& e : segment.entries) {
      if (e.live && e.epoch == epoch) last = std::max(last, e.sequence);
    }
  }
  return last;
}

}  // namespace medic::agent
