// Fuzzes what the collector does with the bytes of an incoming agent message before anything
// is stored: parsing, then ValidateAgentMessage.

#include "collector/ingest/validate.h"
#include "medic/v1/agent.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  medic::v1::AgentMessage message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return 0;
  (void)medic::collector::ValidateAgentMessage(message);
  return 0;
}
