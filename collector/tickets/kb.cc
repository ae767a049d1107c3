#include "collector/tickets/kb.h"

#include <filesystem>
#include <system_error>

#include "common/config/yaml_proto.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"

namespace medic::collector::tickets {

// Generated from collector/kb/*.yaml by CMake: {file name, contents}.
struct ShippedKbFile {
  const char* name;
  const char* text;
};
extern const ShippedKbFile kShippedKb[];
extern const size_t kShippedKbCount;

namespace {

absl::Status Check(const medic::v1::KnowledgeEntry& entry, std::string_view file,
                   std::string_view stem) {
  if (entry.code() != stem) {
    return absl::InvalidArgumentError(common::StrCat(
        file, ": code '", entry.code(), "' does not match the file name (", stem, ".yaml)"));
  }
  if (entry.title().empty() || entry.diagnosis().empty()) {
    return absl::InvalidArgumentError(
        common::StrCat(file, ": an entry needs at least a title and a diagnosis"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<KnowledgeBase> KnowledgeBase::Load(const std::string& extra_dir) {
  KnowledgeBase kb;
  for (size_t i = 0; i < kShippedKbCount; ++i) {
    const std::string name = kShippedKb[i].name;
    const std::string stem = name.substr(0, name.size() - 5);  // ".yaml"
    medic::v1::KnowledgeEntry entry;
    RETURN_IF_ERROR(common::MergeYaml(kShippedKb[i].text, common::StrCat("kb/", name), &entry));
    RETURN_IF_ERROR(Check(entry, name, stem));
    kb.entries_[stem] = std::move(entry);
  }
  if (extra_dir.empty()) return kb;
  std::error_code ec;
  if (!std::filesystem::is_directory(extra_dir, ec)) {
    return absl::NotFoundError(
        common::StrCat("kb_dir: ", extra_dir, " is not a directory (", ec.message(), ")"));
  }
  for (const auto& file : std::filesystem::directory_iterator(extra_dir, ec)) {
    if (file.path().extension() != ".yaml") continue;
    medic::v1::KnowledgeEntry entry;
    RETURN_IF_ERROR(common::MergeYamlFile(file.path().string(), &entry));
    RETURN_IF_ERROR(Check(entry, file.path().string(), file.path().stem().string()));
    kb.entries_[file.path().stem().string()] = std::move(entry);
  }
  if (ec) {
    return absl::UnavailableError(
        common::StrCat("kb_dir: cannot list ", extra_dir, ": ", ec.message()));
  }
  return kb;
}

const medic::v1::KnowledgeEntry& KnowledgeBase::Find(std::string_view code) const {
  auto it = entries_.find(code);
  if (it == entries_.end()) it = entries_.find("default");
  return it->second;
}

std::string Fill(std::string_view text, const std::map<std::string, std::string>& values) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{') {
      const size_t end = text.find('}', i);
      if (end != std::string_view::npos) {
        auto it = values.find(std::string(text.substr(i + 1, end - i - 1)));
        if (it != values.end()) {
          out += it->second;
          i = end + 1;
          continue;
        }
      }
    }
    out += text[i++];
  }
  return out;
}

}  // namespace medic::collector::tickets
