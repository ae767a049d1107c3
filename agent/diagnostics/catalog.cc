#include "agent/diagnostics/catalog.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <future>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/probes/hardware/hardware_probes.h"
#include "agent/probes/network/network_checks.h"
#include "agent/probes/network/network_probes.h"
#include "agent/probes/os/os_probes.h"
#include "agent/probes/printers/printer_probe.h"
#include "agent/probes/registry.h"
#include "common/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace medic::agent::diagnostics {
namespace {

using medic::v1::DiagnosticCheck;
using medic::v1::DiagnosticOutcome;
using medic::v1::DiagnosticRequest;
using medic::v1::DiagnosticResult;

struct Entry {
  DiagnosticCheck check;
  std::string_view name;
  std::vector<std::string_view> params;  // the parameters it takes
};

const std::array<Entry, 10>& Entries() {
  static const std::array<Entry, 10> entries = {{
      {medic::v1::DIAGNOSTIC_CHECK_HEALTH, "health", {}},
      {medic::v1::DIAGNOSTIC_CHECK_DNS, "dns", {"name"}},
      {medic::v1::DIAGNOSTIC_CHECK_PING, "ping", {"host"}},
      {medic::v1::DIAGNOSTIC_CHECK_TCP, "tcp", {"host", "port"}},
      {medic::v1::DIAGNOSTIC_CHECK_HTTP, "http", {"url"}},
      {medic::v1::DIAGNOSTIC_CHECK_PRINTERS, "printers", {}},
      {medic::v1::DIAGNOSTIC_CHECK_DISK, "disk", {}},
      {medic::v1::DIAGNOSTIC_CHECK_UPDATES, "updates", {}},
      {medic::v1::DIAGNOSTIC_CHECK_SERVICES, "services", {}},
      {medic::v1::DIAGNOSTIC_CHECK_LOGS, "logs", {"unit", "lines"}},
  }};
  return entries;
}

const Entry* Find(DiagnosticCheck check) {
  for (const Entry& e : Entries()) {
    if (e.check == check) return &e;
  }
  return nullptr;
}

constexpr uint32_t kDefaultLogLines = 50;
constexpr absl::Duration kRunMargin = absl::Milliseconds(50);

bool Disabled(const medic::v1::DiagnosticsConfig& config, std::string_view name) {
  for (const std::string& d : config.disabled()) {
    if (d == "*" || d == name) return true;
  }
  return false;
}

absl::Status Bad(std::string_view check, std::string_view why) {
  return absl::InvalidArgumentError(common::StrCat(check, ": ", why));
}

std::string Ms(absl::Duration d) {
  return common::StrCat(static_cast<int64_t>(absl::ToDoubleMilliseconds(d) + 0.5), " ms");
}

std::string MsText(double ms) { return common::StrCat(static_cast<int64_t>(ms + 0.5), " ms"); }

}  // namespace

std::string_view CheckName(DiagnosticCheck check) {
  const Entry* e = Find(check);
  return e == nullptr ? std::string_view() : e->name;
}

std::optional<DiagnosticCheck> CheckByName(std::string_view name) {
  for (const Entry& e : Entries()) {
    if (e.name == name) return e.check;
  }
  return std::nullopt;
}

Limits LimitsFrom(const medic::v1::DiagnosticsConfig& config) {
  Limits limits;
  if (config.has_max_deadline()) {
    const absl::Duration d = common::FromProtoDuration(config.max_deadline());
    if (d > absl::ZeroDuration()) limits.max_deadline = d;
  }
  limits.default_deadline = std::min(limits.default_deadline, limits.max_deadline);
  if (config.max_lines() > 0) limits.max_lines = config.max_lines();
  if (config.max_bytes() > 0) limits.max_bytes = config.max_bytes();
  if (config.max_concurrent() > 0) limits.max_concurrent = config.max_concurrent();
  return limits;
}

absl::Status ValidateDiagnosticsConfig(const medic::v1::DiagnosticsConfig& config) {
  for (const std::string& d : config.disabled()) {
    if (d != "*" && !CheckByName(d)) {
      std::vector<std::string> names;
      for (const Entry& e : Entries()) names.emplace_back(e.name);
      return absl::InvalidArgumentError(
          common::StrCat("diagnostics.disabled: '", d, "' is not a diagnostic; the catalog is ",
                         absl::StrJoin(names, ", "), " (or * for all)"));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> EnabledChecks(const medic::v1::AgentConfig& config) {
  std::vector<std::string> names;
  for (const Entry& e : Entries()) {
    if (!Disabled(config.diagnostics(), e.name)) names.emplace_back(e.name);
  }
  return names;
}

bool IsDnsName(std::string_view name) {
  if (name.empty() || name.size() > 254) return false;
  if (name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(absl::string_view(name.data(), name.size()), '.')) {
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
        return false;
      }
    }
  }
  return true;
}

bool IsIpLiteral(std::string_view text) {
  std::string s(text);
  unsigned char bytes[16];
  return inet_pton(AF_INET, s.c_str(), bytes) == 1 || inet_pton(AF_INET6, s.c_str(), bytes) == 1;
}

bool IsUnitName(std::string_view unit) {
  if (unit.empty() || unit.size() > 255 || unit.front() == '-' || unit.front() == '.') {
    return false;
  }
  for (char c : unit) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        std::string_view(":_.@-\\").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool InSubnet(std::string_view ip, std::string_view cidr_address) {
  std::vector<std::string> parts =
      absl::StrSplit(absl::string_view(cidr_address.data(), cidr_address.size()), '/');
  int prefix = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &prefix)) return false;
  const std::string host(ip);
  const bool v4 = host.find(':') == std::string::npos;
  if (v4 != (parts[0].find(':') == std::string::npos)) return false;
  const int family = v4 ? AF_INET : AF_INET6;
  const int bits = v4 ? 32 : 128;
  unsigned char a[16] = {}, b[16] = {};
  if (prefix < 0 || prefix > bits || inet_pton(family, host.c_str(), a) != 1 ||
      inet_pton(family, parts[0].c_str(), b) != 1) {
    return false;
  }
  for (int bit = 0; bit < prefix; ++bit) {
    const unsigned char mask = static_cast<unsigned char>(0x80 >> (bit % 8));
    if ((a[bit / 8] & mask) != (b[bit / 8] & mask)) return false;
  }
  return true;
}

absl::StatusOr<Plan> Validate(const DiagnosticRequest& request,
                              const medic::v1::AgentConfig& config, const LocalNetwork& network) {
  const Entry* entry = Find(request.check());
  if (entry == nullptr) {
    return absl::InvalidArgumentError(common::StrCat("check ", static_cast<int>(request.check()),
                                                     " is not in this agent's catalog (agent ",
                                                     MEDIC_VERSION, ")"));
  }
  const std::string_view name = entry->name;
  if (Disabled(config.diagnostics(), name)) {
    return absl::PermissionDeniedError(
        common::StrCat(name,
                       ": disabled on this machine by its configuration "
                       "(diagnostics.disabled)"));
  }
  for (const auto& [key, value] : request.params()) {
    if (std::find(entry->params.begin(), entry->params.end(), key) == entry->params.end()) {
      std::vector<std::string> takes(entry->params.begin(), entry->params.end());
      return Bad(name, common::StrCat(
                           "takes no parameter '", key, "'",
                           takes.empty()
                               ? std::string(" (it takes none)")
                               : common::StrCat(" (it takes ", absl::StrJoin(takes, ", "), ")")));
    }
  }
  auto param = [&](std::string_view key) -> std::string {
    auto it = request.params().find(std::string(key));
    return it == request.params().end() ? "" : it->second;
  };
  const Limits limits = LimitsFrom(config.diagnostics());
  Plan plan;
  plan.check = request.check();
  plan.deadline = limits.default_deadline;
  if (request.has_deadline()) {
    const absl::Duration asked = common::FromProtoDuration(request.deadline());
    if (asked <= absl::ZeroDuration()) return Bad(name, "the deadline must be longer than 0");
    plan.deadline = std::min(asked, limits.max_deadline);
  }
  const NetworkSettings settings = NetworkSettingsFrom(config);
  switch (request.check()) {
    case medic::v1::DIAGNOSTIC_CHECK_DNS:
      plan.name = param("name");
      if (plan.name.empty()) return Bad(name, "give the name to resolve (name=intranet.corp)");
      if (!IsDnsName(plan.name)) {
        return Bad(name, common::StrCat("'", plan.name, "' is not a DNS name"));
      }
      break;
    case medic::v1::DIAGNOSTIC_CHECK_PING: {
      plan.host = param("host");
      if (plan.host.empty()) {
        if (network.gateways.empty()) {
          return absl::FailedPreconditionError(
              "ping: this machine has no default gateway to ping; give host=ADDRESS");
        }
        break;
      }
      if (!IsIpLiteral(plan.host) || plan.host.find(':') != std::string::npos) {
        return Bad(name, common::StrCat("'", plan.host,
                                        "' is not an IPv4 address (ping takes the gateway, or an "
                                        "address in this machine's subnets or targets)"));
      }
      bool allowed = std::find(network.gateways.begin(), network.gateways.end(), plan.host) !=
                     network.gateways.end();
      for (const std::string& a : network.addresses) allowed |= InSubnet(plan.host, a);
      for (const std::string& t : settings.targets) {
        auto spec = ParseTarget(t);
        allowed |= spec.ok() && spec->host == plan.host;
      }
      if (!allowed) {
        return absl::PermissionDeniedError(common::StrCat(
            "ping: ", plan.host,
            " is neither the gateway, in this machine's subnets, nor a configured target"));
      }
      break;
    }
    case medic::v1::DIAGNOSTIC_CHECK_TCP: {
      plan.host = param("host");
      const std::string port = param("port");
      if (plan.host.empty() || port.empty()) {
        return Bad(name, "give host and port (host=fileserver port=445)");
      }
      if (!IsDnsName(plan.host) && !IsIpLiteral(plan.host)) {
        return Bad(name, common::StrCat("'", plan.host, "' is not a host name or address"));
      }
      uint32_t p = 0;
      if (!absl::SimpleAtoi(port, &p) || p == 0 || p > 65535) {
        return Bad(name, common::StrCat("port '", port, "' is not a number from 1 to 65535"));
      }
      plan.port = static_cast<uint16_t>(p);
      break;
    }
    case medic::v1::DIAGNOSTIC_CHECK_HTTP: {
      plan.url = param("url");
      if (plan.url.empty()) return Bad(name, "give the url (one of network.targets)");
      if (std::find(settings.targets.begin(), settings.targets.end(), plan.url) ==
              settings.targets.end() ||
          !plan.url.starts_with("http://")) {
        return absl::PermissionDeniedError(common::StrCat(
            "http: ", plan.url, " is not one of this machine's configured http:// targets"));
      }
      break;
    }
    case medic::v1::DIAGNOSTIC_CHECK_LOGS: {
      plan.unit = param("unit");
      if (plan.unit.empty() || plan.unit == "kernel") {
        plan.kernel = true;
        plan.unit.clear();
      } else if (!IsUnitName(plan.unit)) {
        return Bad(name, common::StrCat("'", plan.unit, "' is not a systemd unit name"));
      }
      plan.lines = std::min(kDefaultLogLines, limits.max_lines);
      if (std::string lines = param("lines"); !lines.empty()) {
        if (!absl::SimpleAtoi(lines, &plan.lines) || plan.lines == 0) {
          return Bad(name, common::StrCat("lines '", lines, "' is not a positive number"));
        }
        plan.lines = std::min(plan.lines, limits.max_lines);
      }
      break;
    }
    default:
      break;
  }
  return plan;
}

void CapOutput(const Limits& limits, DiagnosticResult* result) {
  auto* lines = result->mutable_lines();
  size_t bytes = 0;
  int keep = 0;
  for (; keep < lines->size(); ++keep) {
    if (static_cast<uint32_t>(keep) >= limits.max_lines) break;
    if (bytes + (*lines)[keep].size() > limits.max_bytes) break;
    bytes += (*lines)[keep].size();
  }
  const int cut = lines->size() - keep;
  if (cut == 0) return;
  lines->DeleteSubrange(keep, cut);
  result->add_lines(common::StrCat("… ", cut, " more lines cut (this agent sends at most ",
                                   limits.max_lines, " lines, ", limits.max_bytes, " bytes)"));
}

DiagnosticResult Refused(const DiagnosticRequest& request, std::string reason) {
  DiagnosticResult result;
  result.set_request_id(request.request_id());
  // A check this agent does not know is not echoed back: the collector refuses enum values it
  // does not know either, and the request id is what matches the result.
  result.set_check(medic::v1::DiagnosticCheck_IsValid(request.check())
                       ? request.check()
                       : medic::v1::DIAGNOSTIC_CHECK_UNSPECIFIED);
  result.set_outcome(medic::v1::DIAGNOSTIC_OUTCOME_REFUSED);
  *result.mutable_started_at() = common::ToProtoTime(absl::Now());
  result.set_summary(std::move(reason));
  return result;
}

Catalog::Catalog(const medic::v1::AgentConfig& config, const common::FileSystem& fs,
                 const common::CommandRunner& commands, const common::Clock& clock)
    : config_(config),
      fs_(fs),
      commands_(commands),
      clock_(clock),
      limits_(LimitsFrom(config.diagnostics())) {}

bool Catalog::TryReserve() {
  uint32_t now = running_.load();
  while (now < limits_.max_concurrent) {
    if (running_.compare_exchange_weak(now, now + 1)) return true;
  }
  return false;
}

void Catalog::Release() { running_.fetch_sub(1); }

LocalNetwork Catalog::ReadLocalNetwork(absl::Time deadline) {
  LocalNetwork network;
  std::vector<medic::v1::Finding> none;
  ProbeContext ctx{fs_, commands_, clock_, config_, deadline, none};
  auto output = NewNetworkProbe()->Collect(ctx);
  if (!output.ok()) return network;
  const auto& info = output->report.network();
  for (const auto& i : info.interfaces()) {
    for (const auto& a : i.addresses()) network.addresses.push_back(a);
  }
  network.gateways.assign(info.default_gateways().begin(), info.default_gateways().end());
  return network;
}

DiagnosticResult Catalog::Run(const DiagnosticRequest& request) {
  const absl::Time started = clock_.Now();
  const std::string who = request.requested_by().empty() ? "(unnamed)" : request.requested_by();
  const std::string_view name = CheckName(request.check());
  LocalNetwork network;
  if (request.check() == medic::v1::DIAGNOSTIC_CHECK_PING) {
    network = ReadLocalNetwork(started + absl::Seconds(1));
  }
  absl::StatusOr<Plan> plan = Validate(request, config_, network);
  if (!plan.ok()) {
    spdlog::warn("diagnostic {} ({}) requested by {}: refused: {}", request.request_id(),
                 name.empty() ? "unknown check" : name, who, plan.status().message());
    return Refused(request, std::string(plan.status().message()));
  }
  std::vector<std::string> params;
  for (const auto& [k, v] : request.params()) params.push_back(common::StrCat(k, "=", v));
  std::sort(params.begin(), params.end());
  spdlog::info("diagnostic {} requested by {}: {} {}", request.request_id(), who, name,
               absl::StrJoin(params, " "));

  DiagnosticResult result;
  result.set_request_id(request.request_id());
  result.set_check(request.check());
  *result.mutable_started_at() = common::ToProtoTime(started);
  const absl::Time deadline = started + plan->deadline;
  RunPlan(*plan, deadline, &result);
  const absl::Duration took = clock_.Now() - started;
  *result.mutable_took() = common::ToProtoDuration(took);
  if (result.outcome() == medic::v1::DIAGNOSTIC_OUTCOME_UNSPECIFIED) {
    result.set_outcome(result.findings().empty() ? medic::v1::DIAGNOSTIC_OUTCOME_PASSED
                                                 : medic::v1::DIAGNOSTIC_OUTCOME_FOUND);
  }
  if (took > plan->deadline + kRunMargin &&
      result.outcome() != medic::v1::DIAGNOSTIC_OUTCOME_ERROR) {
    result.set_outcome(medic::v1::DIAGNOSTIC_OUTCOME_TIMED_OUT);
    result.set_summary(common::StrCat(result.summary(), " (overran its ",
                                      common::HumanDuration(plan->deadline), " deadline)"));
  }
  CapOutput(limits_, &result);
  spdlog::info("diagnostic {} ({}) done in {}: {}", request.request_id(), name, Ms(took),
               result.summary());
  return result;
}

namespace {

// Runs one probe fresh within `deadline`: its report and findings go into `result`. Returns
// false (and sets ERROR) when the probe failed.
bool RunProbe(Probe& probe, const ProbeContext& ctx, const common::Clock& clock,
              DiagnosticResult* result) {
  const absl::Time start = clock.Now();
  absl::StatusOr<ProbeOutput> output = probe.Collect(ctx);
  const absl::Duration took = clock.Now() - start;
  if (!output.ok()) {
    medic::v1::ProbeReport& report = *result->add_reports();
    report.set_probe(std::string(probe.name()));
    report.set_error(std::string(output.status().message()));
    report.set_outcome(output.status().code() == absl::StatusCode::kDeadlineExceeded
                           ? medic::v1::PROBE_OUTCOME_TIMED_OUT
                           : medic::v1::PROBE_OUTCOME_FAILED);
    *report.mutable_took() = common::ToProtoDuration(took);
    result->add_lines(common::StrCat(probe.name(), " could not run: ", output.status().message()));
    return false;
  }
  output->report.set_probe(std::string(probe.name()));
  output->report.set_outcome(medic::v1::PROBE_OUTCOME_OK);
  *output->report.mutable_collected_at() = common::ToProtoTime(start);
  *output->report.mutable_took() = common::ToProtoDuration(took);
  for (auto& f : output->findings) {
    if (f.probe().empty()) f.set_probe(std::string(probe.name()));
    result->add_lines(
        common::StrCat(f.severity() == medic::v1::SEVERITY_CRITICAL ? "CRITICAL " : "", f.code(),
                       ": ", f.summary()));
    *result->add_findings() = std::move(f);
  }
  for (const auto& o : output->report.observations()) *result->add_observations() = o;
  *result->add_reports() = std::move(output->report);
  return true;
}

std::string Problems(const DiagnosticResult& result) {
  const int n = result.findings_size();
  if (n == 0) return "nothing wrong found";
  std::vector<std::string> codes;
  for (const auto& f : result.findings()) {
    if (codes.size() < 3) codes.push_back(common::StrCat(f.code(), " on ", f.resource()));
  }
  return common::StrCat(n, n == 1 ? " problem: " : " problems: ", absl::StrJoin(codes, ", "),
                        n > 3 ? ", …" : "");
}

}  // namespace

void Catalog::RunPlan(const Plan& plan, absl::Time deadline, DiagnosticResult* result) {
  std::vector<medic::v1::Finding> none;
  ProbeContext ctx{fs_, commands_, clock_, config_, deadline, none};
  const std::string name(CheckName(plan.check));
  switch (plan.check) {
    case medic::v1::DIAGNOSTIC_CHECK_HEALTH: {
      // Every probe this agent runs, fresh; slow ones (commands, other machines) in parallel
      // so the whole takes as long as the slowest, each within its own deadline too.
      std::vector<ProbeEntry> entries = NewProbes(config_);
      std::vector<std::future<DiagnosticResult>> slow;
      std::vector<DiagnosticResult> parts;
      for (ProbeEntry& e : entries) {
        const absl::Time probe_deadline = std::min(deadline, clock_.Now() + e.deadline);
        if (e.slow) {
          slow.push_back(
              std::async(std::launch::async, [this, probe = e.probe.get(), probe_deadline, &none] {
                DiagnosticResult part;
                ProbeContext c{fs_, commands_, clock_, config_, probe_deadline, none};
                RunProbe(*probe, c, clock_, &part);
                return part;
              }));
        } else {
          DiagnosticResult part;
          ProbeContext c{fs_, commands_, clock_, config_, probe_deadline, none};
          RunProbe(*e.probe, c, clock_, &part);
          parts.push_back(std::move(part));
        }
      }
      for (auto& f : slow) parts.push_back(f.get());
      int failed = 0;
      for (DiagnosticResult& p : parts) {
        for (const auto& r : p.reports()) failed += r.outcome() != medic::v1::PROBE_OUTCOME_OK;
        result->MergeFrom(p);
      }
      result->set_summary(common::StrCat("health: ", entries.size(), " probes ran",
                                         failed > 0 ? common::StrCat(", ", failed, " failed") : "",
                                         "; ", Problems(*result)));
      if (result->findings().empty() && failed > 0) {
        result->set_outcome(medic::v1::DIAGNOSTIC_OUTCOME_ERROR);
      }
      return;
    }
    case medic::v1::DIAGNOSTIC_CHECK_DNS:
    case medic::v1::DIAGNOSTIC_CHECK_PING:
    case medic::v1::DIAGNOSTIC_CHECK_TCP:
    case medic::v1::DIAGNOSTIC_CHECK_HTTP: {
      ConnectivityPlan c;
      c.gateways = plan.check == medic::v1::DIAGNOSTIC_CHECK_PING && plan.host.empty();
      if (plan.check == medic::v1::DIAGNOSTIC_CHECK_PING && !plan.host.empty()) {
        c.ping_hosts.push_back(plan.host);
      }
      c.dns = plan.check == medic::v1::DIAGNOSTIC_CHECK_DNS;
      if (c.dns) c.dns_names.push_back(plan.name);
      c.targets = false;
      if (plan.check == medic::v1::DIAGNOSTIC_CHECK_TCP) {
        c.extra_targets.push_back(plan.host.find(':') != std::string::npos
                                      ? common::StrCat("[", plan.host, "]:", plan.port)
                                      : common::StrCat(plan.host, ":", plan.port));
      }
      if (plan.check == medic::v1::DIAGNOSTIC_CHECK_HTTP) c.extra_targets.push_back(plan.url);
      absl::StatusOr<ProbeOutput> output = RunConnectivityChecks(ctx, c);
      if (!output.ok()) {
        result->set_outcome(medic::v1::DIAGNOSTIC_OUTCOME_ERROR);
        result->set_summary(common::StrCat(name, " could not run: ", output.status().message()));
        return;
      }
      const auto& status = output->report.connectivity();
      for (const auto& d : status.dns()) {
        result->add_lines(
            d.outcome() == medic::v1::DNS_OUTCOME_ANSWERED
                ? common::StrCat(
                      d.server(), ": ", d.name(), " → ",
                      d.addresses().empty() ? "(no addresses)" : absl::StrJoin(d.addresses(), ", "),
                      " in ", MsText(d.answer_ms()))
                : common::StrCat(d.server(), ": ", d.name(),
                                 " failed: ", d.error().empty() ? d.rcode() : d.error(), " after ",
                                 MsText(d.answer_ms())));
      }
      for (const auto& g : status.gateways()) {
        result->add_lines(
            g.error().empty()
                ? common::StrCat(
                      g.gateway(), ": ", g.received(), " of ", g.sent(), " echoes answered",
                      g.received() > 0 ? common::StrCat(", average ", MsText(g.rtt_avg_ms())) : "")
                : common::StrCat(g.gateway(), ": ", g.error()));
      }
      for (const auto& t : status.targets()) {
        std::string line = t.connected()
                               ? common::StrCat(t.target(), ": connected to ", t.address(), " in ",
                                                MsText(t.connect_ms()))
                               : common::StrCat(t.target(), ": no connection: ", t.error());
        if (t.http_status() > 0) common::StrAppend(&line, ", HTTP ", t.http_status());
        result->add_lines(std::move(line));
      }
      for (const auto& n : status.notes()) result->add_lines(n);
      for (auto f : output->findings) {
        f.set_probe("connectivity");
        *result->add_findings() = std::move(f);
      }
      *result->mutable_observations() = output->report.observations();
      *result->add_reports() = std::move(output->report);
      std::string what;
      if (plan.check == medic::v1::DIAGNOSTIC_CHECK_DNS) {
        what = common::StrCat("dns ", plan.name, " on ", status.dns_size(), " server",
                              status.dns_size() == 1 ? "" : "s");
      } else if (plan.check == medic::v1::DIAGNOSTIC_CHECK_PING) {
        what = common::StrCat("ping ", plan.host.empty() ? "the gateway" : plan.host);
      } else if (plan.check == medic::v1::DIAGNOSTIC_CHECK_TCP) {
        what = common::StrCat("tcp ", c.extra_targets[0]);
      } else {
        what = common::StrCat("http GET ", plan.url);
      }
      if (plan.check == medic::v1::DIAGNOSTIC_CHECK_DNS && status.dns().empty()) {
        result->set_outcome(medic::v1::DIAGNOSTIC_OUTCOME_ERROR);
        result->set_summary(common::StrCat(what, ": this machine has no DNS servers configured"));
        return;
      }
      result->set_summary(common::StrCat(what, ": ", Problems(*result)));
      return;
    }
    case medic::v1::DIAGNOSTIC_CHECK_PRINTERS:
    case medic::v1::DIAGNOSTIC_CHECK_DISK:
    case medic::v1::DIAGNOSTIC_CHECK_UPDATES:
    case medic::v1::DIAGNOSTIC_CHECK_SERVICES: {
      std::unique_ptr<Probe> probe;
      if (plan.check == medic::v1::DIAGNOSTIC_CHECK_PRINTERS) probe = NewPrintersProbe();
      if (plan.check == medic::v1::DIAGNOSTIC_CHECK_DISK) probe = NewFilesystemsProbe();
      if (plan.check == medic::v1::DIAGNOSTIC_CHECK_UPDATES) probe = NewUpdatesProbe();
      if (plan.check == medic::v1::DIAGNOSTIC_CHECK_SERVICES) probe = NewServicesProbe();
      if (!RunProbe(*probe, ctx, clock_, result)) {
        result->set_outcome(result->reports(0).outcome() == medic::v1::PROBE_OUTCOME_TIMED_OUT
                                ? medic::v1::DIAGNOSTIC_OUTCOME_TIMED_OUT
                                : medic::v1::DIAGNOSTIC_OUTCOME_ERROR);
        result->set_summary(common::StrCat(name, " (", probe->name(),
                                           " probe) could not run: ", result->reports(0).error()));
        return;
      }
      result->set_summary(
          common::StrCat(name, " (", probe->name(), " probe): ", Problems(*result)));
      return;
    }
    case medic::v1::DIAGNOSTIC_CHECK_LOGS: {
      std::vector<std::string> argv = {"journalctl",
                                       "--no-pager",
                                       "--quiet",
                                       "--output",
                                       "short-iso",
                                       "--lines",
                                       common::StrCat(plan.lines)};
      if (plan.kernel) {
        argv.insert(argv.end(), {"--dmesg", "--priority", "err"});
      } else {
        argv.insert(argv.end(), {"--unit", plan.unit});
      }
      const std::string what =
          plan.kernel ? std::string("kernel errors") : common::StrCat("unit ", plan.unit);
      auto run = commands_.Run(argv, std::max(deadline - clock_.Now(), absl::Milliseconds(1)),
                               limits_.max_bytes);
      if (!run.ok()) {
        result->set_outcome(run.status().code() == absl::StatusCode::kDeadlineExceeded
                                ? medic::v1::DIAGNOSTIC_OUTCOME_TIMED_OUT
                                : medic::v1::DIAGNOSTIC_OUTCOME_ERROR);
        result->set_summary(common::StrCat("logs of ", what, ": ", run.status().message()));
        return;
      }
      int count = 0;
      for (absl::string_view line : absl::StrSplit(run->std_out, '\n', absl::SkipEmpty())) {
        result->add_lines(std::string(line));
        ++count;
      }
      if (run->exit_code != 0) {
        result->set_outcome(medic::v1::DIAGNOSTIC_OUTCOME_ERROR);
        result->set_summary(common::StrCat("logs of ", what, ": journalctl exited with ",
                                           run->exit_code, ": ",
                                           absl::StripAsciiWhitespace(run->std_err)));
        return;
      }
      result->set_outcome(medic::v1::DIAGNOSTIC_OUTCOME_PASSED);
      result->set_summary(common::StrCat("logs of ", what, ": last ", count, " line",
                                         count == 1 ? "" : "s", " (", plan.lines, " asked)"));
      return;
    }
    default:
      result->set_outcome(medic::v1::DIAGNOSTIC_OUTCOME_REFUSED);
      result->set_summary("not in the catalog");
      return;
  }
}

}  // namespace medic::agent::diagnostics
