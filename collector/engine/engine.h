#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/time/clock.h"
#include "medic/v1/config.pb.h"
#include "medic/v1/fleet.pb.h"
#include "medic/v1/health.pb.h"

namespace medic::collector::engine {

// The collector-derived finding raised when a host's heartbeats stop.
inline constexpr std::string_view kHostOffline = "host.offline";

// The engine's settings, defaults filled in. See CorrelationConfig in config.proto.
struct EngineOptions {
  absl::Duration offline_after = absl::Seconds(45);
  absl::Duration window = absl::Minutes(2);
  absl::Duration resolve_after = absl::Minutes(5);
  absl::Duration reopen_window = absl::Hours(1);
  absl::Duration flap_window = absl::Minutes(10);
  int flap_count = 4;
  int min_hosts = 3;
  double min_fraction = 0.5;
  std::vector<medic::v1::EngineRule> rules;
  std::vector<medic::v1::MaintenanceWindow> maintenance;
};

// Options from a collector config (unset fields take the defaults above).
EngineOptions EngineOptionsFromConfig(const medic::v1::CollectorConfig& config);

// Checks the engine's part of a collector config, naming the key at fault.
absl::Status ValidateEngineConfig(const medic::v1::CollectorConfig& config);

// How a finding code correlates across hosts.
enum class CodeClass {
  kHost,    // the machine's own fault (disk.space_low): one host-scoped incident
  kShared,  // about something hosts share (DNS server, target): grouped by code + resource
  kDevice,  // a printer's device-side fault: one incident per printer, even from one host
  kOutage,  // host.offline, net.gateway_unreachable: grouped by subnet or site
};
CodeClass ClassifyCode(std::string_view code);

// What happened to an incident, for the ticket layer.
enum class ChangeKind {
  kOpened,       // a new incident
  kHostsJoined,  // `hosts` joined (late arrivals)
  kUpdated,      // explanation, evidence or members changed; no new hosts
  kResolved,     // the last member cleared and stayed clear for resolve_after
  kReopened,     // recurred within reopen_window of being resolved
};
std::string_view ChangeKindName(ChangeKind kind);

struct IncidentChange {
  ChangeKind kind;
  medic::v1::Incident incident;    // its state after the change
  std::vector<std::string> hosts;  // for kOpened / kHostsJoined / kReopened: the new hosts
  // For kResolved: why, when it is not "the fault cleared" (merged into or suppressed under
  // another incident).
  std::string note;
};

// The fault engine and correlator: turns findings raised and cleared by many hosts, plus
// their topology and liveness, into incidents, each grouping the findings of one cause.
// Pure logic over `clock`: no I/O, no threads. Not thread-safe; one owner drives it
// (the engine thread in the collector, the test in unit tests).
//
// Rules, in order: ignored codes and hosts in a maintenance window never count; a finding
// counts once it has stood for its rule's `for`; a finding raised flap_count times within
// flap_window is held as flapping (stays counted through its clears until it is quiet for
// flap_window). A counted finding then joins an incident:
// - net.dns_failure / net.target_unreachable of a host inside an open gateway or offline
//   outage incident are attached to that incident as evidence (dependency suppression), and
//   so is printer.job_stuck on a printer with an open device incident;
// - kDevice codes: one resource-scoped incident per code and printer;
// - kShared codes: held up to `window`; min_hosts hosts with the same code and resource make
//   one resource-scoped incident, fewer get a host-scoped incident each;
// - kOutage codes: held up to `window`; min_hosts hosts that are at least min_fraction of
//   their subnet's known hosts make one subnet-scoped incident (site-scoped when they span
//   several subnets of a site), fewer get a host-scoped incident each;
// - kHost codes: one host-scoped incident.
// An open incident takes late arrivals; it resolves when its last member has been clear for
// resolve_after, and reopens when it recurs within reopen_window.
class Engine {
 public:
  Engine(const common::Clock& clock, EngineOptions options);

  // Hosts are named by machine id (hostnames need not be unique); incidents, their tickets and
  // explanations show the hostname set here.
  void SetName(const std::string& host, const std::string& name);
  // What the host shares with others.
  void SetTopology(const std::string& host, const medic::v1::Topology& topology,
                   const std::vector<std::string>& labels);
  // Any message from the host: it is alive now (clears a derived host.offline).
  void Seen(const std::string& host);
  // A host the engine should watch for heartbeats from `last_seen` on (after a restart).
  void Watch(const std::string& host, absl::Time last_seen);

  void Raise(const std::string& host, const medic::v1::Finding& finding);
  void Clear(const std::string& host, const std::string& code, const std::string& resource);
  // Every finding standing on the host now; any other it had is cleared.
  void Snapshot(const std::string& host, const std::vector<medic::v1::Finding>& findings);

  // Takes back an incident stored before a restart (open, or resolved recently enough to
  // reopen). Its members rejoin as their findings are raised again; an open one is not
  // resolved before they had time to (offline_after + window).
  void Restore(const medic::v1::Incident& incident);
  // New incident ids start above `highest_used` (the store's highest "I-<n>").
  void ReserveIds(int64_t highest_used);

  // Applies the time-based rules at clock.Now() and returns every change since the last call.
  std::vector<IncidentChange> Tick();

  // Incidents known now, oldest first.
  std::vector<medic::v1::Incident> Incidents(bool include_resolved) const;

  const EngineOptions& options() const { return options_; }

 private:
  struct Signal {
    std::string host, code, resource;
    medic::v1::Severity severity = medic::v1::SEVERITY_UNSPECIFIED;
    std::string summary;
    std::map<std::string, std::string> evidence;
    bool standing = false;  // the agent says it stands
    bool active = false;    // counted: placed in an incident, or pending placement
    bool pending = false;   // waiting for its group's decision
    bool flapping = false;
    absl::Time raised_at;
    absl::Time pending_since;
    absl::Time last_change;
    std::deque<absl::Time> raises;  // within flap_window
    std::string incident_id;        // member of, or evidence to
    bool evidence_only = false;     // attached to a parent, not a member
  };
  struct Host {
    std::string name;  // hostname, for display
    std::string site, subnet, gateway, os_build;
    std::vector<std::string> labels;
    std::set<std::string> printer_uris;  // device URIs of its print queues
    absl::Time last_seen = absl::InfinitePast();
    bool watched = false;
    bool offline = false;
  };
  struct IncidentState {
    medic::v1::Incident proto;
    std::string key;
    std::set<std::string> members;   // signal keys
    std::set<std::string> machines;  // ids of the machines in proto.hosts
    // Signal keys attached as evidence since it last resolved: a superset (a signal may have
    // cleared or moved since), so that Resolve looks at these rather than at every signal.
    std::set<std::string> evidence;
    absl::Time quiet_since = absl::InfiniteFuture();
    absl::Time not_before_resolve = absl::InfinitePast();
    bool resolved = false;
    absl::Time resolved_at;
  };
  using SignalKey = std::string;  // host \x1f code \x1f resource

  static SignalKey KeyOf(std::string_view host, std::string_view code, std::string_view resource);
  const medic::v1::EngineRule* RuleFor(std::string_view code) const;
  const medic::v1::MaintenanceWindow* MaintenanceFor(const std::string& host) const;
  std::string TimeText(absl::Time t) const;
  const std::string& NameOf(const std::string& host) const;

  void Deactivate(Signal& s, std::string_view why);
  void Activate(Signal& s);
  void Place(Signal& s);
  bool TrySuppress(Signal& s);
  bool Covers(const IncidentState& outage, const Signal& s) const;
  // Places `s` in `incident` as evidence (a child, and an evidence entry under `key`), not as a
  // cause of its own.
  void AddEvidence(IncidentState& incident, Signal& s, const std::string& key);
  void AttachEvidence(IncidentState& outage, Signal& s);
  // After a group incident opened or grew: takes in the host-scoped incidents of the same
  // cause that its members got earlier, and (for an outage) the suppressible findings of the
  // hosts behind it; incidents left empty resolve at once with a note naming `group`.
  void Absorb(IncidentState& group);
  void Resolve(IncidentState& incident, std::string line, std::string note);
  bool AttachStuckJob(Signal& s);
  void DecidePending();
  void DecideOutage(const std::string& code, const std::string& site);
  void DecideShared();
  std::string SharedGroup(const Signal& s) const;

  // The incident for `key`: open, reopened if resolved within reopen_window, or new.
  IncidentState& OpenOrJoin(const std::string& key, const std::string& code,
                            const std::string& resource, medic::v1::Scope scope,
                            const std::vector<Signal*>& members, const std::string& why);
  void AddMember(IncidentState& incident, Signal& s);
  void Explain(IncidentState& incident, std::string line);
  void Emit(ChangeKind kind, const IncidentState& incident, std::vector<std::string> hosts);
  void MarkDirty(const IncidentState& incident);

  const common::Clock& clock_;
  const EngineOptions options_;
  std::map<SignalKey, Signal> signals_;
  std::map<std::string, Host> hosts_;
  std::map<std::string, IncidentState> incidents_;  // by incident id
  std::map<std::string, std::string> by_key_;       // incident key -> id of the latest
  int64_t next_id_ = 1;
  std::vector<IncidentChange> changes_;
  std::set<std::string> dirty_;  // incidents changed without an event of their own
};

}  // namespace medic::collector::engine
