// Fuzzes the DNS response decoder: the bytes come from whatever answers on port 53.

#include "agent/probes/network/dns_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)medic::agent::ParseDnsAnswer(data, size);
  return 0;
}
