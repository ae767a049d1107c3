// Fuzzes the parsers of the files and tool output the OS probes read (os-release, uptime,
// /proc/version, systemctl, timedatectl, chronyc, apt, crash reports, kernel log records).

#include "agent/probes/kernel_log.h"
#include "agent/probes/os/crashes_parse.h"
#include "agent/probes/os/os_parse.h"
#include "agent/probes/os/reboot_parse.h"
#include "agent/probes/os/services_parse.h"
#include "agent/probes/os/time_parse.h"
#include "agent/probes/os/updates_parse.h"
#include "tests/fuzz/fuzz_input.h"

using namespace medic::agent;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const medic::fuzz::Input in = medic::fuzz::Split(data, size);
  switch (in.selector % 14) {
    case 0:
      (void)ParseOsRelease(in.text);
      break;
    case 1:
      (void)ParseUptime(in.text);
      break;
    case 2:
      (void)ParseProcVersion(in.text);
      break;
    case 3:
      (void)ParseMachineId(in.text);
      (void)ParseSingleValue(in.text, "fuzz");
      break;
    case 4:
      (void)ParseRebootPackages(in.text);
      break;
    case 5: {
      const std::vector<std::string> f = medic::fuzz::Fields(in.text);
      (void)CompareVersions(f[0], f.size() > 1 ? f[1] : "");
      (void)KernelFlavour(f[0]);
      (void)NewestKernel(f, f[0]);
      break;
    }
    case 6:
      (void)ParseFailedUnits(in.text);
      break;
    case 7:
      (void)ParseTimedatectl(in.text);
      break;
    case 8:
      (void)ParseChronyTracking(in.text);
      break;
    case 9:
      (void)ParseAptSimulation(in.text);
      break;
    case 10:
      (void)ParseApportReport(in.text);
      break;
    case 11:
      (void)ProgramFromCrashName(in.text);
      (void)ProgramFromCoredumpName(in.text);
      break;
    case 12:
      (void)FindKernelOopses(in.text, "/var/log/kern.log", absl::InfinitePast(),
                             absl::FromUnixSeconds(1'700'000'000), absl::UTCTimeZone());
      break;
    case 13:
      (void)ParseKmsgRecords(in.text);
      break;
  }
  return 0;
}
