#include "collector/engine/engine.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "common/strings/str_cat.h"

namespace medic::collector::engine {
namespace {

using medic::v1::Incident;
using medic::v1::Scope;

constexpr size_t kMaxEvidence = 64;
// What one finding may carry into the engine: an agent that is buggy or hostile must not grow
// the collector's memory or its tickets without bound.
constexpr size_t kMaxFindingEvidence = 32;
constexpr size_t kMaxText = 1024;

// `text` cut to at most kMaxText bytes, on a UTF-8 character boundary.
std::string Clip(std::string_view text) {
  if (text.size() <= kMaxText) return std::string(text);
  size_t n = kMaxText;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return common::StrCat(text.substr(0, n), "…");
}
constexpr size_t kMaxExplanation = 400;

// Findings a host reports only because something upstream of it is down: a host cut off from
// the network cannot reach its DNS servers, its targets or its network printer either.
bool Suppressible(std::string_view code) {
  return code == "net.dns_failure" || code == "net.target_unreachable" || code == "printer.offline";
}

std::string ScopeText(Scope scope, std::string_view resource) {
  switch (scope) {
    case medic::v1::SCOPE_SUBNET:
      return common::StrCat("subnet ", resource);
    case medic::v1::SCOPE_SITE:
      return common::StrCat("site ", resource);
    default:
      return std::string(resource);
  }
}

absl::Duration Or(const google::protobuf::Duration& d, absl::Duration fallback) {
  const absl::Duration value = common::FromProtoDuration(d);
  return value > absl::ZeroDuration() ? value : fallback;
}

}  // namespace

EngineOptions EngineOptionsFromConfig(const medic::v1::CollectorConfig& config) {
  EngineOptions o;
  const auto& c = config.correlation();
  o.offline_after = Or(config.offline_after(), o.offline_after);
  o.window = Or(c.window(), o.window);
  o.resolve_after = Or(c.resolve_after(), o.resolve_after);
  o.reopen_window = Or(c.reopen_window(), o.reopen_window);
  o.flap_window = Or(c.flap_window(), o.flap_window);
  if (c.flap_count() > 0) o.flap_count = static_cast<int>(c.flap_count());
  if (c.min_hosts() > 0) o.min_hosts = static_cast<int>(c.min_hosts());
  if (c.min_fraction() > 0) o.min_fraction = c.min_fraction();
  o.rules.assign(config.rules().begin(), config.rules().end());
  o.maintenance.assign(config.maintenance().begin(), config.maintenance().end());
  return o;
}

absl::Status ValidateEngineConfig(const medic::v1::CollectorConfig& config) {
  const auto& c = config.correlation();
  if (c.min_fraction() < 0 || c.min_fraction() > 1) {
    return absl::InvalidArgumentError(common::StrCat("correlation.min_fraction: ", c.min_fraction(),
                                                     " is not a share between 0 and 1"));
  }
  if (c.flap_count() == 1) {
    return absl::InvalidArgumentError(
        "correlation.flap_count: 1 would hold every finding as flapping; use 2 or more");
  }
  for (int i = 0; i < config.rules_size(); ++i) {
    const auto& rule = config.rules(i);
    if (rule.code().empty()) {
      return absl::InvalidArgumentError(
          common::StrCat("rules[", i, "]: no code (a finding code, or a prefix like printer.*)"));
    }
    if (common::FromProtoDuration(rule.for_()) < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(common::StrCat("rules[", i, "].for: negative"));
    }
  }
  for (int i = 0; i < config.maintenance_size(); ++i) {
    const auto& m = config.maintenance(i);
    if (m.hosts().empty() && m.site().empty() && m.group().empty()) {
      return absl::InvalidArgumentError(common::StrCat(
          "maintenance[", i, "]: names no hosts, site or group, so it would match nothing"));
    }
    if (!m.has_start() || !m.has_end() ||
        common::FromProtoTime(m.end()) <= common::FromProtoTime(m.start())) {
      return absl::InvalidArgumentError(
          common::StrCat("maintenance[", i, "]: needs a start and an end after it"));
    }
  }
  return absl::OkStatus();
}

CodeClass ClassifyCode(std::string_view code) {
  if (code == kHostOffline || code == "net.gateway_unreachable") return CodeClass::kOutage;
  // The printer's own state, the same whoever reports it.
  if (code == "printer.toner_empty" || code == "printer.toner_low" || code == "printer.jam" ||
      code == "printer.paper_empty" || code == "printer.door_open" || code == "printer.error" ||
      code == "printer.offline") {
    return CodeClass::kDevice;
  }
  if (code == "net.dns_failure" || code == "net.dns_slow" || code == "net.target_unreachable" ||
      code == "net.packet_loss" || code == "net.latency_high" || code == "os.service_failed" ||
      code.starts_with("printer.")) {
    return CodeClass::kShared;
  }
  return CodeClass::kHost;
}

std::string_view ChangeKindName(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kOpened:
      return "opened";
    case ChangeKind::kHostsJoined:
      return "hosts_joined";
    case ChangeKind::kUpdated:
      return "updated";
    case ChangeKind::kResolved:
      return "resolved";
    case ChangeKind::kReopened:
      return "reopened";
  }
  return "updated";
}

Engine::Engine(const common::Clock& clock, EngineOptions options)
    : clock_(clock), options_(std::move(options)) {}

Engine::SignalKey Engine::KeyOf(std::string_view host, std::string_view code,
                                std::string_view resource) {
  return common::StrCat(host, "\x1f", code, "\x1f", resource);
}

std::string Engine::TimeText(absl::Time t) const {
  return absl::FormatTime("%H:%M:%E3S", t, absl::UTCTimeZone());
}

const medic::v1::EngineRule* Engine::RuleFor(std::string_view code) const {
  for (const auto& rule : options_.rules) {
    const std::string& c = rule.code();
    if (c == code) return &rule;
    if (c.ends_with("*") && code.starts_with(std::string_view(c).substr(0, c.size() - 1)))
      return &rule;
  }
  return nullptr;
}

const medic::v1::MaintenanceWindow* Engine::MaintenanceFor(const std::string& host) const {
  const absl::Time now = clock_.Now();
  auto it = hosts_.find(host);
  for (const auto& m : options_.maintenance) {
    if (now < common::FromProtoTime(m.start()) || now >= common::FromProtoTime(m.end())) continue;
    if (std::find(m.hosts().begin(), m.hosts().end(), NameOf(host)) != m.hosts().end()) return &m;
    if (it == hosts_.end()) continue;
    if (!m.site().empty() && m.site() == it->second.site) return &m;
    if (!m.group().empty() && std::find(it->second.labels.begin(), it->second.labels.end(),
                                        m.group()) != it->second.labels.end()) {
      return &m;
    }
  }
  return nullptr;
}

void Engine::SetTopology(const std::string& host, const medic::v1::Topology& topology,
                         const std::vector<std::string>& labels) {
  Host& h = hosts_[host];
  h.site = topology.site();
  h.subnet = topology.subnets().empty() ? "" : topology.subnets(0);
  h.gateway = topology.gateways().empty() ? "" : topology.gateways(0);
  h.os_build = topology.os_build();
  h.printer_uris.clear();
  for (const auto& uri : topology.printer_uris()) {
    if (h.printer_uris.size() >= kMaxFindingEvidence) break;
    h.printer_uris.insert(Clip(uri));
  }
  h.labels = labels;
  h.labels.insert(h.labels.end(), topology.labels().begin(), topology.labels().end());
}

void Engine::SetName(const std::string& host, const std::string& name) { hosts_[host].name = name; }

const std::string& Engine::NameOf(const std::string& host) const {
  auto it = hosts_.find(host);
  return it == hosts_.end() || it->second.name.empty() ? host : it->second.name;
}

void Engine::Watch(const std::string& host, absl::Time last_seen) {
  Host& h = hosts_[host];
  h.watched = true;
  h.last_seen = std::max(h.last_seen, last_seen);
}

void Engine::Seen(const std::string& host) {
  Host& h = hosts_[host];
  h.watched = true;
  h.last_seen = clock_.Now();
  if (h.offline) {
    h.offline = false;
    Clear(host, std::string(kHostOffline), "");
  }
}

void Engine::Raise(const std::string& host, const medic::v1::Finding& finding) {
  const medic::v1::EngineRule* rule = RuleFor(finding.code());
  if (rule != nullptr && rule->ignore()) return;
  const absl::Time now = clock_.Now();
  Signal& s = signals_[KeyOf(host, finding.code(), finding.resource())];
  s.host = host;
  s.code = finding.code();
  s.resource = finding.resource();
  s.severity = rule != nullptr && rule->severity() != medic::v1::SEVERITY_UNSPECIFIED
                   ? rule->severity()
                   : finding.severity();
  s.summary = Clip(finding.summary());
  s.evidence.clear();
  for (const auto& [k, v] : finding.evidence()) {
    if (s.evidence.size() >= kMaxFindingEvidence) break;
    s.evidence.emplace(Clip(k), Clip(v));
  }
  if (s.standing) return;  // an update of a standing finding
  s.standing = true;
  s.raised_at = now;
  s.last_change = now;
  s.raises.push_back(now);
  while (!s.raises.empty() && now - s.raises.front() > options_.flap_window) s.raises.pop_front();
  // flap_count raises are all the flap rule looks at.
  while (static_cast<int>(s.raises.size()) > options_.flap_count) s.raises.pop_front();
  const bool starts_flapping =
      !s.flapping && static_cast<int>(s.raises.size()) >= options_.flap_count;
  if (starts_flapping) s.flapping = true;
  if (!s.active) Activate(s);  // an active one is held through its clear while flapping
  if (starts_flapping && !s.incident_id.empty()) {
    Explain(incidents_.at(s.incident_id),
            common::StrCat(TimeText(now), " ", NameOf(host), "'s ", s.code, " is flapping (",
                           s.raises.size(), " raises within ",
                           common::HumanDuration(options_.flap_window),
                           "): held as one standing fault until it is quiet that long, not "
                           "ticketed again"));
  }
}

void Engine::Clear(const std::string& host, const std::string& code, const std::string& resource) {
  auto it = signals_.find(KeyOf(host, code, resource));
  if (it == signals_.end() || !it->second.standing) return;
  Signal& s = it->second;
  s.standing = false;
  s.last_change = clock_.Now();
  if (!s.active || s.flapping) return;  // not counted yet, or held while flapping
  Deactivate(s, "cleared");
}

void Engine::Snapshot(const std::string& host, const std::vector<medic::v1::Finding>& findings) {
  std::set<SignalKey> now_standing;
  for (const auto& f : findings) now_standing.insert(KeyOf(host, f.code(), f.resource()));
  std::vector<std::pair<std::string, std::string>> to_clear;
  for (const auto& [key, s] : signals_) {
    if (s.host == host && s.standing && s.code != kHostOffline && !now_standing.contains(key)) {
      to_clear.emplace_back(s.code, s.resource);
    }
  }
  for (const auto& [code, resource] : to_clear) Clear(host, code, resource);
  for (const auto& f : findings) Raise(host, f);
}

void Engine::Activate(Signal& s) {
  const medic::v1::EngineRule* rule = RuleFor(s.code);
  const absl::Duration hold =
      rule != nullptr ? common::FromProtoDuration(rule->for_()) : absl::ZeroDuration();
  if (clock_.Now() - s.raised_at < hold) return;  // Tick looks again
  if (MaintenanceFor(s.host) != nullptr) return;  // counted once the window ends, if standing
  s.active = true;
  Place(s);
}

void Engine::Deactivate(Signal& s, std::string_view why) {
  s.active = false;
  s.pending = false;
  if (s.incident_id.empty()) return;
  IncidentState& incident = incidents_.at(s.incident_id);
  s.incident_id.clear();
  const bool evidence = s.evidence_only;
  s.evidence_only = false;
  const absl::Time now = clock_.Now();
  if (evidence) {
    Explain(incident, common::StrCat(TimeText(now), " evidence from ", NameOf(s.host), " (", s.code,
                                     " ", s.resource, ") ", why));
    return;
  }
  incident.members.erase(KeyOf(s.host, s.code, s.resource));
  std::string line = common::StrCat(TimeText(now), " ", NameOf(s.host), " ", why);
  if (incident.members.empty()) {
    incident.quiet_since = now;
    line += common::StrCat("; no member left, resolves after ",
                           common::HumanDuration(options_.resolve_after), " of quiet");
  }
  Explain(incident, std::move(line));
}

bool Engine::Covers(const IncidentState& outage, const Signal& s) const {
  const Incident& p = outage.proto;
  if (outage.resolved || (p.code() != "net.gateway_unreachable" && p.code() != kHostOffline)) {
    return false;
  }
  if (p.scope() == medic::v1::SCOPE_HOST) return outage.machines.contains(s.host);
  auto h = hosts_.find(s.host);
  if (h == hosts_.end()) return false;
  return (p.scope() == medic::v1::SCOPE_SUBNET && p.resource() == h->second.subnet) ||
         (p.scope() == medic::v1::SCOPE_SITE && p.resource() == h->second.site);
}

void Engine::AddEvidence(IncidentState& incident, Signal& s, const std::string& key) {
  const Incident& p = incident.proto;
  s.pending = false;
  s.incident_id = p.incident_id();
  s.evidence_only = true;
  incident.evidence.insert(KeyOf(s.host, s.code, s.resource));
  const std::string child =
      common::StrCat(NameOf(s.host), " ", s.code, " ", s.resource, " (evidence)");
  if (std::find(p.children().begin(), p.children().end(), child) == p.children().end()) {
    incident.proto.add_children(child);
  }
  if (incident.proto.evidence_size() < static_cast<int>(kMaxEvidence)) {
    (*incident.proto.mutable_evidence())[key] = s.summary.empty() ? s.resource : s.summary;
  }
}

void Engine::AttachEvidence(IncidentState& incident, Signal& s) {
  const Incident& p = incident.proto;
  AddEvidence(incident, s, common::StrCat(NameOf(s.host), " ", s.code));
  Explain(incident, common::StrCat(TimeText(clock_.Now()), " ", NameOf(s.host), "'s ", s.code,
                                   " on ", s.resource,
                                   " attached as evidence, not ticketed: the host is "
                                   "behind this open incident (",
                                   p.code(), " on ", ScopeText(p.scope(), p.resource()), ")"));
}

bool Engine::TrySuppress(Signal& s) {
  if (s.code == "printer.job_stuck") return AttachStuckJob(s);
  if (!Suppressible(s.code)) return false;
  for (auto& [id, incident] : incidents_) {
    if (!Covers(incident, s)) continue;
    AttachEvidence(incident, s);
    return true;
  }
  return false;
}

void Engine::Absorb(IncidentState& group) {
  const Incident& p = group.proto;
  const std::string& id = p.incident_id();
  const bool outage = ClassifyCode(p.code()) == CodeClass::kOutage;
  if (!outage && p.scope() == medic::v1::SCOPE_HOST) return;
  std::vector<Signal*> merged, suppressed;
  std::set<std::string> left;  // incidents members were taken from
  auto consider = [&](const SignalKey& key, Signal& s) {
    if (!s.active || s.evidence_only || s.incident_id.empty() || s.incident_id == id) return;
    IncidentState& from = incidents_.at(s.incident_id);
    if (from.resolved) return;
    if (outage && Suppressible(s.code) && Covers(group, s)) {
      suppressed.push_back(&s);
    } else if (p.scope() != medic::v1::SCOPE_HOST && from.proto.scope() == medic::v1::SCOPE_HOST &&
               s.code == p.code()) {
      auto h = hosts_.find(s.host);
      const bool belongs =
          p.scope() == medic::v1::SCOPE_RESOURCE
              ? ClassifyCode(s.code) == CodeClass::kShared && SharedGroup(s) == p.resource()
              : h != hosts_.end() &&
                    p.resource() ==
                        (p.scope() == medic::v1::SCOPE_SUBNET ? h->second.subnet : h->second.site);
      if (!belongs) return;
      merged.push_back(&s);
    } else {
      return;
    }
    from.members.erase(key);
    left.insert(from.proto.incident_id());
  };
  if (p.scope() == medic::v1::SCOPE_HOST) {
    // A host-scoped outage takes in only the findings of its own machine (Covers): look at that
    // machine's signals, not at the whole fleet's. A fleet going offline one host incident each
    // would otherwise cost machines × signals in one tick (seconds at 10,000 machines).
    for (const std::string& machine : group.machines) {
      const SignalKey prefix = common::StrCat(machine, "\x1f");
      for (auto it = signals_.lower_bound(prefix);
           it != signals_.end() && it->first.starts_with(prefix); ++it) {
        if (it->second.host == machine) consider(it->first, it->second);
      }
    }
  } else {
    for (auto& [key, s] : signals_) consider(key, s);
  }
  if (merged.empty() && suppressed.empty()) return;
  for (Signal* s : suppressed) AttachEvidence(group, *s);
  if (!merged.empty()) {
    std::vector<std::string> joined;
    for (Signal* s : merged) {
      if (!group.machines.contains(s->host)) {
        joined.push_back(NameOf(s->host));
      }
      AddMember(group, *s);
    }
    Explain(group, common::StrCat(TimeText(clock_.Now()), " took in the earlier host incidents of ",
                                  absl::StrJoin(joined, ", "), ": the same ", p.code(), " on ",
                                  ScopeText(p.scope(), p.resource()), ", one cause"));
    if (!joined.empty()) Emit(ChangeKind::kHostsJoined, group, std::move(joined));
  }
  for (const std::string& from_id : left) {
    IncidentState& from = incidents_.at(from_id);
    if (!from.members.empty() || from.resolved) continue;
    const std::string note =
        from.proto.code() == p.code()
            ? common::StrCat("merged into ", id, ": the same ", p.code(), " on ",
                             ScopeText(p.scope(), p.resource()), " from several hosts, one cause")
            : common::StrCat("suppressed under ", id, ": its hosts are behind ", p.code(), " on ",
                             ScopeText(p.scope(), p.resource()));
    Resolve(from, common::StrCat(TimeText(clock_.Now()), " resolved: ", note), note);
  }
}

bool Engine::AttachStuckJob(Signal& s) {
  // A user's job stuck behind a printer that is jammed, out of toner, … belongs to that
  // printer's incident: the users affected, not a cause of its own.
  for (auto& [id, incident] : incidents_) {
    const Incident& p = incident.proto;
    if (incident.resolved || p.scope() != medic::v1::SCOPE_RESOURCE || p.resource() != s.resource ||
        ClassifyCode(p.code()) != CodeClass::kDevice) {
      continue;
    }
    AddEvidence(incident, s, common::StrCat(NameOf(s.host), " stuck job"));
    Explain(incident,
            common::StrCat(TimeText(clock_.Now()), " ", NameOf(s.host),
                           "'s stuck job attached: it waits for this printer (", p.code(), ")"));
    return true;
  }
  return false;
}

std::string Engine::SharedGroup(const Signal& s) const {
  if (s.code == "os.service_failed") {
    auto h = hosts_.find(s.host);
    if (h != hosts_.end() && !h->second.os_build.empty()) {
      return common::StrCat(s.resource, " on ", h->second.os_build);
    }
  }
  return s.resource;
}

void Engine::Place(Signal& s) {
  if (TrySuppress(s)) return;
  const std::string host_key = common::StrCat("host|", s.host, "|", s.code, "|", s.resource);
  auto open = [&](const std::string& key) -> IncidentState* {
    auto it = by_key_.find(key);
    if (it == by_key_.end()) return nullptr;
    IncidentState& incident = incidents_.at(it->second);
    return incident.resolved ? nullptr : &incident;
  };
  // A shared fault that recurs soon after its incident resolved reopens it at once.
  auto reopenable = [&](const std::string& key) {
    auto it = by_key_.find(key);
    if (it == by_key_.end()) return false;
    const IncidentState& incident = incidents_.at(it->second);
    return incident.resolved && clock_.Now() - incident.resolved_at <= options_.reopen_window;
  };
  CodeClass code_class = ClassifyCode(s.code);
  if (code_class == CodeClass::kDevice) {
    // Only a printer the host prints to (its topology) can be judged a device fault from one
    // report; anything else an agent claims is about that host alone.
    auto h = hosts_.find(s.host);
    if (h == hosts_.end() || !h->second.printer_uris.contains(s.resource)) {
      code_class = CodeClass::kHost;
    }
  }
  switch (code_class) {
    case CodeClass::kHost:
      OpenOrJoin(host_key, s.code, s.resource, medic::v1::SCOPE_HOST, {&s},
                 common::StrCat(s.code, " on ", s.resource.empty() ? NameOf(s.host) : s.resource,
                                " of ", NameOf(s.host), " is a fault of that machine alone"));
      return;
    case CodeClass::kDevice:
      OpenOrJoin(common::StrCat("resource|", s.code, "|", s.resource), s.code, s.resource,
                 medic::v1::SCOPE_RESOURCE, {&s},
                 common::StrCat(s.code, " is the printer's own state (", s.resource,
                                "): one incident per printer, whoever reports it; first "
                                "reported by ",
                                NameOf(s.host)));
      return;
    case CodeClass::kShared: {
      const std::string group = SharedGroup(s);
      const std::string key = common::StrCat("resource|", s.code, "|", group);
      if (open(key) != nullptr || reopenable(key)) {
        OpenOrJoin(key, s.code, group, medic::v1::SCOPE_RESOURCE, {&s}, "");
        return;
      }
      if (open(host_key) != nullptr || reopenable(host_key)) {
        OpenOrJoin(host_key, s.code, s.resource, medic::v1::SCOPE_HOST, {&s}, "");
        return;
      }
      break;
    }
    case CodeClass::kOutage: {
      auto h = hosts_.find(s.host);
      if (h != hosts_.end()) {
        for (const std::string& key : {common::StrCat("site|", s.code, "|", h->second.site),
                                       common::StrCat("subnet|", s.code, "|", h->second.subnet)}) {
          if (IncidentState* incident = open(key)) {
            OpenOrJoin(key, s.code, incident->proto.resource(), incident->proto.scope(), {&s}, "");
            return;
          }
        }
      }
      if (open(host_key) != nullptr) {
        OpenOrJoin(host_key, s.code, s.resource, medic::v1::SCOPE_HOST, {&s}, "");
        return;
      }
      break;
    }
  }
  s.pending = true;
  s.pending_since = clock_.Now();
}

Engine::IncidentState& Engine::OpenOrJoin(const std::string& key, const std::string& code,
                                          const std::string& resource, medic::v1::Scope scope,
                                          const std::vector<Signal*>& members,
                                          const std::string& why) {
  const absl::Time now = clock_.Now();
  auto add_all = [&](IncidentState& incident) {
    std::vector<std::string> joined;
    for (Signal* s : members) {
      const bool known = incident.machines.contains(s->host);
      AddMember(incident, *s);
      if (!known) joined.push_back(NameOf(s->host));
    }
    return joined;
  };
  if (auto it = by_key_.find(key); it != by_key_.end()) {
    IncidentState& incident = incidents_.at(it->second);
    if (!incident.resolved) {
      std::vector<std::string> joined = add_all(incident);
      if (!joined.empty()) {
        Explain(incident,
                common::StrCat(TimeText(now), " joined (same ", code, " on ",
                               ScopeText(scope, resource),
                               ", while the incident is open): ", absl::StrJoin(joined, ", ")));
        Emit(ChangeKind::kHostsJoined, incident, std::move(joined));
      } else {
        MarkDirty(incident);
      }
      Absorb(incident);
      return incident;
    }
    if (now - incident.resolved_at <= options_.reopen_window) {
      incident.resolved = false;
      incident.proto.clear_resolved_at();
      incident.proto.set_reopen_count(incident.proto.reopen_count() + 1);
      incident.not_before_resolve = absl::InfinitePast();
      std::vector<std::string> hosts;
      for (Signal* s : members) hosts.push_back(NameOf(s->host));
      Explain(incident, common::StrCat(TimeText(now), " reopened: ", code, " recurred ",
                                       common::HumanDuration(now - incident.resolved_at),
                                       " after it resolved (reopen window ",
                                       common::HumanDuration(options_.reopen_window), "), on ",
                                       absl::StrJoin(hosts, ", ")));
      add_all(incident);
      Emit(ChangeKind::kReopened, incident, std::move(hosts));
      Absorb(incident);
      return incident;
    }
  }
  const std::string id = common::StrCat("I-", next_id_++);
  IncidentState& incident = incidents_[id];
  incident.key = key;
  incident.proto.set_incident_id(id);
  incident.proto.set_code(code);
  incident.proto.set_resource(resource);
  incident.proto.set_scope(scope);
  *incident.proto.mutable_opened_at() = common::ToProtoTime(now);
  by_key_[key] = id;
  Explain(incident, common::StrCat(TimeText(now), " opened because ", why));
  std::vector<std::string> hosts = add_all(incident);
  Emit(ChangeKind::kOpened, incident, std::move(hosts));
  Absorb(incident);
  return incident;
}

void Engine::AddMember(IncidentState& incident, Signal& s) {
  s.pending = false;
  s.incident_id = incident.proto.incident_id();
  s.evidence_only = false;
  incident.members.insert(KeyOf(s.host, s.code, s.resource));
  incident.quiet_since = absl::InfiniteFuture();
  Incident& p = incident.proto;
  if (incident.machines.insert(s.host).second) {
    p.add_hosts(NameOf(s.host));
  }
  const std::string child = common::StrCat(NameOf(s.host), " ", s.code, " ", s.resource);
  if (std::find(p.children().begin(), p.children().end(), child) == p.children().end()) {
    p.add_children(child);
  }
  if (s.severity > p.severity()) p.set_severity(s.severity);
  if (p.evidence_size() < static_cast<int>(kMaxEvidence)) {
    (*p.mutable_evidence())[NameOf(s.host)] = s.summary.empty() ? s.code : s.summary;
    if (p.scope() == medic::v1::SCOPE_HOST) {
      for (const auto& [k, v] : s.evidence) {
        if (p.evidence_size() >= static_cast<int>(kMaxEvidence) && !p.evidence().contains(k)) break;
        (*p.mutable_evidence())[k] = v;
      }
    }
  }
}

void Engine::Explain(IncidentState& incident, std::string line) {
  auto* lines = incident.proto.mutable_explanation();
  if (lines->size() >= static_cast<int>(kMaxExplanation)) lines->DeleteSubrange(1, 1);
  lines->Add(std::move(line));
  MarkDirty(incident);
}

void Engine::MarkDirty(const IncidentState& incident) {
  dirty_.insert(incident.proto.incident_id());
}

void Engine::Emit(ChangeKind kind, const IncidentState& incident, std::vector<std::string> hosts) {
  // Hosts joining an incident opened, reopened or joined earlier in this batch are one change:
  // one ticket event for people and helpdesks, not one per host.
  if (kind == ChangeKind::kHostsJoined) {
    for (auto it = changes_.rbegin(); it != changes_.rend(); ++it) {
      if (it->incident.incident_id() != incident.proto.incident_id()) continue;
      if (it->kind == ChangeKind::kResolved || it->kind == ChangeKind::kUpdated) break;
      it->hosts.insert(it->hosts.end(), hosts.begin(), hosts.end());
      it->incident = incident.proto;
      *it->incident.mutable_updated_at() = common::ToProtoTime(clock_.Now());
      dirty_.erase(incident.proto.incident_id());
      return;
    }
  }
  IncidentChange change{kind, incident.proto, std::move(hosts), {}};
  *change.incident.mutable_updated_at() = common::ToProtoTime(clock_.Now());
  changes_.push_back(std::move(change));
  dirty_.erase(incident.proto.incident_id());
}

void Engine::DecidePending() {
  const absl::Time now = clock_.Now();
  // Outages first: a gateway incident decided now suppresses DNS findings decided below.
  // Decided at the end of the window, or at once when every known host of the site is in. The
  // counts are taken in one pass over the signals and one over the hosts, not in a pass per
  // group: with many sites waiting (branch offices losing power while a UPS keeps one machine
  // up in each) a pass per group made every tick cost sites × machines. Deciding a group
  // places only its own signals, so it changes no other group's counts.
  struct Group {
    absl::Time since = absl::InfiniteFuture();
    int in_group = 0;
  };
  std::map<std::pair<std::string, std::string>, Group> outage_groups;  // (code, site)
  for (const auto& [key, s] : signals_) {
    if (!s.pending || ClassifyCode(s.code) != CodeClass::kOutage) continue;
    Group& group = outage_groups[{s.code, hosts_[s.host].site}];
    group.since = std::min(group.since, s.pending_since);
    ++group.in_group;
  }
  std::map<std::string, int> site_total;
  for (const auto& [group, g] : outage_groups) site_total.emplace(group.second, 0);
  if (!site_total.empty()) {
    for (const auto& [name, h] : hosts_) {
      if (auto it = site_total.find(h.site); it != site_total.end()) ++it->second;
    }
  }
  for (const auto& [group, g] : outage_groups) {
    const auto& [code, site] = group;
    const bool everyone = !site.empty() && g.in_group >= site_total[site];
    if (now - g.since >= options_.window || everyone) DecideOutage(code, site);
  }
  DecideShared();
}

void Engine::DecideOutage(const std::string& code, const std::string& site) {
  std::map<std::string, std::vector<Signal*>> by_subnet;
  std::vector<Signal*> all;
  for (auto& [key, s] : signals_) {
    if (!s.pending || s.code != code || hosts_[s.host].site != site) continue;
    by_subnet[hosts_[s.host].subnet].push_back(&s);
    all.push_back(&s);
  }
  auto known = [&](auto&& match) {
    int n = 0;
    for (const auto& [name, h] : hosts_) n += match(h) ? 1 : 0;
    return n;
  };
  const auto& o = options_;
  auto enough = [&](size_t n, int total) {
    return static_cast<int>(n) >= o.min_hosts &&
           static_cast<double>(n) >= o.min_fraction * static_cast<double>(total) - 1e-9;
  };
  const std::string what =
      code == kHostOffline ? "stopped sending heartbeats" : "lost their default gateway";
  std::set<std::string> hosts_in;
  for (Signal* s : all) hosts_in.insert(s->host);
  const int site_total = site.empty() ? 0 : known([&](const Host& h) { return h.site == site; });
  if (!site.empty() && by_subnet.size() >= 2 && enough(hosts_in.size(), site_total)) {
    OpenOrJoin(common::StrCat("site|", code, "|", site), code, site, medic::v1::SCOPE_SITE, all,
               common::StrCat(hosts_in.size(), " of the ", site_total, " known hosts of site ",
                              site, ", across ", by_subnet.size(), " subnets, ", what, " within ",
                              common::HumanDuration(o.window), " (rule: at least ", o.min_hosts,
                              " hosts and ", std::lround(o.min_fraction * 100),
                              "% of the group); their per-host ", code,
                              " findings are this incident's children, not tickets"));
    return;
  }
  for (auto& [subnet, members] : by_subnet) {
    std::set<std::string> hosts;
    for (Signal* s : members) hosts.insert(s->host);
    const int total = subnet.empty() ? 0 : known([&](const Host& h) { return h.subnet == subnet; });
    if (!subnet.empty() && enough(hosts.size(), total)) {
      std::string gateway;
      if (code == "net.gateway_unreachable") gateway = members.front()->resource;
      OpenOrJoin(
          common::StrCat("subnet|", code, "|", subnet), code, subnet, medic::v1::SCOPE_SUBNET,
          members,
          common::StrCat(hosts.size(), " of the ", total, " known hosts of subnet ", subnet,
                         gateway.empty() ? "" : common::StrCat(" (gateway ", gateway, ")"), " ",
                         what, " within ", common::HumanDuration(o.window), " (rule: at least ",
                         o.min_hosts, " hosts and ", std::lround(o.min_fraction * 100),
                         "% of the group); their per-host ", code,
                         " findings are this incident's children, not tickets"));
      continue;
    }
    for (Signal* s : members) {
      OpenOrJoin(
          common::StrCat("host|", s->host, "|", s->code, "|", s->resource), s->code, s->resource,
          medic::v1::SCOPE_HOST, {s},
          common::StrCat(NameOf(s->host), " ", what, "; only ", hosts.size(), " of the ", total,
                         " known hosts of ", subnet.empty() ? "its (unknown) subnet" : subnet,
                         " did within ", common::HumanDuration(o.window),
                         ", too few for a shared cause (rule: at least ", o.min_hosts,
                         " hosts and ", std::lround(o.min_fraction * 100), "%)"));
    }
  }
}

void Engine::DecideShared() {
  const absl::Time now = clock_.Now();
  std::set<std::string> waiting_on_outage;  // hosts whose outage is not decided yet
  for (const auto& [key, s] : signals_) {
    if (s.pending && ClassifyCode(s.code) == CodeClass::kOutage) waiting_on_outage.insert(s.host);
  }
  std::map<std::pair<std::string, std::string>, std::vector<Signal*>> groups;
  for (auto& [key, s] : signals_) {
    if (!s.pending || ClassifyCode(s.code) != CodeClass::kShared) continue;
    if (Suppressible(s.code) && waiting_on_outage.contains(s.host)) continue;
    if (TrySuppress(s)) continue;  // a parent opened while it waited
    groups[{s.code, SharedGroup(s)}].push_back(&s);
  }
  // Hosts that got a host incident of their own for the same fault still count: the one that
  // makes min_hosts opens the shared incident, and it takes theirs in (Absorb).
  std::map<std::pair<std::string, std::string>, std::set<std::string>> earlier;
  for (const auto& [key, s] : signals_) {
    if (!s.active || s.evidence_only || s.incident_id.empty() ||
        !groups.contains({s.code, SharedGroup(s)}))
      continue;
    const IncidentState& incident = incidents_.at(s.incident_id);
    if (!incident.resolved && incident.proto.scope() == medic::v1::SCOPE_HOST) {
      earlier[{s.code, SharedGroup(s)}].insert(s.host);
    }
  }
  for (auto& [group, members] : groups) {
    const auto& [code, resource] = group;
    std::set<std::string> hosts = earlier[group];
    absl::Time first = absl::InfiniteFuture();
    for (Signal* s : members) {
      hosts.insert(s->host);
      first = std::min(first, s->pending_since);
    }
    if (static_cast<int>(hosts.size()) >= options_.min_hosts) {
      OpenOrJoin(
          common::StrCat("resource|", code, "|", resource), code, resource,
          medic::v1::SCOPE_RESOURCE, members,
          common::StrCat(code, " on ", resource, " was reported by ", hosts.size(), " hosts (",
                         earlier[group].empty()
                             ? ""
                             : common::StrCat(earlier[group].size(),
                                              " of them still from earlier, as host incidents; "),
                         members.size(), " new within ", common::HumanDuration(now - first), ")",
                         " (rule: the same code and resource from at least ", options_.min_hosts,
                         " hosts within ", common::HumanDuration(options_.window), ")"));
      continue;
    }
    for (Signal* s : members) {
      if (now - s->pending_since < options_.window) continue;
      OpenOrJoin(common::StrCat("host|", s->host, "|", s->code, "|", s->resource), s->code,
                 s->resource, medic::v1::SCOPE_HOST, {s},
                 common::StrCat(s->code, " on ", s->resource, " was reported by ", NameOf(s->host),
                                " and by only ", hosts.size() - 1, " other host(s) within ",
                                common::HumanDuration(options_.window), ", fewer than the ",
                                options_.min_hosts, " a shared cause needs: a fault of this host"));
    }
  }
}

void Engine::Restore(const medic::v1::Incident& stored) {
  const absl::Time now = clock_.Now();
  const std::string& id = stored.incident_id();
  int64_t number = 0;
  if (id.starts_with("I-") && absl::SimpleAtoi(id.substr(2), &number)) {
    next_id_ = std::max(next_id_, number + 1);
  }
  const bool resolved = stored.has_resolved_at();
  if (resolved && now - common::FromProtoTime(stored.resolved_at()) > options_.reopen_window) {
    return;
  }
  IncidentState& incident = incidents_[id];
  incident.proto = stored;
  incident.resolved = resolved;
  // Stored incidents name their hosts; machines of those names (known from the store) are the
  // ones they were about.
  for (const auto& [machine, h] : hosts_) {
    if (std::find(stored.hosts().begin(), stored.hosts().end(), NameOf(machine)) !=
        stored.hosts().end()) {
      incident.machines.insert(machine);
    }
  }
  if (resolved) incident.resolved_at = common::FromProtoTime(stored.resolved_at());
  switch (stored.scope()) {
    case medic::v1::SCOPE_HOST:
      incident.key = common::StrCat(
          "host|", incident.machines.empty() ? stored.hosts(0) : *incident.machines.begin(), "|",
          stored.code(), "|", stored.resource());
      break;
    case medic::v1::SCOPE_RESOURCE:
      incident.key = common::StrCat("resource|", stored.code(), "|", stored.resource());
      break;
    case medic::v1::SCOPE_SUBNET:
      incident.key = common::StrCat("subnet|", stored.code(), "|", stored.resource());
      break;
    default:
      incident.key = common::StrCat("site|", stored.code(), "|", stored.resource());
      break;
  }
  incident.quiet_since = now;
  incident.not_before_resolve = now + options_.offline_after + options_.window;
  auto it = by_key_.find(incident.key);
  if (it == by_key_.end() || incidents_.at(it->second).resolved) by_key_[incident.key] = id;
}

void Engine::Resolve(IncidentState& incident, std::string line, std::string note) {
  const absl::Time now = clock_.Now();
  const std::string id = incident.proto.incident_id();
  incident.resolved = true;
  incident.resolved_at = now;
  *incident.proto.mutable_resolved_at() = common::ToProtoTime(now);
  Explain(incident, std::move(line));
  Emit(ChangeKind::kResolved, incident, {});
  changes_.back().note = std::move(note);
  // Evidence attached to it goes back to being judged on its own. Placing it may attach it
  // elsewhere, and only to an open incident, so this one's list starts afresh.
  const std::set<SignalKey> evidence = std::exchange(incident.evidence, {});
  for (const SignalKey& key : evidence) {
    auto it = signals_.find(key);
    if (it == signals_.end()) continue;
    Signal& s = it->second;
    if (s.incident_id == id && s.evidence_only) {
      s.incident_id.clear();
      s.evidence_only = false;
      if (s.standing && s.active) Place(s);
    }
  }
}

void Engine::ReserveIds(int64_t highest_used) { next_id_ = std::max(next_id_, highest_used + 1); }

std::vector<IncidentChange> Engine::Tick() {
  const absl::Time now = clock_.Now();
  for (auto& [name, h] : hosts_) {
    if (!h.watched || h.offline || now - h.last_seen <= options_.offline_after) continue;
    h.offline = true;
    medic::v1::Finding offline;
    offline.set_code(std::string(kHostOffline));
    offline.set_severity(medic::v1::SEVERITY_CRITICAL);
    offline.set_summary(common::StrCat(NameOf(name), " has sent nothing since ",
                                       TimeText(h.last_seen), " (offline after ",
                                       common::HumanDuration(options_.offline_after), ")"));
    Raise(name, offline);
  }
  for (auto& [key, s] : signals_) {
    if (s.standing && !s.active) Activate(s);
    if (s.flapping && now - s.last_change >= options_.flap_window) {
      s.flapping = false;
      if (s.active && !s.standing) Deactivate(s, "cleared and stayed clear after flapping");
    }
  }
  DecidePending();
  std::vector<std::string> forget;
  for (auto& [id, incident] : incidents_) {
    if (incident.resolved) {
      if (now - incident.resolved_at > options_.reopen_window) forget.push_back(id);
      continue;
    }
    if (!incident.members.empty() || now - incident.quiet_since < options_.resolve_after ||
        now < incident.not_before_resolve) {
      continue;
    }
    Resolve(incident,
            common::StrCat(TimeText(now), " resolved: no host has reported ", incident.proto.code(),
                           " for ", common::HumanDuration(now - incident.quiet_since)),
            "");
  }
  for (const std::string& id : forget) {
    IncidentState& incident = incidents_.at(id);
    if (auto it = by_key_.find(incident.key); it != by_key_.end() && it->second == id) {
      by_key_.erase(it);
    }
    for (auto& [key, s] : signals_) {
      if (s.incident_id == id) s.incident_id.clear();
    }
    incidents_.erase(id);
  }
  for (const std::string& id : dirty_) {
    auto it = incidents_.find(id);
    if (it == incidents_.end()) continue;
    IncidentChange change{ChangeKind::kUpdated, it->second.proto, {}, {}};
    *change.incident.mutable_updated_at() = common::ToProtoTime(now);
    changes_.push_back(std::move(change));
  }
  dirty_.clear();
  // Cleared signals that belong to nothing are forgotten, unless their flap history matters.
  std::erase_if(signals_, [&](const auto& entry) {
    const Signal& s = entry.second;
    return !s.standing && !s.active && s.incident_id.empty() &&
           (s.raises.empty() || now - s.raises.back() > options_.flap_window);
  });
  return std::exchange(changes_, {});
}

std::vector<medic::v1::Incident> Engine::Incidents(bool include_resolved) const {
  std::vector<std::pair<int64_t, medic::v1::Incident>> out;
  for (const auto& [id, incident] : incidents_) {
    if (incident.resolved && !include_resolved) continue;
    int64_t n = 0;
    (void)absl::SimpleAtoi(id.substr(2), &n);
    out.emplace_back(n, incident.proto);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<medic::v1::Incident> result;
  for (auto& [n, incident] : out) result.push_back(std::move(incident));
  return result;
}

}  // namespace medic::collector::engine
