// Fuzzes printer/IPP value normalisation: every value comes from a printer on the network.

#include "agent/probes/printers/printer_parse.h"
#include "tests/fuzz/fuzz_input.h"

using namespace medic::agent;

namespace {
std::vector<int> Ints(const std::vector<std::string>& fields) {
  std::vector<int> out;
  for (const std::string& f : fields)
    out.push_back(f.empty() ? -3 : static_cast<signed char>(f[0]));
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const medic::fuzz::Input in = medic::fuzz::Split(data, size);
  switch (in.selector % 6) {
    case 0:
      (void)ParseSupply(in.text);
      break;
    case 1:
      (void)ParseInputTray(in.text);
      break;
    case 2:
      (void)NormaliseStateReasons(medic::fuzz::Fields(in.text));
      break;
    case 3:
      (void)UriScheme(in.text);
      (void)DeviceAccessOf(in.text);
      break;
    case 4: {
      // marker-names, -types, -levels, -low-levels, -colors: lists of any length each.
      std::vector<std::vector<std::string>> lists(5);
      size_t list = 0;
      for (const std::string& f : medic::fuzz::Fields(in.text)) {
        if (f == "|") {
          list = (list + 1) % lists.size();
        } else {
          lists[list].push_back(f);
        }
      }
      (void)BuildMarkers(lists[0], lists[1], Ints(lists[2]), Ints(lists[3]), lists[4]);
      break;
    }
    case 5: {
      const int value = in.text.empty() ? 0 : static_cast<signed char>(in.text[0]) * 1000;
      (void)DescribeLevel(value);
      (void)PrinterStateName(value);
      (void)JobStateName(value);
      break;
    }
  }
  return 0;
}
