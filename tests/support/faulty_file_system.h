#pragma once

// A FileSystem wrapper for fault tests, after leveldb's ErrorEnv: it passes every call to the
// real thing except those it was told to fail, replace or slow down.

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/fs/file_system.h"

namespace medic::testing {

class FaultyFileSystem : public common::FileSystem {
 public:
  // `base` must outlive this object.
  explicit FaultyFileSystem(const common::FileSystem& base) : base_(base) {}

  // Every ReadFile, ListDir, StatFs, Stat and OpenStream of `path` returns `status` from now on.
  void Fail(std::string path, absl::Status status) {
    failures_[std::move(path)] = std::move(status);
  }

  // ReadFile of `path` returns `contents` from now on (whether or not `base` has the file).
  void SetFile(std::string path, std::string contents) {
    files_[std::move(path)] = std::move(contents);
  }

  // Called with the path before every StatFs is passed on (a test moves a fake clock in it).
  void OnStatFs(std::function<void(std::string_view)> hook) { on_stat_fs_ = std::move(hook); }

  absl::StatusOr<std::string> ReadFile(std::string_view path,
                                       size_t max_bytes = 4 << 20) const override {
    if (const absl::Status* failure = FailureFor(path)) return *failure;
    if (auto it = files_.find(path); it != files_.end()) return it->second.substr(0, max_bytes);
    return base_.ReadFile(path, max_bytes);
  }

  absl::StatusOr<std::vector<std::string>> ListDir(std::string_view path) const override {
    if (const absl::Status* failure = FailureFor(path)) return *failure;
    return base_.ListDir(path);
  }

  absl::StatusOr<common::FsStats> StatFs(std::string_view path) const override {
    if (on_stat_fs_) on_stat_fs_(path);
    if (const absl::Status* failure = FailureFor(path)) return *failure;
    return base_.StatFs(path);
  }

  absl::StatusOr<std::string> ReadLink(std::string_view path) const override {
    return base_.ReadLink(path);
  }

  absl::StatusOr<common::FileInfo> Stat(std::string_view path) const override {
    if (const absl::Status* failure = FailureFor(path)) return *failure;
    return base_.Stat(path);
  }

  bool Exists(std::string_view path) const override {
    return files_.contains(path) || base_.Exists(path);
  }

  absl::StatusOr<common::UniqueFd> OpenStream(std::string_view path) const override {
    if (const absl::Status* failure = FailureFor(path)) return *failure;
    return base_.OpenStream(path);
  }

 private:
  const absl::Status* FailureFor(std::string_view path) const {
    auto it = failures_.find(path);
    return it == failures_.end() ? nullptr : &it->second;
  }

  const common::FileSystem& base_;
  std::map<std::string, absl::Status, std::less<>> failures_;
  std::map<std::string, std::string, std::less<>> files_;
  std::function<void(std::string_view)> on_stat_fs_;
};

}  // namespace medic::testing
