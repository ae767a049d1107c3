#include "agent/probes/os/reboot_parse.h"

#include <algorithm>
#include <cctype>

#include "agent/probes/text.h"
#include "common/strings/str_cat.h"

namespace medic::agent {
namespace {

// dpkg's order of one non-digit character: "~" first, then the end of a run, letters, others.
int Order(char c) {
  if (std::isdigit(static_cast<unsigned char>(c))) return 0;
  if (std::isalpha(static_cast<unsigned char>(c))) return c;
  if (c == '~') return -1;
  return c + 256;
}

std::string Join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

}  // namespace

std::vector<std::string> ParseRebootPackages(std::string_view text) {
  std::vector<std::string> packages;
  for (std::string_view line : SplitLines(text)) {
    std::string package(Trim(line));
    if (package.empty()) continue;
    if (std::find(packages.begin(), packages.end(), package) != packages.end()) continue;
    packages.push_back(std::move(package));
  }
  return packages;
}

int CompareVersions(std::string_view a, std::string_view b) {
  size_t i = 0;
  size_t j = 0;
  auto digit = [](std::string_view s, size_t k) {
    return k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]));
  };
  while (i < a.size() || j < b.size()) {
    while ((i < a.size() && !digit(a, i)) || (j < b.size() && !digit(b, j))) {
      const int ac = i < a.size() && !digit(a, i) ? Order(a[i]) : 0;
      const int bc = j < b.size() && !digit(b, j) ? Order(b[j]) : 0;
      if (ac != bc) return ac - bc;
      if (i < a.size() && !digit(a, i)) ++i;
      if (j < b.size() && !digit(b, j)) ++j;
    }
    while (i < a.size() && a[i] == '0') ++i;
    while (j < b.size() && b[j] == '0') ++j;
    int first_diff = 0;
    while (digit(a, i) && digit(b, j)) {
      if (first_diff == 0) first_diff = a[i] - b[j];
      ++i;
      ++j;
    }
    if (digit(a, i)) return 1;
    if (digit(b, j)) return -1;
    if (first_diff != 0) return first_diff;
  }
  return 0;
}

std::string KernelFlavour(std::string_view release) {
  std::vector<std::string_view> parts = Split(release, '-');
  for (size_t k = 0; k < parts.size(); ++k) {
    if (!parts[k].empty() && std::isalpha(static_cast<unsigned char>(parts[k].front()))) {
      std::string flavour(parts[k]);
      for (size_t m = k + 1; m < parts.size(); ++m) common::StrAppend(&flavour, "-", parts[m]);
      return flavour;
    }
  }
  return "";
}

std::optional<std::string> NewestKernel(const std::vector<std::string>& installed,
                                        std::string_view running) {
  const std::string flavour = KernelFlavour(running);
  std::optional<std::string> newest;
  for (const std::string& release : installed) {
    if (KernelFlavour(release) != flavour) continue;
    if (!newest || CompareVersions(release, *newest) > 0) newest = release;
  }
  return newest;
}

std::optional<medic::v1::Finding> JudgeReboot(const medic::v1::RebootStatus& status) {
  if (!status.reboot_required() && !status.newer_kernel_installed()) return std::nullopt;
  medic::v1::Finding finding;
  finding.set_code(std::string(kOsRebootPending));
  finding.set_severity(medic::v1::SEVERITY_WARNING);
  std::vector<std::string> reasons;
  const std::vector<std::string> packages(status.packages().begin(), status.packages().end());
  if (status.reboot_required()) {
    reasons.push_back(packages.empty()
                          ? std::string("Reboot required")
                          : common::StrCat("Reboot required by ", Join(packages, ", ")));
  }
  if (status.newer_kernel_installed()) {
    reasons.push_back(common::StrCat(reasons.empty() ? "Reboot pending: kernel " : "kernel ",
                                     status.newest_kernel(), " installed, ",
                                     status.running_kernel(), " running"));
  }
  finding.set_summary(Join(reasons, "; "));
  auto& evidence = *finding.mutable_evidence();
  if (status.reboot_required()) evidence["packages"] = Join(packages, " ");
  evidence["running_kernel"] = status.running_kernel();
  if (!status.newest_kernel().empty()) evidence["newest_kernel"] = status.newest_kernel();
  return finding;
}

}  // namespace medic::agent
