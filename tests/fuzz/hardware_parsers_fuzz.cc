// Fuzzes the parsers of /proc and /sys files and tool output the hardware probes read: a
// hostile or corrupted file must give an error or a value, never a crash.

#include <map>

#include "agent/probes/hardware/battery_parse.h"
#include "agent/probes/hardware/cpu_parse.h"
#include "agent/probes/hardware/filesystem_parse.h"
#include "agent/probes/hardware/hardware_errors_parse.h"
#include "agent/probes/hardware/inventory_parse.h"
#include "agent/probes/hardware/memory_parse.h"
#include "agent/probes/hardware/smart_parse.h"
#include "agent/probes/hardware/thermal_parse.h"
#include "tests/fuzz/fuzz_input.h"

using namespace medic::agent;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const medic::fuzz::Input in = medic::fuzz::Split(data, size);
  switch (in.selector % 16) {
    case 0:
      (void)ParseProcStat(in.text);
      break;
    case 1:
      (void)ParseLoadAvg(in.text);
      break;
    case 2:
      (void)ParseCpuInfo(in.text);
      break;
    case 3:
      (void)ParseMounts(in.text);
      break;
    case 4:
      (void)ParseFstab(in.text);
      break;
    case 5:
      (void)DecodeMountField(in.text);
      break;
    case 6:
      (void)ParseCounter(in.text);
      break;
    case 7:
      (void)ParseMachineChecks(in.text);
      break;
    case 8:
      (void)ParseCpuInventory(in.text);
      break;
    case 9:
      (void)ParseSysfsId(in.text);
      (void)ParseBlockSize(in.text);
      break;
    case 10:
      (void)ParseMemInfo(in.text);
      break;
    case 11:
      (void)ParsePressure(in.text);
      (void)ParseOomKills(in.text);
      break;
    case 12:
      (void)ParseSmartctlJson(in.text, in.text.empty() ? 0 : in.text[0]);
      break;
    case 13:
      (void)ParseMilliCelsius(in.text);
      break;
    case 14:
      (void)ClassifyKernelMessage(in.text);
      (void)WholeDisk(in.text);
      break;
    case 15: {
      // A power_supply directory: "name\x1f file\x1f contents\x1f file\x1f contents…".
      const std::vector<std::string> f = medic::fuzz::Fields(in.text);
      std::map<std::string, std::string> files;
      for (size_t i = 1; i + 1 < f.size(); i += 2) files[f[i]] = f[i + 1];
      (void)ParseBattery(f[0], files);
      break;
    }
  }
  return 0;
}
