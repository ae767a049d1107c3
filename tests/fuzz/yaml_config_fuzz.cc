// Fuzzes config loading (common/config/yaml_proto): agent and collector config files, drop-ins
// and policy all go through MergeYaml.

#include "common/config/yaml_proto.h"
#include "medic/v1/config.pb.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const medic::fuzz::Input in = medic::fuzz::Split(data, size);
  if (in.selector % 2 == 0) {
    medic::v1::AgentConfig config;
    (void)medic::common::MergeYaml(in.text, "fuzz.yaml", &config);
  } else {
    medic::v1::CollectorConfig config;
    (void)medic::common::MergeYaml(in.text, "fuzz.yaml", &config);
  }
  return 0;
}
