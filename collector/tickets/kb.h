#pragma once

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "medic/v1/config.pb.h"

namespace medic::collector::tickets {

// The knowledge base: what each finding code means and what to do about it. The entries
// shipped with Medic (collector/kb/*.yaml, built into the binary) come first; files in an
// IT-supplied directory add codes or replace shipped entries.
class KnowledgeBase {
 public:
  // The shipped entries, then every <code>.yaml in `extra_dir` (none when empty). Fails,
  // naming the file and line, on a file that is not a valid KnowledgeEntry or whose code
  // does not match its name; NotFound when `extra_dir` does not exist.
  static absl::StatusOr<KnowledgeBase> Load(const std::string& extra_dir);

  // The entry for `code`, else the "default" entry.
  const medic::v1::KnowledgeEntry& Find(std::string_view code) const;
  size_t size() const { return entries_.size(); }

 private:
  std::map<std::string, medic::v1::KnowledgeEntry, std::less<>> entries_;
};

// Replaces {host}, {resource}, {count}, {where} and {code} in `text`.
std::string Fill(std::string_view text, const std::map<std::string, std::string>& values);

}  // namespace medic::collector::tickets
