#include "agent/probes/registry.h"

#include <algorithm>
#include <functional>

#include "agent/probes/hardware/hardware_probes.h"
#include "agent/probes/network/network_probes.h"
#include "agent/probes/os/os_probes.h"
#include "agent/probes/printers/printer_probe.h"
#include "agent/probes/self/self_probe.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"

namespace medic::agent {
namespace {

// `configured` when it is set and positive, else `fallback`.
absl::Duration Override(bool set, const google::protobuf::Duration& configured,
                        absl::Duration fallback) {
  if (!set) return fallback;
  const absl::Duration value = common::FromProtoDuration(configured);
  return value > absl::ZeroDuration() ? value : fallback;
}

}  // namespace

std::vector<ProbeEntry> NewProbes(const medic::v1::AgentConfig& config) {
  struct Known {
    const medic::v1::ProbeSchedule& schedule;
    std::function<std::unique_ptr<Probe>()> make;
    absl::Duration interval;
    absl::Duration deadline = kDefaultProbeDeadline;
    bool slow = false;
  };
  const medic::v1::ProbesConfig& probes = config.probes();
  const Known known[] = {
      {probes.cpu(), [] { return NewCpuProbe(); }, absl::Seconds(15)},
      {probes.memory(), [] { return NewMemoryProbe(); }, absl::Seconds(15)},
      {probes.filesystems(), [] { return NewFilesystemsProbe(); }, absl::Seconds(60)},
      {probes.os(), [] { return NewOsProbe(); }, absl::Seconds(300)},
      {probes.network(), [] { return NewNetworkProbe(); }, absl::Seconds(60)},
      {probes.thermal(), [] { return NewThermalProbe(); }, absl::Seconds(60)},
      {probes.battery(), [] { return NewBatteryProbe(); }, absl::Seconds(300)},
      {probes.hardware_errors(), [] { return NewHardwareErrorsProbe(); }, absl::Seconds(60)},
      {probes.reboot(), [] { return NewRebootProbe(); }, absl::Seconds(300)},
      {probes.updates(), [] { return NewUpdatesProbe(); }, absl::Seconds(3600),
       kDefaultUpdatesDeadline, /*slow=*/true},
      {probes.services(), [] { return NewServicesProbe(); }, absl::Seconds(60),
       kDefaultProbeDeadline, /*slow=*/true},
      {probes.time(), [] { return NewTimeProbe(); }, absl::Seconds(300), kDefaultProbeDeadline,
       /*slow=*/true},
      // Reads up to 16 MiB of kern.log: off the fast thread.
      {probes.crashes(), [] { return NewCrashesProbe(); }, absl::Seconds(300),
       kDefaultProbeDeadline, /*slow=*/true},
      {probes.smart(), [] { return NewSmartProbe(); }, absl::Seconds(3600), kDefaultSmartDeadline,
       /*slow=*/true},
      {probes.inventory(), [] { return NewInventoryProbe(); }, absl::Seconds(3600)},
      // Waits on the gateway, the DNS servers and the targets: off the fast thread.
      {probes.connectivity(), [] { return NewConnectivityProbe(); }, absl::Seconds(60),
       kDefaultConnectivityDeadline, /*slow=*/true},
      // Waits on the scheduler and on printers over the network.
      {probes.printers(), [] { return NewPrintersProbe(); }, absl::Seconds(60),
       kDefaultPrintersDeadline, /*slow=*/true},
      {probes.agent(), [] { return NewSelfProbe(); }, absl::Seconds(60)},
  };
  std::vector<ProbeEntry> entries;
  for (const Known& probe : known) {
    if (probe.schedule.disabled()) continue;
    entries.push_back(ProbeEntry{
        .probe = probe.make(),
        .interval =
            Override(probe.schedule.has_interval(), probe.schedule.interval(), probe.interval),
        .deadline =
            Override(probe.schedule.has_deadline(), probe.schedule.deadline(), probe.deadline),
        .slow = probe.slow,
    });
  }
  return entries;
}

absl::Status KeepOnlyProbes(const std::vector<std::string>& names,
                            medic::v1::ProbesConfig* probes) {
  const google::protobuf::Descriptor* descriptor = probes->GetDescriptor();
  const google::protobuf::Reflection* reflection = probes->GetReflection();
  for (const std::string& name : names) {
    if (descriptor->FindFieldByName(name) != nullptr) continue;
    std::string known;
    for (int i = 0; i < descriptor->field_count(); ++i) {
      common::StrAppend(&known, i > 0 ? ", " : "", descriptor->field(i)->name());
    }
    return absl::InvalidArgumentError(
        common::StrCat("no probe is called '", name, "'; the probes are ", known));
  }
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(i);
    if (std::find(names.begin(), names.end(), field->name()) != names.end()) continue;
    auto* schedule =
        static_cast<medic::v1::ProbeSchedule*>(reflection->MutableMessage(probes, field));
    schedule->set_disabled(true);
  }
  return absl::OkStatus();
}

}  // namespace medic::agent
