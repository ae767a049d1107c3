#include "agent/probes/kernel_log.h"

#include <unistd.h>

#include <cerrno>

#include "agent/probes/text.h"
#include "common/status/errno_status.h"

namespace medic::agent {

std::vector<std::string> ParseKmsgRecords(std::string_view text) {
  std::vector<std::string> messages;
  for (std::string_view line : SplitLines(text)) {
    if (line.empty() || line.front() == ' ') continue;  // a dictionary line
    const size_t semicolon = line.find(';');
    if (semicolon == std::string_view::npos) continue;
    // The header: priority, sequence, time and flags, maybe more ("6,1234,5678901,-" or
    // "6,1234,5678901,-,caller=T42").
    const std::string_view header = line.substr(0, semicolon);
    if (header.find(',') == std::string_view::npos || header.front() < '0' ||
        header.front() > '9') {
      continue;
    }
    messages.emplace_back(line.substr(semicolon + 1));
  }
  return messages;
}

absl::StatusOr<std::vector<std::string>> KernelLogReader::ReadNew(const common::FileSystem& fs,
                                                                  size_t max_bytes) {
  if (!fd_.valid()) {
    absl::StatusOr<common::UniqueFd> fd = fs.OpenStream(kPath);
    if (!fd.ok()) return fd.status();
    fd_ = *std::move(fd);
  }
  // /dev/kmsg hands out one whole record per read (EINVAL if the buffer is too small for it;
  // records are at most about 8 KiB with their dictionary); a plain file hands out bytes, so
  // the text is split into records only at line ends.
  std::string text = std::move(partial_);
  partial_.clear();
  char buffer[16384];
  size_t read_bytes = 0;
  while (read_bytes < max_bytes) {
    const ssize_t n = ::read(fd_.get(), buffer, sizeof(buffer));
    if (n > 0) {
      text.append(buffer, static_cast<size_t>(n));
      read_bytes += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) break;  // end of a plain file
    if (errno == EINTR) continue;
    if (errno == EPIPE) continue;  // records were overwritten before we read them: go on
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;  // nothing new
    const absl::Status error = common::ErrnoToStatus(errno, std::string(kPath));
    fd_.Reset();
    return error;
  }
  const size_t end = text.rfind('\n');
  if (end == std::string::npos) {
    partial_ = std::move(text);
    return std::vector<std::string>();
  }
  partial_ = text.substr(end + 1);
  text.resize(end + 1);
  return ParseKmsgRecords(text);
}

}  // namespace medic::agent
