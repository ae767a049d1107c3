#pragma once

// Pure logic of the reboot probe: the reboot-required flag files and kernel versions. No I/O.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medic/v1/health.pb.h"

namespace medic::agent {

inline constexpr std::string_view kOsRebootPending = "os.reboot_pending";

// Parses /var/run/reboot-required.pkgs: one package a line, as update-notifier's hooks append
// them. Blank lines are skipped and repeats dropped; order is kept.
std::vector<std::string> ParseRebootPackages(std::string_view text);

// Compares two version strings as dpkg does (deb-version(7)): alternating runs of non-digits,
// compared character by character with "~" before everything (even the end) and letters before
// other characters, and runs of digits compared as numbers. Negative when a sorts before b,
// 0 when equal, positive after. "6.1.0-18-amd64" < "6.1.0-20-amd64"; "5.15.0-9" < "5.15.0-10".
int CompareVersions(std::string_view a, std::string_view b);

// The flavour of a kernel release: its '-'-separated parts from the first that starts with a
// letter ("6.1.0-18-rt-amd64" → "rt-amd64", "5.15.0-91-generic" → "generic"); empty when none
// does ("6.5.6-300.fc39.x86_64"). Kernels are compared within one flavour only: installing an
// -rt kernel beside the standard one is not an upgrade.
std::string KernelFlavour(std::string_view release);

// The newest of `installed` (kernel releases) with the flavour of `running`, by
// CompareVersions; nullopt when none has it.
std::optional<std::string> NewestKernel(const std::vector<std::string>& installed,
                                        std::string_view running);

// The os.reboot_pending finding, when `status` says a reboot is due: the reboot-required flag or
// a newer kernel than the running one. Warning; resource empty (the machine); the summary says
// why ("Reboot required by linux-image-6.1.0-20-amd64, libc6; kernel 6.1.0-20-amd64 installed,
// 6.1.0-18-amd64 running"); evidence holds packages, running_kernel and newest_kernel.
std::optional<medic::v1::Finding> JudgeReboot(const medic::v1::RebootStatus& status);

}  // namespace medic::agent
