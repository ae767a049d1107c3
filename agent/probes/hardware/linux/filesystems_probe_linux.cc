// The filesystems probe on Linux: the mount table and statvfs(3) of every mount worth reporting.

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "agent/probes/hardware/filesystem_parse.h"
#include "agent/probes/hardware/hardware_probes.h"
#include "agent/probes/probe_util.h"
#include "agent/probes/text.h"

namespace medic::agent {
namespace {

constexpr std::string_view kSelfMounts = "/proc/self/mounts";
constexpr std::string_view kMounts = "/proc/mounts";
constexpr std::string_view kFstab = "/etc/fstab";

// The mount table: /proc/self/mounts, or /proc/mounts on systems where the former cannot be read.
absl::StatusOr<std::vector<MountEntry>> ReadMounts(const common::FileSystem& fs) {
  std::string_view path = kSelfMounts;
  absl::StatusOr<std::string> text = ReadRequired(fs, kSelfMounts);
  if (!text.ok()) {
    absl::StatusOr<std::string> fallback = ReadRequired(fs, kMounts);
    if (!fallback.ok()) {
      // The first failure says why the preferred source is missing; the second is named too.
      return absl::Status(text.status().code(), common::StrCat(text.status().message(), "; ",
                                                               fallback.status().message()));
    }
    text = std::move(fallback);
    path = kMounts;
  }
  absl::StatusOr<std::vector<MountEntry>> mounts = ParseMounts(*text);
  if (!mounts.ok()) return WithPath(mounts.status(), path);
  return mounts;
}

// How long a network filesystem's statvfs may take before it counts as not answering.
constexpr absl::Duration kNetworkStatFsTimeout = absl::Seconds(1);

// statvfs(3) of network filesystems on threads of their own. A hard-mounted NFS share whose
// server is gone blocks statvfs in the kernel, possibly for good; the probe (and the fast
// cycle it runs in) must go on, so each call gets a thread and a timeout. A call that has not
// returned is not repeated: later collections report the mount as not answering without
// waiting, until the call returns. The cost, accepted: the collection in which a mount first
// gets stuck waits out the timeout (kNetworkStatFsTimeout, 1 s, less when the deadline is
// nearer), and with it the thread that runs the probe, the agent's io thread; once for each
// mount that newly gets stuck, never again for a call already known to hang.
// "Not answered for" is measured on the probe's clock (ctx.clock), like every other time.
class NetworkStatFs {
 public:
  absl::StatusOr<common::FsStats> StatFs(const common::FileSystem& fs, const common::Clock& clock,
                                         const std::string& mount, absl::Duration timeout) {
    if (auto it = pending_.find(mount); it != pending_.end()) {
      std::unique_lock lock(it->second->mu);
      if (!it->second->done) {
        return absl::DeadlineExceededError(
            common::StrCat("statvfs ", mount, " has not answered for ",
                           common::HumanDuration(clock.Now() - it->second->started),
                           ": is its server reachable?"));
      }
      lock.unlock();
      pending_.erase(it);  // it came back: ask afresh
    }
    auto call = std::make_shared<Call>();
    call->started = clock.Now();
    // The thread reads `fs` only before the system call that may block: the agent's file
    // system outlives every collection, and a thread still blocked at exit ends with the
    // process.
    std::thread([call, &fs, mount] {
      absl::StatusOr<common::FsStats> result = fs.StatFs(mount);
      std::lock_guard lock(call->mu);
      call->result = std::move(result);
      call->done = true;
      call->cv.notify_all();
    }).detach();
    std::unique_lock lock(call->mu);
    if (call->cv.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return call->done; })) {
      return call->result;
    }
    pending_[mount] = call;
    return absl::DeadlineExceededError(common::StrCat("statvfs ", mount, " did not answer within ",
                                                      common::HumanDuration(timeout),
                                                      ": is its server reachable?"));
  }

 private:
  struct Call {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    absl::StatusOr<common::FsStats> result;
    absl::Time started;
  };
  std::map<std::string, std::shared_ptr<Call>> pending_;  // calls that have not returned yet
};

class FilesystemsProbe : public Probe {
 public:
  std::string_view name() const override { return "filesystems"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    absl::StatusOr<std::vector<MountEntry>> mounts = ReadMounts(ctx.fs);
    if (!mounts.ok()) return mounts.status();

    ProbeOutput output;
    output.report.set_probe(std::string(name()));
    medic::v1::FilesystemsStatus& body = *output.report.mutable_filesystems();
    const std::vector<MountEntry> selected = SelectMounts(*mounts, ctx.config.filesystems());
    for (const MountEntry& mount : selected) {
      if (absl::Status status = CheckDeadline(ctx, common::StrCat("statvfs ", mount.mount_point));
          !status.ok()) {
        return status;
      }
      absl::StatusOr<common::FsStats> stats =
          IsNetworkFilesystem(mount.type)
              ? network_.StatFs(ctx.fs, ctx.clock, mount.mount_point,
                                std::min(kNetworkStatFsTimeout, ctx.deadline - ctx.clock.Now()))
              : ctx.fs.StatFs(mount.mount_point);
      medic::v1::Filesystem& fs = *body.add_filesystems();
      if (!stats.ok()) {
        fs = ToFilesystem(mount, common::FsStats{});
        fs.set_error(std::string(stats.status().message()));
        continue;
      }
      fs = ToFilesystem(mount, *stats);
      if (fs.total_bytes() > 0) {
        AddObservation(output.report, "fs.free_bytes", fs.mount_point(),
                       static_cast<double>(fs.free_bytes()), "bytes");
        AddObservation(output.report, "fs.free_pct", fs.mount_point(), fs.free_pct(), "pct");
      }
    }
    output.findings =
        JudgeFilesystems(body, FsThresholds::FromConfig(ctx.config.filesystems()), ctx.standing);
    std::optional<std::vector<FstabEntry>> fstab;
    if (std::optional<std::string> text = ReadOptional(ctx.fs, kFstab)) fstab = ParseFstab(*text);
    for (medic::v1::Finding& finding : JudgeReadOnly(selected, fstab)) {
      output.findings.push_back(std::move(finding));
    }
    return output;
  }

 private:
  NetworkStatFs network_;
};

}  // namespace

std::unique_ptr<Probe> NewFilesystemsProbe() { return std::make_unique<FilesystemsProbe>(); }

}  // namespace medic::agent
