#include "agent/config/agent_layers.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_replace.h"
#include "common/status/errno_status.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "google/protobuf/descriptor.h"

namespace medic::agent {
namespace {

constexpr std::string_view kEnvPrefix = "MEDIC_";

// The key path an environment variable names, or "" when it names no AgentConfig setting.
std::string KeyPathOf(std::string_view variable) {
  std::string path = absl::AsciiStrToLower(std::string(variable.substr(kEnvPrefix.size())));
  path = absl::StrReplaceAll(path, {{"__", "."}});
  const google::protobuf::Descriptor* descriptor = medic::v1::AgentConfig::descriptor();
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? dot : dot - start);
    const google::protobuf::FieldDescriptor* field =
        descriptor == nullptr ? nullptr : descriptor->FindFieldByName(key);
    if (field == nullptr) return "";
    if (dot == std::string::npos) return path;
    descriptor = field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE &&
                         !field->is_repeated()
                     ? field->message_type()
                     : nullptr;
    start = dot + 1;
  }
}

// The *.yaml files of `dir` in lexical (byte) order; hidden files are skipped. Empty when
// the directory does not exist.
absl::StatusOr<std::vector<std::string>> DropIns(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> handle(::opendir(dir.c_str()), ::closedir);
  if (handle == nullptr) {
    if (errno == ENOENT) return std::vector<std::string>();
    return common::ErrnoToStatus(errno, dir);
  }
  std::vector<std::string> files;
  while (const dirent* entry = ::readdir(handle.get())) {
    const std::string name = entry->d_name;
    if (name.starts_with('.') || !name.ends_with(".yaml")) continue;
    const std::string path = common::StrCat(dir, "/", name);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) continue;
    files.push_back(path);
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

std::string EnvironmentName(std::string_view key_path) {
  return common::StrCat(
      kEnvPrefix, absl::AsciiStrToUpper(absl::StrReplaceAll(std::string(key_path), {{".", "__"}})));
}

absl::StatusOr<LocalConfig> LoadLocalConfig(const LayerInputs& inputs,
                                            medic::v1::AgentConfig defaults) {
  LocalConfig local;
  local.config = std::move(defaults);
  struct stat st {};
  const bool main_exists = ::stat(inputs.config_file.c_str(), &st) == 0;
  if (main_exists || inputs.config_file_required) {
    RETURN_IF_ERROR(common::MergeYamlFile(inputs.config_file, &local.config, &local.origins));
    local.files.push_back(inputs.config_file);
  }
  std::string dir = inputs.dropin_dir;
  if (dir.empty()) {
    const size_t slash = inputs.config_file.rfind('/');
    dir = common::StrCat(slash == std::string::npos ? "." : inputs.config_file.substr(0, slash),
                         "/agent.d");
  }
  ASSIGN_OR_RETURN(std::vector<std::string> files, DropIns(dir));
  for (const std::string& file : files) {
    RETURN_IF_ERROR(common::MergeYamlFile(file, &local.config, &local.origins));
    local.files.push_back(file);
  }
  // Sorted, so two variables that set the same list apply in a stable order.
  std::vector<std::string> environment = inputs.environment;
  std::sort(environment.begin(), environment.end());
  for (const std::string& entry : environment) {
    if (!entry.starts_with(kEnvPrefix)) continue;
    const size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    const std::string name = entry.substr(0, eq);
    const std::string path = KeyPathOf(name);
    if (path.empty()) {
      local.warnings.push_back(
          common::StrCat("environment variable ", name, " is not an agent setting; ignored"));
      continue;
    }
    RETURN_IF_ERROR(common::MergeSetting(path, entry.substr(eq + 1), common::StrCat("env ", name),
                                         &local.config, &local.origins));
  }
  return local;
}

}  // namespace medic::agent
