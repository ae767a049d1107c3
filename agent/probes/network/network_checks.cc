#include "agent/probes/network/network_checks.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "agent/probes/network/dns_message.h"
#include "agent/probes/network/network_parse.h"
#include "agent/probes/probe_util.h"
#include "agent/probes/text.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"
#include "fmt/format.h"

namespace medic::agent {
namespace {

// The query as a technician would type it to dig: the root's NS when no name is configured,
// else the name's A record.
std::string QueryText(std::string_view name) {
  return name == "." ? ". NS" : common::StrCat(name, " A");
}

using medic::v1::Finding;

bool IsIpLiteral(const std::string& host) {
  unsigned char bytes[16];
  return inet_pton(AF_INET, host.c_str(), bytes) == 1 ||
         inet_pton(AF_INET6, host.c_str(), bytes) == 1;
}

void SetDuration(bool set, const google::protobuf::Duration& value, absl::Duration* out) {
  if (!set) return;
  const absl::Duration d = common::FromProtoDuration(value);
  if (d > absl::ZeroDuration()) *out = d;
}

std::string Ms(double ms) { return fmt::format("{:.1f} ms", ms); }

Finding Make(std::string_view code, medic::v1::Severity severity, std::string_view resource,
             std::string summary) {
  Finding f;
  f.set_code(std::string(code));
  f.set_severity(severity);
  f.set_resource(std::string(resource));
  f.set_summary(std::move(summary));
  return f;
}

std::string OutcomeWords(const medic::v1::DnsCheck& check) {
  switch (check.outcome()) {
    case medic::v1::DNS_OUTCOME_ANSWERED:
      return "answered";
    case medic::v1::DNS_OUTCOME_NXDOMAIN:
      return common::StrCat("says ", check.name(), " does not exist");
    case medic::v1::DNS_OUTCOME_SERVFAIL:
      return common::StrCat("fails to resolve ", check.name(), " (SERVFAIL)");
    case medic::v1::DNS_OUTCOME_REFUSED:
      return common::StrCat("refuses to resolve ", check.name());
    case medic::v1::DNS_OUTCOME_OTHER_RCODE:
      return common::StrCat("answers ", check.name(), " with ", check.rcode());
    case medic::v1::DNS_OUTCOME_TIMEOUT:
      return common::StrCat("does not answer (no reply in ", Ms(check.answer_ms()), ")");
    case medic::v1::DNS_OUTCOME_UNREACHABLE:
      // Port unreachable: the machine is there but no DNS service listens on it.
      if (check.error() == "connection refused") {
        return "is not running a DNS service (connection refused on port 53)";
      }
      return common::StrCat("cannot be reached (", check.error(), ")");
    case medic::v1::DNS_OUTCOME_BAD_ANSWER:
      // A truncated answer is well formed, just cut off: say so, not that it is unreadable.
      if (check.error() == kDnsTruncatedError) {
        return common::StrCat("sends only part of its answer for ", check.name(),
                              " (truncated, too large for UDP; it wants TCP, which this check "
                              "does not use)");
      }
      return common::StrCat("sends an answer that cannot be read (", check.error(), ")");
    default:
      return "was not asked";
  }
}

std::string OutcomeKey(medic::v1::DnsOutcome outcome) {
  switch (outcome) {
    case medic::v1::DNS_OUTCOME_ANSWERED:
      return "answered";
    case medic::v1::DNS_OUTCOME_NXDOMAIN:
      return "nxdomain";
    case medic::v1::DNS_OUTCOME_SERVFAIL:
      return "servfail";
    case medic::v1::DNS_OUTCOME_REFUSED:
      return "refused";
    case medic::v1::DNS_OUTCOME_OTHER_RCODE:
      return "rcode";
    case medic::v1::DNS_OUTCOME_TIMEOUT:
      return "timeout";
    case medic::v1::DNS_OUTCOME_UNREACHABLE:
      return "unreachable";
    case medic::v1::DNS_OUTCOME_BAD_ANSWER:
      return "bad_answer";
    default:
      return "unknown";
  }
}

bool IsGlobalAddress(const std::string& cidr) {
  const std::string address = cidr.substr(0, cidr.find('/'));
  if (address.find(':') == std::string::npos) return !StartsWith(address, "127.");
  return !StartsWith(address, "fe80:") && address != "::1";
}

}  // namespace

NetworkSettings NetworkSettingsFrom(const medic::v1::AgentConfig& config) {
  const medic::v1::NetworkConfig& c = config.network();
  NetworkSettings s;
  s.dns_test_names.assign(c.dns_test_names().begin(), c.dns_test_names().end());
  if (s.dns_test_names.empty()) {
    if (const std::string& collector = config.collector(); !collector.empty()) {
      std::string host = collector.substr(0, collector.rfind(':'));
      if (StartsWith(host, "[")) host = host.substr(1, host.size() - 2);
      if (!host.empty() && !IsIpLiteral(host)) s.dns_test_names.push_back(host);
    }
    if (!c.intranet_name().empty()) s.dns_test_names.push_back(c.intranet_name());
    if (s.dns_test_names.empty()) s.dns_test_names.push_back(".");
  }
  if (!c.resolv_conf().empty()) s.resolv_conf = c.resolv_conf();
  s.dns_servers.assign(c.dns_servers().begin(), c.dns_servers().end());
  s.targets.assign(c.targets().begin(), c.targets().end());
  SetDuration(c.has_dns_timeout(), c.dns_timeout(), &s.dns_timeout);
  SetDuration(c.has_connect_timeout(), c.connect_timeout(), &s.connect_timeout);
  if (c.gateway_probes() > 0) s.gateway_probes = c.gateway_probes();
  SetDuration(c.has_gateway_interval(), c.gateway_interval(), &s.gateway_interval);
  SetDuration(c.has_gateway_timeout(), c.gateway_timeout(), &s.gateway_timeout);
  if (c.packet_loss_pct() > 0) s.packet_loss_pct = c.packet_loss_pct();
  SetDuration(c.has_latency_high(), c.latency_high(), &s.latency_high);
  SetDuration(c.has_dns_slow(), c.dns_slow(), &s.dns_slow);
  if (c.wifi_weak_dbm() != 0) s.wifi_weak_dbm = c.wifi_weak_dbm();
  if (c.interface_errors_per_min() > 0) s.interface_errors_per_min = c.interface_errors_per_min();
  s.watch_interfaces.assign(c.watch_interfaces().begin(), c.watch_interfaces().end());
  return s;
}

absl::StatusOr<Resolvers> ReadResolvers(const common::FileSystem& fs,
                                        const NetworkSettings& settings) {
  constexpr std::string_view kResolvedUplinks = "/run/systemd/resolve/resolv.conf";
  Resolvers resolvers;
  absl::StatusOr<std::optional<ResolvConf>> conf =
      ReadAndParseOptional(fs, settings.resolv_conf, ParseResolvConf);
  if (!conf.ok()) return conf.status();
  if (*conf) {
    resolvers.servers = (*conf)->nameservers;
    resolvers.search_domains = (*conf)->search_domains;
    resolvers.source = settings.resolv_conf;
    if (IsResolvedStub(**conf)) {
      absl::StatusOr<std::optional<ResolvConf>> uplinks =
          ReadAndParseOptional(fs, kResolvedUplinks, ParseResolvConf);
      if (!uplinks.ok()) return uplinks.status();
      if (*uplinks && !(*uplinks)->nameservers.empty()) {
        resolvers.servers = (*uplinks)->nameservers;
        resolvers.source = std::string(kResolvedUplinks);
      }
    }
  }
  if (!settings.dns_servers.empty()) {
    resolvers.servers = settings.dns_servers;
    resolvers.source = "config";
  }
  return resolvers;
}

std::string TargetSpec::Endpoint() const {
  return host.find(':') == std::string::npos ? common::StrCat(host, ":", port)
                                             : common::StrCat("[", host, "]:", port);
}

absl::StatusOr<TargetSpec> ParseTarget(std::string_view text) {
  auto error = [text](std::string_view why) {
    return absl::InvalidArgumentError(common::StrCat("target \"", text, "\": ", why));
  };
  TargetSpec spec;
  std::string_view rest = text;
  if (ConsumePrefix(&rest, "https://")) {
    return error(common::StrCat("https targets are not supported; use ",
                                rest.substr(0, rest.find('/')), ":443 for a connect check"));
  }
  if (ConsumePrefix(&rest, "http://")) {
    spec.http = true;
    spec.port = 80;
    if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
      spec.path = std::string(rest.substr(slash));
      rest = rest.substr(0, slash);
    }
  }
  std::string_view port_text;
  if (StartsWith(rest, "[")) {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return error("no ']' after the IPv6 address");
    spec.host = std::string(rest.substr(1, close - 1));
    std::string_view after = rest.substr(close + 1);
    if (ConsumePrefix(&after, ":"))
      port_text = after;
    else if (!after.empty())
      return error("expected ':PORT' after ']'");
  } else {
    const size_t colon = rest.rfind(':');
    spec.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port_text = rest.substr(colon + 1);
    if (spec.host.find(':') != std::string::npos) {
      return error("write an IPv6 address in brackets: [2001:db8::1]:443");
    }
  }
  if (spec.host.empty()) return error("no host");
  if (!port_text.empty() || !spec.http) {
    uint32_t port = 0;
    if (!ParseInt(port_text, &port) || port == 0 || port > 65535) {
      return error("expected HOST:PORT with a port from 1 to 65535");
    }
    spec.port = static_cast<uint16_t>(port);
  }
  return spec;
}

absl::Status ValidateNetworkConfig(const medic::v1::NetworkConfig& config) {
  for (const std::string& target : config.targets()) {
    if (absl::StatusOr<TargetSpec> spec = ParseTarget(target); !spec.ok()) {
      return absl::InvalidArgumentError(
          common::StrCat("network.targets: ", spec.status().message()));
    }
  }
  for (const std::string& server : config.dns_servers()) {
    if (!IsIpLiteral(server)) {
      return absl::InvalidArgumentError(
          common::StrCat("network.dns_servers: \"", server, "\" is not an IP address"));
    }
  }
  if (config.packet_loss_pct() < 0 || config.packet_loss_pct() > 100) {
    return absl::InvalidArgumentError("network.packet_loss_pct: must be between 0 and 100");
  }
  if (config.gateway_probes() > 100) {
    return absl::InvalidArgumentError("network.gateway_probes: at most 100");
  }
  return absl::OkStatus();
}

std::vector<Finding> JudgeConnectivity(const medic::v1::ConnectivityStatus& status,
                                       const NetworkSettings& settings,
                                       const std::vector<Finding>& standing) {
  auto is_standing = [&standing](std::string_view code, const std::string& resource) {
    return std::any_of(standing.begin(), standing.end(), [&](const Finding& f) {
      return f.code() == code && f.resource() == resource;
    });
  };
  std::vector<Finding> findings;
  for (const medic::v1::GatewayCheck& g : status.gateways()) {
    if (g.method() == medic::v1::GATEWAY_METHOD_UNSPECIFIED) continue;  // not checked
    auto evidence = [&g](Finding& f) {
      auto& e = *f.mutable_evidence();
      if (g.method() == medic::v1::GATEWAY_METHOD_NEIGHBOUR) {
        e["method"] = "neighbour table";
        e["neighbour"] = g.neighbour_state().empty() ? "no entry" : g.neighbour_state();
      } else {
        e["method"] = g.method() == medic::v1::GATEWAY_METHOD_ICMP_RAW ? "icmp (raw)" : "icmp";
        e["sent"] = common::StrCat(g.sent());
        e["received"] = common::StrCat(g.received());
        e["loss"] = fmt::format("{:.0f}%", g.loss_pct());
        if (g.received() > 0) e["rtt_avg"] = Ms(g.rtt_avg_ms());
      }
      if (!g.interface().empty()) e["interface"] = g.interface();
      if (!g.error().empty()) e["error"] = g.error();
    };
    if (!g.reachable()) {
      std::string summary = common::StrCat("the default gateway ", g.gateway(), " does not answer");
      if (g.method() == medic::v1::GATEWAY_METHOD_NEIGHBOUR) {
        common::StrAppend(&summary, " (no hardware address for it in the ARP table)");
      } else if (!g.error().empty()) {
        common::StrAppend(&summary, ": ", g.error());
      } else {
        common::StrAppend(&summary, " (", g.sent(), " pings, no reply)");
      }
      Finding f = Make("net.gateway_unreachable", medic::v1::SEVERITY_CRITICAL, g.gateway(),
                       std::move(summary));
      evidence(f);
      findings.push_back(std::move(f));
      continue;
    }
    if (g.method() == medic::v1::GATEWAY_METHOD_NEIGHBOUR) continue;
    const double loss_mark = is_standing("net.packet_loss", g.gateway())
                                 ? settings.packet_loss_pct / 2
                                 : settings.packet_loss_pct;
    if (g.sent() > 0 && g.received() < g.sent() && g.loss_pct() >= loss_mark) {
      Finding f = Make("net.packet_loss", medic::v1::SEVERITY_WARNING, g.gateway(),
                       fmt::format("{:.0f}% of pings to the default gateway {} are lost ({} of {})",
                                   g.loss_pct(), g.gateway(), g.sent() - g.received(), g.sent()));
      evidence(f);
      findings.push_back(std::move(f));
    }
    const double latency_mark = absl::ToDoubleMilliseconds(settings.latency_high) *
                                (is_standing("net.latency_high", g.gateway()) ? 0.8 : 1.0);
    if (g.received() > 0 && g.rtt_avg_ms() > latency_mark) {
      Finding f = Make("net.latency_high", medic::v1::SEVERITY_WARNING, g.gateway(),
                       common::StrCat("the default gateway ", g.gateway(), " answers slowly (",
                                      Ms(g.rtt_avg_ms()), " on average, over ",
                                      common::HumanDuration(settings.latency_high), ")"));
      evidence(f);
      findings.push_back(std::move(f));
    }
  }

  // DNS: one judgement per server over all its names, in the order the servers were checked.
  std::vector<std::string> servers;
  for (const medic::v1::DnsCheck& c : status.dns()) {
    if (std::find(servers.begin(), servers.end(), c.server()) == servers.end()) {
      servers.push_back(c.server());
    }
  }
  for (const std::string& server : servers) {
    int asked = 0, answered = 0;
    const medic::v1::DnsCheck* first_failure = nullptr;
    const medic::v1::DnsCheck* slowest = nullptr;
    for (const medic::v1::DnsCheck& c : status.dns()) {
      if (c.server() != server) continue;
      ++asked;
      if (c.outcome() == medic::v1::DNS_OUTCOME_ANSWERED) {
        ++answered;
        if (slowest == nullptr || c.answer_ms() > slowest->answer_ms()) slowest = &c;
      } else if (first_failure == nullptr) {
        first_failure = &c;
      }
    }
    if (first_failure != nullptr) {
      const medic::v1::DnsCheck& c = *first_failure;
      Finding f = Make(
          "net.dns_failure",
          answered == 0 ? medic::v1::SEVERITY_CRITICAL : medic::v1::SEVERITY_WARNING, server,
          common::StrCat(
              "DNS server ", server, " ", OutcomeWords(c),
              answered > 0 ? common::StrCat(" (", answered, " of ", asked, " test names answered)")
                           : ""));
      auto& e = *f.mutable_evidence();
      e["query"] = QueryText(c.name());
      e["result"] = OutcomeKey(c.outcome());
      if (!c.rcode().empty()) e["rcode"] = c.rcode();
      if (!c.error().empty()) e["error"] = c.error();
      e[c.outcome() == medic::v1::DNS_OUTCOME_TIMEOUT ? "waited" : "answer_time"] =
          Ms(c.answer_ms());
      e["answered"] = common::StrCat(answered, " of ", asked);
      findings.push_back(std::move(f));
    } else if (slowest != nullptr &&
               slowest->answer_ms() > absl::ToDoubleMilliseconds(settings.dns_slow) *
                                          (is_standing("net.dns_slow", server) ? 0.8 : 1.0)) {
      Finding f = Make("net.dns_slow", medic::v1::SEVERITY_WARNING, server,
                       common::StrCat("DNS server ", server, " answers slowly (",
                                      Ms(slowest->answer_ms()), " for ", slowest->name(), ", over ",
                                      common::HumanDuration(settings.dns_slow), ")"));
      (*f.mutable_evidence())["query"] = QueryText(slowest->name());
      (*f.mutable_evidence())["answer_time"] = Ms(slowest->answer_ms());
      findings.push_back(std::move(f));
    }
  }

  for (const medic::v1::TargetCheck& t : status.targets()) {
    const bool http_bad = t.connected() && StartsWith(t.target(), "http://") &&
                          (t.http_status() == 0 || t.http_status() >= 500);
    if (t.connected() && !http_bad) continue;
    const std::string resource = t.endpoint().empty() ? t.target() : t.endpoint();
    std::string summary =
        !t.connected() ? common::StrCat(t.target(), " cannot be reached",
                                        t.error().empty() ? "" : common::StrCat(": ", t.error()))
        : t.http_status() == 0
            ? common::StrCat(t.target(), " accepts connections but sends no HTTP answer",
                             t.error().empty() ? "" : common::StrCat(" (", t.error(), ")"))
            : common::StrCat(t.target(), " answers HTTP ", t.http_status());
    Finding f =
        Make("net.target_unreachable", medic::v1::SEVERITY_CRITICAL, resource, std::move(summary));
    auto& e = *f.mutable_evidence();
    if (!t.address().empty()) e["address"] = t.address();
    if (!t.error().empty()) e["error"] = t.error();
    if (t.connected()) e["connect_time"] = Ms(t.connect_ms());
    if (t.http_status() != 0) e["http_status"] = common::StrCat(t.http_status());
    findings.push_back(std::move(f));
  }
  return findings;
}

std::vector<Finding> JudgeInterfaces(const medic::v1::NetworkInfo& info,
                                     const NetworkSettings& settings) {
  std::vector<Finding> findings;
  auto watched = [&settings](const medic::v1::NetworkInterface& nic) {
    if (!settings.watch_interfaces.empty()) {
      return std::find(settings.watch_interfaces.begin(), settings.watch_interfaces.end(),
                       nic.name()) != settings.watch_interfaces.end();
    }
    return !nic.loopback() && (nic.physical() || nic.wireless()) && nic.up();
  };
  bool any_link = false;
  std::vector<const medic::v1::NetworkInterface*> down;
  for (const medic::v1::NetworkInterface& nic : info.interfaces()) {
    if (!watched(nic)) continue;
    if (nic.up() && nic.carrier()) {
      any_link = true;
    } else {
      down.push_back(&nic);
    }
  }
  // Without a watch list, a port nobody uses (a laptop's Ethernet while on Wi-Fi) is no
  // finding: only losing every link is.
  if (settings.watch_interfaces.empty() && any_link) down.clear();
  for (const medic::v1::NetworkInterface* nic : down) {
    Finding f =
        Make("net.link_down", any_link ? medic::v1::SEVERITY_WARNING : medic::v1::SEVERITY_CRITICAL,
             nic->name(),
             !nic->up() ? common::StrCat("network interface ", nic->name(),
                                         " is switched off (administratively down)")
                        : common::StrCat("network interface ", nic->name(),
                                         nic->wireless() ? " is not connected to a wireless network"
                                                         : " has no link (cable unplugged, or the "
                                                           "switch port is down)"));
    auto& e = *f.mutable_evidence();
    e["admin"] = nic->up() ? "up" : "down";
    e["carrier"] = nic->carrier() ? "1" : "0";
    if (!nic->oper_state().empty()) e["oper_state"] = nic->oper_state();
    e["carrier_changes"] = common::StrCat(nic->carrier_changes());
    findings.push_back(std::move(f));
  }
  for (const medic::v1::NetworkInterface& nic : info.interfaces()) {
    if (nic.loopback()) continue;
    if ((nic.physical() || nic.wireless()) && nic.up() && nic.carrier() &&
        std::none_of(nic.addresses().begin(), nic.addresses().end(), IsGlobalAddress)) {
      Finding f = Make("net.no_address", medic::v1::SEVERITY_WARNING, nic.name(),
                       common::StrCat("network interface ", nic.name(),
                                      " has a link but no IP address (DHCP may have failed)"));
      (*f.mutable_evidence())["addresses"] =
          nic.addresses().empty() ? "none" : fmt::format("{}", fmt::join(nic.addresses(), " "));
      findings.push_back(std::move(f));
    }
    if (nic.has_errors_per_min() && nic.errors_per_min() >= settings.interface_errors_per_min) {
      Finding f = Make("net.interface_errors", medic::v1::SEVERITY_WARNING, nic.name(),
                       fmt::format("network interface {} has {:.0f} errors a minute (bad cable, "
                                   "duplex mismatch or a failing port)",
                                   nic.name(), nic.errors_per_min()));
      auto& e = *f.mutable_evidence();
      e["errors_per_min"] = fmt::format("{:.1f}", nic.errors_per_min());
      e["rx_errors"] = common::StrCat(nic.rx_errors());
      e["tx_errors"] = common::StrCat(nic.tx_errors());
      if (nic.has_drops_per_min()) e["drops_per_min"] = fmt::format("{:.1f}", nic.drops_per_min());
      if (!nic.duplex().empty()) e["duplex"] = nic.duplex();
      findings.push_back(std::move(f));
    }
    if (nic.has_wifi() && nic.wifi().signal_dbm() != 0 &&
        nic.wifi().signal_dbm() < settings.wifi_weak_dbm) {
      const medic::v1::WifiLink& w = nic.wifi();
      Finding f = Make("net.wifi_weak", medic::v1::SEVERITY_WARNING, nic.name(),
                       common::StrCat("the Wi-Fi signal on ", nic.name(),
                                      w.ssid().empty() ? "" : common::StrCat(" (", w.ssid(), ")"),
                                      " is weak: ", w.signal_dbm(), " dBm, below ",
                                      settings.wifi_weak_dbm, " dBm"));
      auto& e = *f.mutable_evidence();
      e["signal_dbm"] = common::StrCat(w.signal_dbm());
      e["quality"] = w.quality_max() > 0 ? fmt::format("{:g}/{:g}", w.quality(), w.quality_max())
                                         : fmt::format("{:g}", w.quality());
      findings.push_back(std::move(f));
    }
  }
  return findings;
}

}  // namespace medic::agent
