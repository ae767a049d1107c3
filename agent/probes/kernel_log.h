#pragma once

// The kernel's log as a stream: /dev/kmsg read from where the previous collection stopped, so a
// probe looking for error lines reads each line once instead of the whole log every minute.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/fs/file_system.h"

namespace medic::agent {

// The messages of the complete /dev/kmsg records in `text`: each record is a header line
// "PRIORITY,SEQUENCE,MICROSECONDS,FLAGS[,…];MESSAGE" followed by dictionary lines that start
// with a space (" SUBSYSTEM=scsi"), which are skipped; so are lines without such a header.
// Escapes the kernel applies ("\x0a") are kept as written.
std::vector<std::string> ParseKmsgRecords(std::string_view text);

// Reads /dev/kmsg (through the probe's file system, so a fixture's dev/kmsg file works too)
// without blocking: every call returns the messages logged since the previous call, the first
// one what the ring buffer still holds since boot. Records the kernel overwrote before they
// were read are skipped. Used by one probe, on one thread at a time.
class KernelLogReader {
 public:
  static constexpr std::string_view kPath = "/dev/kmsg";

  // New messages, at most `max_bytes` of records per call (the rest come at the next call).
  // NotFound or PermissionDenied when /dev/kmsg cannot be opened (not root, dmesg_restrict);
  // the next call tries again.
  absl::StatusOr<std::vector<std::string>> ReadNew(const common::FileSystem& fs,
                                                   size_t max_bytes = 4 << 20);

 private:
  common::UniqueFd fd_;
  std::string partial_;  // the start of a record cut by a read of a plain file (fixtures)
};

}  // namespace medic::agent
