// Fuzzes the parsers of the network files the agent reads: routes, addresses, interface
// counters, resolv.conf, wireless, ARP and DHCP leases.

#include "agent/probes/network/network_parse.h"
#include "tests/fuzz/fuzz_input.h"

using namespace medic::agent;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const medic::fuzz::Input in = medic::fuzz::Split(data, size);
  switch (in.selector % 9) {
    case 0:
      (void)ParseIpv4Routes(in.text);
      break;
    case 1:
      (void)ParseIpv6Routes(in.text);
      break;
    case 2:
      (void)ParseIfInet6(in.text);
      break;
    case 3:
      (void)ParseFibTrieLocalAddresses(in.text);
      break;
    case 4:
      (void)ParseNetDev(in.text);
      break;
    case 5:
      if (auto conf = ParseResolvConf(in.text); conf.ok()) (void)IsResolvedStub(*conf);
      break;
    case 6:
      (void)ParseWireless(in.text);
      break;
    case 7:
      (void)ParseArp(in.text);
      break;
    case 8:
      (void)ParseDhclientLeases(in.text);
      break;
  }
  return 0;
}
