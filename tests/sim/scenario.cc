#include "tests/sim/scenario.h"

#include <algorithm>
#include <functional>
#include <set>

#include "common/proto/enum_words.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"
#include "yaml-cpp/yaml.h"

namespace medic::sim {
namespace {

// Errors name the file and the line of the node at fault.
class Parser {
 public:
  explicit Parser(std::string_view file) : file_(file) {}

  absl::Status Error(const YAML::Node& node, std::string_view what) const {
    return absl::InvalidArgumentError(common::StrCat(file_, ":", node.Mark().line + 1, ": ", what));
  }

  absl::Status Keys(const YAML::Node& node, std::string_view where,
                    std::initializer_list<std::string_view> allowed) const {
    if (!node.IsMap()) return Error(node, common::StrCat(where, ": expected a mapping"));
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += common::StrCat(list.empty() ? "" : ", ", a);
        return Error(kv.first,
                     common::StrCat("unknown key '", key, "' in ", where, " (known: ", list, ")"));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Str(const YAML::Node& node, std::string_view key) const {
    if (!node.IsScalar()) return Error(node, common::StrCat(key, ": expected text"));
    return node.as<std::string>();
  }

  absl::StatusOr<int> Int(const YAML::Node& node, std::string_view key) const {
    int value = 0;
    if (!node.IsScalar() || !YAML::convert<int>::decode(node, value) || value < 0) {
      return Error(node, common::StrCat(key, ": expected a whole number ≥ 0"));
    }
    return value;
  }

  absl::StatusOr<absl::Duration> Duration(const YAML::Node& node, std::string_view key) const {
    if (!node.IsScalar()) return Error(node, common::StrCat(key, ": expected a duration"));
    auto d = common::ParseDuration(node.as<std::string>());
    if (!d.ok()) return Error(node, common::StrCat(key, ": ", d.status().message()));
    return *d;
  }

  absl::StatusOr<std::vector<std::string>> List(const YAML::Node& node,
                                                std::string_view key) const {
    std::vector<std::string> out;
    if (node.IsScalar()) {
      out.push_back(node.as<std::string>());
      return out;
    }
    if (!node.IsSequence()) return Error(node, common::StrCat(key, ": expected a list"));
    for (const auto& item : node) {
      ASSIGN_OR_RETURN(std::string s, Str(item, key));
      out.push_back(std::move(s));
    }
    return out;
  }

  absl::StatusOr<bool> Bool(const YAML::Node& node, std::string_view key) const {
    bool value = false;
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
      return Error(node, common::StrCat(key, ": expected true or false"));
    }
    return value;
  }

  absl::StatusOr<medic::v1::Severity> Severity(const YAML::Node& node) const {
    ASSIGN_OR_RETURN(std::string s, Str(node, "severity"));
    if (s == "info") return medic::v1::SEVERITY_INFO;
    if (s == "warning") return medic::v1::SEVERITY_WARNING;
    if (s == "critical") return medic::v1::SEVERITY_CRITICAL;
    return Error(node, common::StrCat("severity: '", s, "' is not info, warning or critical"));
  }

  std::string file_;
};

}  // namespace

absl::StatusOr<Scenario> ParseScenario(std::string_view text, std::string_view file) {
  Parser p(file);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        common::StrCat(file, ":", e.mark.line + 1, ": not valid YAML: ", e.msg));
  }
  Scenario s;
  try {
    RETURN_IF_ERROR(
        p.Keys(root, "the scenario",
               {"name", "timing", "duration", "fleet", "events", "expect", "collector"}));
    if (!root["name"]) return p.Error(root, "the scenario needs a name");
    ASSIGN_OR_RETURN(s.name, p.Str(root["name"], "name"));
    if (const YAML::Node timing = root["timing"]) {
      RETURN_IF_ERROR(
          p.Keys(timing, "timing", {"heartbeat", "offline_after", "window", "resolve_after"}));
      if (timing["heartbeat"]) {
        ASSIGN_OR_RETURN(s.heartbeat, p.Duration(timing["heartbeat"], "heartbeat"));
      }
      if (timing["offline_after"]) {
        ASSIGN_OR_RETURN(s.offline_after, p.Duration(timing["offline_after"], "offline_after"));
      }
      if (timing["window"]) {
        ASSIGN_OR_RETURN(s.window, p.Duration(timing["window"], "window"));
      }
      if (timing["resolve_after"]) {
        ASSIGN_OR_RETURN(s.resolve_after, p.Duration(timing["resolve_after"], "resolve_after"));
      }
    }
    if (!root["duration"]) return p.Error(root, "the scenario needs a duration");
    ASSIGN_OR_RETURN(s.duration, p.Duration(root["duration"], "duration"));
    if (const YAML::Node collector = root["collector"]) {
      if (!collector.IsMap()) return p.Error(collector, "collector: expected a mapping");
      YAML::Emitter out;
      out << collector;
      s.collector_yaml = out.c_str();
    }

    const YAML::Node fleet = root["fleet"];
    if (!fleet || !fleet.IsSequence() || fleet.size() == 0) {
      return p.Error(fleet ? fleet : root, "fleet: expected a list of host groups");
    }
    std::set<std::string> prefixes;
    for (const auto& g : fleet) {
      RETURN_IF_ERROR(p.Keys(
          g, "fleet",
          {"prefix", "count", "site", "subnet", "gateway", "dns", "printers", "os", "labels"}));
      FleetGroup group;
      if (!g["prefix"] || !g["count"])
        return p.Error(g, "fleet: each group needs prefix and count");
      ASSIGN_OR_RETURN(group.prefix, p.Str(g["prefix"], "prefix"));
      ASSIGN_OR_RETURN(group.count, p.Int(g["count"], "count"));
      if (!prefixes.insert(group.prefix).second) {
        return p.Error(g, common::StrCat("fleet: prefix ", group.prefix, " is used twice"));
      }
      if (g["site"]) {
        ASSIGN_OR_RETURN(group.site, p.Str(g["site"], "site"));
      }
      if (g["subnet"]) {
        ASSIGN_OR_RETURN(group.subnet, p.Str(g["subnet"], "subnet"));
      }
      if (g["gateway"]) {
        ASSIGN_OR_RETURN(group.gateway, p.Str(g["gateway"], "gateway"));
      }
      if (g["os"]) {
        ASSIGN_OR_RETURN(group.os, p.Str(g["os"], "os"));
      }
      if (g["dns"]) {
        ASSIGN_OR_RETURN(group.dns, p.List(g["dns"], "dns"));
      }
      if (g["printers"]) {
        ASSIGN_OR_RETURN(group.printers, p.List(g["printers"], "printers"));
      }
      if (g["labels"]) {
        ASSIGN_OR_RETURN(group.labels, p.List(g["labels"], "labels"));
      }
      s.fleet.push_back(std::move(group));
    }
    const std::vector<std::string> names = HostNames(s);
    const std::set<std::string> known(names.begin(), names.end());

    if (const YAML::Node events = root["events"]) {
      if (!events.IsSequence()) return p.Error(events, "events: expected a list");
      for (const auto& e : events) {
        RETURN_IF_ERROR(
            p.Keys(e, "an event", {"at", "hosts", "raise", "clear", "disconnect", "reconnect"}));
        Event event;
        event.line = e.Mark().line + 1;
        if (!e["at"] || !e["hosts"]) return p.Error(e, "an event needs at and hosts");
        ASSIGN_OR_RETURN(event.at, p.Duration(e["at"], "at"));
        const YAML::Node h = e["hosts"];
        RETURN_IF_ERROR(p.Keys(h, "hosts", {"prefix", "count", "names", "site", "subnet", "all"}));
        if (h["prefix"]) {
          ASSIGN_OR_RETURN(event.hosts.prefix, p.Str(h["prefix"], "prefix"));
          if (!prefixes.contains(event.hosts.prefix)) {
            return p.Error(h,
                           common::StrCat("hosts: no fleet group has prefix ", event.hosts.prefix));
          }
        }
        if (h["count"]) {
          ASSIGN_OR_RETURN(event.hosts.count, p.Int(h["count"], "count"));
        }
        if (h["names"]) {
          ASSIGN_OR_RETURN(event.hosts.names, p.List(h["names"], "names"));
          for (const auto& n : event.hosts.names) {
            if (!known.contains(n))
              return p.Error(h, common::StrCat("hosts: no host is named ", n));
          }
        }
        if (h["site"]) {
          ASSIGN_OR_RETURN(event.hosts.site, p.Str(h["site"], "site"));
        }
        if (h["subnet"]) {
          ASSIGN_OR_RETURN(event.hosts.subnet, p.Str(h["subnet"], "subnet"));
        }
        if (h["all"]) {
          ASSIGN_OR_RETURN(event.hosts.all, p.Bool(h["all"], "all"));
        }
        if (const YAML::Node r = e["raise"]) {
          RETURN_IF_ERROR(
              p.Keys(r, "raise", {"code", "resource", "severity", "summary", "evidence"}));
          if (!r["code"]) return p.Error(r, "raise: needs a code");
          medic::v1::Finding f;
          ASSIGN_OR_RETURN(*f.mutable_code(), p.Str(r["code"], "code"));
          if (r["resource"]) {
            ASSIGN_OR_RETURN(*f.mutable_resource(), p.Str(r["resource"], "resource"));
          }
          f.set_severity(medic::v1::SEVERITY_WARNING);
          if (r["severity"]) {
            ASSIGN_OR_RETURN(medic::v1::Severity sev, p.Severity(r["severity"]));
            f.set_severity(sev);
          }
          if (r["summary"]) {
            ASSIGN_OR_RETURN(*f.mutable_summary(), p.Str(r["summary"], "summary"));
          }
          if (const YAML::Node ev = r["evidence"]) {
            if (!ev.IsMap()) return p.Error(ev, "evidence: expected a mapping");
            for (const auto& kv : ev) {
              (*f.mutable_evidence())[kv.first.as<std::string>()] = kv.second.as<std::string>();
            }
          }
          f.set_probe("sim");
          event.raise = std::move(f);
        }
        if (const YAML::Node c = e["clear"]) {
          RETURN_IF_ERROR(p.Keys(c, "clear", {"code", "resource", "summary"}));
          if (!c["code"]) return p.Error(c, "clear: needs a code");
          medic::v1::FindingCleared clear;
          ASSIGN_OR_RETURN(*clear.mutable_code(), p.Str(c["code"], "code"));
          if (c["resource"]) {
            ASSIGN_OR_RETURN(*clear.mutable_resource(), p.Str(c["resource"], "resource"));
          }
          if (c["summary"]) {
            ASSIGN_OR_RETURN(*clear.mutable_summary(), p.Str(c["summary"], "summary"));
          }
          event.clear = std::move(clear);
        }
        if (e["disconnect"]) {
          ASSIGN_OR_RETURN(event.disconnect, p.Bool(e["disconnect"], "disconnect"));
        }
        if (e["reconnect"]) {
          ASSIGN_OR_RETURN(event.reconnect, p.Bool(e["reconnect"], "reconnect"));
        }
        const int actions =
            (event.raise ? 1 : 0) + (event.clear ? 1 : 0) + event.disconnect + event.reconnect;
        if (actions != 1) {
          return p.Error(e,
                         "an event does exactly one of raise, clear, disconnect: true, "
                         "reconnect: true");
        }
        s.events.push_back(std::move(event));
      }
    }
    std::stable_sort(s.events.begin(), s.events.end(),
                     [](const Event& a, const Event& b) { return a.at < b.at; });

    if (const YAML::Node expect = root["expect"]) {
      RETURN_IF_ERROR(p.Keys(expect, "expect", {"tickets"}));
      s.has_expect = true;
      const YAML::Node tickets = expect["tickets"];
      if (tickets && !tickets.IsSequence())
        return p.Error(tickets, "expect.tickets: expected a list");
      if (tickets) {
        for (const auto& t : tickets) {
          RETURN_IF_ERROR(p.Keys(t, "an expected ticket",
                                 {"code", "resource", "scope", "hosts", "host", "state"}));
          ExpectedTicket x;
          if (!t["code"]) return p.Error(t, "an expected ticket needs a code");
          ASSIGN_OR_RETURN(x.code, p.Str(t["code"], "code"));
          if (t["resource"]) {
            ASSIGN_OR_RETURN(x.resource, p.Str(t["resource"], "resource"));
          }
          if (t["host"]) {
            ASSIGN_OR_RETURN(x.host, p.Str(t["host"], "host"));
          }
          if (t["hosts"]) {
            ASSIGN_OR_RETURN(x.hosts, p.Int(t["hosts"], "hosts"));
          }
          if (t["scope"]) {
            ASSIGN_OR_RETURN(std::string scope, p.Str(t["scope"], "scope"));
            for (auto v :
                 {medic::v1::SCOPE_HOST, medic::v1::SCOPE_RESOURCE, medic::v1::SCOPE_SUBNET,
                  medic::v1::SCOPE_SITE, medic::v1::SCOPE_FLEET}) {
              if (common::EnumWord(v) == scope) x.scope = v;
            }
            if (!x.scope) {
              return p.Error(t["scope"], common::StrCat("scope: '", scope,
                                                        "' is not host, resource, subnet, site "
                                                        "or fleet"));
            }
          }
          if (t["state"]) {
            ASSIGN_OR_RETURN(std::string state, p.Str(t["state"], "state"));
            for (auto v : {medic::v1::TICKET_STATE_OPEN, medic::v1::TICKET_STATE_ACKNOWLEDGED,
                           medic::v1::TICKET_STATE_RESOLVED}) {
              if (common::EnumWord(v) == state) x.state = v;
            }
            if (!x.state) {
              return p.Error(t["state"], common::StrCat("state: '", state,
                                                        "' is not open, acknowledged or resolved"));
            }
          }
          YAML::Emitter out;
          out << YAML::Flow << t;
          x.text = out.c_str();
          s.expect_tickets.push_back(std::move(x));
        }
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(common::StrCat(file, ":", e.mark.line + 1, ": ", e.msg));
  }
  return s;
}

std::vector<std::string> HostNames(const Scenario& scenario) {
  std::vector<std::string> names;
  for (const auto& g : scenario.fleet) {
    for (int i = 1; i <= g.count; ++i) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%03d", i);
      names.push_back(common::StrCat(g.prefix, "-", buf));
    }
  }
  return names;
}

bool Matches(const ExpectedTicket& x, const medic::v1::Ticket& t) {
  if (x.code != t.code()) return false;
  if (x.resource && *x.resource != t.resource()) return false;
  if (x.scope && *x.scope != t.scope()) return false;
  if (x.hosts && *x.hosts != t.hosts_size()) return false;
  if (x.host && (t.hosts_size() != 1 || t.hosts(0) != *x.host)) return false;
  if (x.state && *x.state != t.state()) return false;
  return true;
}

std::string Describe(const medic::v1::Ticket& t) {
  std::string out = common::StrCat("{code: ", t.code());
  if (!t.resource().empty()) out += common::StrCat(", resource: ", t.resource());
  out += common::StrCat(", scope: ", common::EnumWord(t.scope()));
  if (t.hosts_size() == 1) {
    out += common::StrCat(", host: ", t.hosts(0));
  } else {
    out += common::StrCat(", hosts: ", t.hosts_size());
  }
  out += common::StrCat(", state: ", common::EnumWord(t.state()), "}  ", t.ticket_id(), " \"",
                        t.title(), "\"");
  return out;
}

std::string CompareTickets(const std::vector<ExpectedTicket>& expected,
                           const std::vector<medic::v1::Ticket>& actual) {
  // Maximum bipartite matching (augmenting paths): the lists are short.
  std::vector<int> owner(actual.size(), -1);
  std::function<bool(size_t, std::vector<bool>&)> assign = [&](size_t x, std::vector<bool>& seen) {
    for (size_t a = 0; a < actual.size(); ++a) {
      if (seen[a] || !Matches(expected[x], actual[a])) continue;
      seen[a] = true;
      if (owner[a] < 0 || assign(static_cast<size_t>(owner[a]), seen)) {
        owner[a] = static_cast<int>(x);
        return true;
      }
    }
    return false;
  };
  std::vector<bool> matched(expected.size(), false);
  for (size_t x = 0; x < expected.size(); ++x) {
    std::vector<bool> seen(actual.size(), false);
    matched[x] = assign(x, seen);
  }
  std::string diff;
  for (size_t x = 0; x < expected.size(); ++x) {
    if (!matched[x]) diff += common::StrCat("- expected, not raised: ", expected[x].text, "\n");
  }
  for (size_t a = 0; a < actual.size(); ++a) {
    if (owner[a] < 0) diff += common::StrCat("+ raised, not expected: ", Describe(actual[a]), "\n");
  }
  return diff;
}

}  // namespace medic::sim
