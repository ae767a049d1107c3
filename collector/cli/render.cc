#include "collector/cli/render.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/net/peer.h"
#include "common/proto/enum_words.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"
#include "fmt/format.h"

namespace medic::cli {
namespace {

using medic::v1::Finding;
using medic::v1::ProbeReport;

std::string Paint(bool color, std::string_view code, std::string_view text) {
  if (!color) return std::string(text);
  return common::StrCat("\033[", code, "m", text, "\033[0m");
}

std::string SeverityWord(medic::v1::Severity severity) {
  switch (severity) {
    case medic::v1::SEVERITY_CRITICAL:
      return "CRITICAL";
    case medic::v1::SEVERITY_WARNING:
      return "WARNING";
    case medic::v1::SEVERITY_INFO:
      return "INFO";
    default:
      return "-";
  }
}

std::string PaintSeverity(bool color, medic::v1::Severity severity, std::string_view text) {
  switch (severity) {
    case medic::v1::SEVERITY_CRITICAL:
      return Paint(color, "1;31", text);
    case medic::v1::SEVERITY_WARNING:
      return Paint(color, "33", text);
    default:
      return std::string(text);
  }
}

// Pads to `width` visible characters (colour codes don't count).
std::string Pad(std::string_view text, size_t visible, size_t width) {
  return common::StrCat(text, std::string(width > visible ? width - visible : 0, ' '));
}

// A table whose cells may carry colour; widths come from the plain text.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back({std::move(header), {}}); }
  void Add(std::vector<std::string> plain, std::vector<std::string> shown = {}) {
    rows_.push_back({std::move(plain), std::move(shown)});
  }
  std::string Render(std::string_view indent = "") const {
    std::vector<size_t> widths;
    for (const auto& row : rows_) {
      widths.resize(std::max(widths.size(), row.plain.size()));
      for (size_t i = 0; i < row.plain.size(); ++i) {
        widths[i] = std::max(widths[i], row.plain[i].size());
      }
    }
    std::string out;
    for (const auto& row : rows_) {
      std::string line(indent);
      for (size_t i = 0; i < row.plain.size(); ++i) {
        const std::string& shown = row.shown.empty() ? row.plain[i] : row.shown[i];
        const bool last = i + 1 == row.plain.size();
        line += last ? shown : Pad(shown, row.plain[i].size(), widths[i] + 2);
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out += line + "\n";
    }
    return out;
  }

 private:
  struct Row {
    std::vector<std::string> plain;
    std::vector<std::string> shown;
  };
  std::vector<Row> rows_;
};

const ProbeReport* FindReport(const medic::v1::MachineHealth& health, std::string_view probe) {
  for (const auto& r : health.reports()) {
    if (r.probe() == probe) return &r;
  }
  return nullptr;
}

std::string Pct(double value) { return fmt::format("{:.0f}%", value); }

std::string FindingsSection(const medic::v1::MachineHealth& health, absl::Time now, bool color) {
  if (health.findings().empty()) {
    return common::StrCat(Paint(color, "32", "No problems found."), "\n");
  }
  std::string out = common::StrCat("Findings (", health.findings_size(), ")\n");
  for (const Finding& f : health.findings()) {
    const std::string word = SeverityWord(f.severity());
    out += common::StrCat("  ", Pad(PaintSeverity(color, f.severity(), word), word.size(), 10),
                          f.summary().empty() ? f.code() : f.summary(), "\n");
    std::string detail = common::StrCat("            ", f.code());
    if (!f.resource().empty()) common::StrAppend(&detail, " on ", f.resource());
    if (f.has_raised_at()) {
      common::StrAppend(&detail, ", since ", Ago(common::FromProtoTime(f.raised_at()), now));
    }
    out += detail + "\n";
    if (!f.evidence().empty()) {
      std::vector<std::string> keys;
      for (const auto& [k, v] : f.evidence()) keys.push_back(common::StrCat(k, "=", v));
      std::sort(keys.begin(), keys.end());
      out += common::StrCat("            evidence: ", absl::StrJoin(keys, " "), "\n");
    }
  }
  return out;
}

// "97" or "97.5": temperatures as people read them.
std::string Celsius(double value) { return fmt::format("{:g}", std::round(value * 10) / 10); }

// "  Temps     CPU 97 °C (crit 100) · throttled 1204 times since boot": the CPU package (else
// the hottest CPU sensor, else the hottest sensor); empty without sensors.
std::string ThermalLine(const medic::v1::MachineHealth& health) {
  const auto* r = FindReport(health, "thermal");
  if (r == nullptr || !r->has_thermal() || r->thermal().sensors().empty()) return "";
  const auto& thermal = r->thermal();
  const medic::v1::TemperatureSensor* shown = nullptr;
  auto rank = [](const medic::v1::TemperatureSensor& s) {
    const bool package = s.name().find("/Package") != std::string::npos;
    return std::make_tuple(s.cpu(), s.cpu() && package, s.celsius());
  };
  for (const auto& sensor : thermal.sensors()) {
    if (shown == nullptr || rank(sensor) > rank(*shown)) shown = &sensor;
  }
  std::string line = fmt::format("  Temps     {} {} °C", shown->cpu() ? "CPU" : shown->name(),
                                 Celsius(shown->celsius()));
  const double limit = shown->crit_celsius() > 0 ? shown->crit_celsius() : shown->max_celsius();
  if (limit > 0) {
    line += fmt::format(" ({} {})", shown->crit_celsius() > 0 ? "crit" : "max", Celsius(limit));
  }
  const uint64_t throttled = thermal.core_throttle_count() + thermal.package_throttle_count();
  if (throttled > 0) line += fmt::format(" · throttled {} times since boot", throttled);
  return line + "\n";
}

// "  Battery   BAT0 62% of design, 412 cycles, discharging", one line a battery.
std::string BatteryLines(const medic::v1::MachineHealth& health) {
  const auto* r = FindReport(health, "battery");
  if (r == nullptr || !r->has_battery()) return "";
  std::string out;
  for (const auto& b : r->battery().batteries()) {
    std::vector<std::string> parts;
    if (b.health_pct() > 0) parts.push_back(fmt::format("{:.0f}% of design", b.health_pct()));
    if (b.cycle_count() > 0) parts.push_back(fmt::format("{} cycles", b.cycle_count()));
    if (!b.status().empty()) parts.push_back(absl::AsciiStrToLower(b.status()));
    out += fmt::format("  Battery   {}{}{}\n", b.name(), parts.empty() ? "" : " ",
                       absl::StrJoin(parts, ", "));
  }
  return out;
}

// "  HW errors mc0 15 corrected, 1 uncorrected · 2 machine checks · sdb 26 I/O errors"; empty
// when every counter is 0.
std::string HardwareErrorsLine(const medic::v1::MachineHealth& health) {
  const auto* r = FindReport(health, "hardware_errors");
  if (r == nullptr || !r->has_hardware_errors()) return "";
  const auto& errors = r->hardware_errors();
  std::vector<std::string> parts;
  for (const auto& mc : errors.memory_controllers()) {
    if (mc.corrected() == 0 && mc.uncorrected() == 0) continue;
    parts.push_back(fmt::format("{} {} corrected, {} uncorrected", mc.name(), mc.corrected(),
                                mc.uncorrected()));
  }
  if (errors.machine_checks() > 0) {
    parts.push_back(fmt::format("{} machine checks", errors.machine_checks()));
  }
  for (const auto& disk : errors.disks()) {
    if (disk.io_errors() > 0) {
      parts.push_back(fmt::format("{} {} I/O errors", disk.device(), disk.io_errors()));
    }
  }
  if (parts.empty()) return "";
  return fmt::format("  HW errors {}\n", absl::StrJoin(parts, " · "));
}

// "  SMART     /dev/sda WDC WD10EZEX: passed, 24 pending, 16 reallocated, 41 °C", a line a
// disk that smartctl could read; nothing when none could.
std::string SmartLines(const medic::v1::MachineHealth& health) {
  const auto* r = FindReport(health, "smart");
  if (r == nullptr || !r->has_smart()) return "";
  std::string out;
  for (const auto& d : r->smart().disks()) {
    if (!d.note().empty()) continue;
    std::vector<std::string> parts;
    if (d.has_passed()) parts.push_back(d.passed() ? "passed" : "FAILED");
    if (d.has_critical_warning() && d.critical_warning() != 0) {
      parts.push_back(fmt::format("critical warning {:#04x}", d.critical_warning()));
    }
    if (d.pending_sectors() > 0) parts.push_back(fmt::format("{} pending", d.pending_sectors()));
    if (d.reallocated_sectors() > 0) {
      parts.push_back(fmt::format("{} reallocated", d.reallocated_sectors()));
    }
    if (d.media_errors() > 0) parts.push_back(fmt::format("{} media errors", d.media_errors()));
    if (d.has_percentage_used()) parts.push_back(fmt::format("{}% worn", d.percentage_used()));
    if (d.has_temperature_celsius()) {
      parts.push_back(fmt::format("{} °C", d.temperature_celsius()));
    }
    out += fmt::format("  SMART     {}{}{}: {}\n", d.device(), d.model().empty() ? "" : " ",
                       d.model(), parts.empty() ? "no data" : absl::StrJoin(parts, ", "));
  }
  return out;
}

// "  Machine   Dell Inc. Latitude 7420, BIOS 1.31.0, serial 7XK2Q93": only with DMI.
std::string MachineLine(const medic::v1::MachineHealth& health) {
  const auto* r = FindReport(health, "inventory");
  if (r == nullptr || !r->has_inventory() || !r->inventory().has_dmi()) return "";
  const auto& dmi = r->inventory().dmi();
  std::vector<std::string> parts;
  // Vendor and product, without repeating a vendor the product name starts with ("HP HP …").
  std::string name = dmi.product_name();
  const std::string& vendor = dmi.sys_vendor();
  if (!vendor.empty() && name.rfind(vendor, 0) != 0) {
    name = name.empty() ? vendor : vendor + " " + name;
  }
  if (!name.empty()) parts.push_back(name);
  if (!dmi.bios_version().empty()) parts.push_back("BIOS " + dmi.bios_version());
  if (!dmi.product_serial().empty()) parts.push_back("serial " + dmi.product_serial());
  if (parts.empty()) return "";
  return fmt::format("  Machine   {}\n", fmt::join(parts, ", "));
}

std::string HardwareSection(const medic::v1::MachineHealth& health) {
  std::string out = MachineLine(health);
  if (const auto* r = FindReport(health, "cpu"); r != nullptr && r->has_cpu()) {
    const auto& c = r->cpu();
    out += fmt::format("  CPU       {} cores{} · {} busy · load {:.2f} {:.2f} {:.2f}\n",
                       c.logical_cores(), c.model().empty() ? "" : ", " + c.model(),
                       Pct(c.usage_pct()), c.load1(), c.load5(), c.load15());
  }
  if (const auto* r = FindReport(health, "memory"); r != nullptr && r->has_memory()) {
    const auto& m = r->memory();
    const double used = m.total_bytes() ? 100.0 * m.used_bytes() / m.total_bytes() : 0;
    std::string swap = m.swap_total_bytes() == 0
                           ? "no swap"
                           : fmt::format("swap {} free of {}", HumanBytes(m.swap_free_bytes()),
                                         HumanBytes(m.swap_total_bytes()));
    out +=
        fmt::format("  Memory    {} available of {} ({} used) · {}\n",
                    HumanBytes(m.available_bytes()), HumanBytes(m.total_bytes()), Pct(used), swap);
  }
  if (const auto* r = FindReport(health, "filesystems"); r != nullptr && r->has_filesystems()) {
    Table table({"MOUNT", "TYPE", "SIZE", "FREE", "INODES FREE", ""});
    for (const auto& fs : r->filesystems().filesystems()) {
      table.Add({fs.mount_point(), fs.type(), HumanBytes(fs.total_bytes()),
                 fmt::format("{} ({})", HumanBytes(fs.free_bytes()), Pct(fs.free_pct())),
                 fs.total_inodes() ? Pct(fs.inodes_free_pct()) : "-",
                 fs.read_only() ? "read-only" : ""});
    }
    out += "  Disks\n" + table.Render("    ");
  }
  out +=
      SmartLines(health) + ThermalLine(health) + BatteryLines(health) + HardwareErrorsLine(health);
  return out.empty() ? "" : "Hardware\n" + out;
}

// The OS checks' lines, each only when there is something to say.
std::string OsCheckLines(const medic::v1::MachineHealth& health, absl::Time now) {
  std::string out;
  if (const auto* r = FindReport(health, "reboot"); r != nullptr && r->has_reboot()) {
    const auto& reboot = r->reboot();
    if (reboot.reboot_required() || reboot.newer_kernel_installed()) {
      std::string line = "  Reboot pending";
      if (!reboot.packages().empty()) {
        common::StrAppend(&line, ": required by ", absl::StrJoin(reboot.packages(), ", "));
      }
      if (reboot.newer_kernel_installed()) {
        common::StrAppend(&line, reboot.packages().empty() ? ": " : "; ", "kernel ",
                          reboot.newest_kernel(), " installed, ", reboot.running_kernel(),
                          " running");
      }
      out += line + "\n";
    }
  }
  if (const auto* r = FindReport(health, "updates"); r != nullptr && r->has_updates()) {
    const auto& updates = r->updates();
    if (updates.pending() > 0) {
      common::StrAppend(&out, "  Updates: ", updates.pending(), " pending");
      if (updates.security() > 0) common::StrAppend(&out, ", ", updates.security(), " security");
      if (updates.has_last_update()) {
        common::StrAppend(&out, ", last ", updates.package_manager(), " update ",
                          Ago(common::FromProtoTime(updates.last_update()), now));
      }
      out += "\n";
    } else if (!updates.supported() && !updates.note().empty()) {
      common::StrAppend(&out, "  Updates: ", updates.note(), "\n");
    }
  }
  if (const auto* r = FindReport(health, "services"); r != nullptr && r->has_services()) {
    std::vector<std::string> units;
    for (const auto& unit : r->services().failed_units()) units.push_back(unit.unit());
    if (!units.empty())
      common::StrAppend(&out, "  Failed services: ", absl::StrJoin(units, ", "), "\n");
  }
  if (const auto* r = FindReport(health, "time"); r != nullptr && r->has_time()) {
    const auto& time = r->time();
    if (!time.source().empty() && !time.synchronized()) {
      common::StrAppend(&out, "  Clock not synchronised (", time.source(), ")");
      if (time.offset_known()) {
        common::StrAppend(&out, ", offset ", fmt::format("{:+.3f}s", time.offset_seconds()));
      }
      out += "\n";
    }
  }
  if (const auto* r = FindReport(health, "crashes"); r != nullptr && r->has_crashes()) {
    std::vector<std::string> programs;
    for (const auto& crash : r->crashes().crashes()) {
      if (std::find(programs.begin(), programs.end(), crash.program()) == programs.end()) {
        programs.push_back(crash.program());
      }
    }
    if (!programs.empty()) {
      common::StrAppend(&out, "  Crashes in the last ",
                        common::HumanDuration(common::FromProtoDuration(r->crashes().window())),
                        ": ", absl::StrJoin(programs, ", "), "\n");
    }
  }
  return out;
}

std::string OsSection(const medic::v1::MachineHealth& health, absl::Time now) {
  std::string out;
  if (const auto* r = FindReport(health, "os"); r != nullptr && r->has_os()) {
    const auto& os = r->os();
    std::string line = common::StrCat("  ", os.name().empty() ? "unknown system" : os.name());
    if (!os.kernel().empty()) common::StrAppend(&line, ", kernel ", os.kernel());
    if (!os.architecture().empty()) common::StrAppend(&line, " (", os.architecture(), ")");
    if (os.has_uptime()) {
      common::StrAppend(&line, ", up ",
                        common::HumanDuration(common::FromProtoDuration(os.uptime())));
    }
    out = line + "\n";
  }
  out += OsCheckLines(health, now);
  return out.empty() ? "" : common::StrCat("OS\n", out);
}

// A standing finding with `code` on `resource`, or null.
const Finding* StandingFinding(const medic::v1::MachineHealth& health, std::string_view code,
                               std::string_view resource) {
  for (const Finding& f : health.findings()) {
    if (f.code() == code && f.resource() == resource) return &f;
  }
  return nullptr;
}

// " (since Nov 22 19:52 UTC)" for a finding with a raise time; the network notes give the
// time itself, which a technician copies into a ticket.
std::string SinceWords(const Finding* f) {
  if (f == nullptr || !f->has_raised_at()) return "";
  return common::StrCat("since ",
                        absl::FormatTime("%b %d %H:%M UTC", common::FromProtoTime(f->raised_at()),
                                         absl::UTCTimeZone()));
}
std::string Since(const Finding* f) {
  const std::string words = SinceWords(f);
  return words.empty() ? "" : common::StrCat(" (", words, ")");
}
// " (WEAK, since …)" for a standing finding; "" without one.
std::string Flag(const Finding* f, std::string_view word) {
  if (f == nullptr) return "";
  const std::string words = SinceWords(f);
  return common::StrCat(" (", word, words.empty() ? "" : ", ", words, ")");
}

std::string Ms(double ms) { return fmt::format("{:.1f} ms", ms); }

// What one DNS query came to, in words: "answered intranet.lan in 1.2 ms (10.0.0.5)".
std::string DnsWords(const medic::v1::DnsCheck& c) {
  switch (c.outcome()) {
    case medic::v1::DNS_OUTCOME_ANSWERED:
      return common::StrCat("answered ", c.name(), " in ", Ms(c.answer_ms()),
                            c.addresses().empty()
                                ? ""
                                : common::StrCat(" (", absl::StrJoin(c.addresses(), ", "), ")"));
    case medic::v1::DNS_OUTCOME_NXDOMAIN:
      return common::StrCat("says ", c.name(), " does not exist (NXDOMAIN)");
    case medic::v1::DNS_OUTCOME_TIMEOUT:
      return common::StrCat("NO ANSWER for ", c.name(), " within ", Ms(c.answer_ms()),
                            " (timeout)");
    case medic::v1::DNS_OUTCOME_UNREACHABLE:
      return common::StrCat("NOT REACHABLE asking for ", c.name(), ": ", c.error());
    case medic::v1::DNS_OUTCOME_BAD_ANSWER:
      return common::StrCat("unreadable answer for ", c.name(), ": ", c.error());
    default:
      return common::StrCat("FAILED for ", c.name(), ": ", c.rcode());
  }
}

// The network as a technician's notes: each link, the gateway, each DNS server and each
// target, what failed and since when (from the standing findings).
std::string NetworkSection(const medic::v1::MachineHealth& health) {
  const auto* r = FindReport(health, "network");
  const auto* c = FindReport(health, "connectivity");
  const bool have_net = r != nullptr && r->has_network();
  const bool have_checks = c != nullptr && c->has_connectivity();
  if (!have_net && !have_checks) return "";
  std::string out = "Network\n";
  auto note = [&out](std::string_view label, const std::string& line, bool first) {
    common::StrAppend(&out, "  ", Pad(first ? label : "", first ? label.size() : 0, 10), line,
                      "\n");
  };
  if (have_net) {
    const auto& net = r->network();
    bool first = true;
    for (const auto& i : net.interfaces()) {
      if (i.loopback()) continue;
      const Finding* down = StandingFinding(health, "net.link_down", i.name());
      std::string line = common::StrCat(i.name(), " ");
      if (!i.up()) {
        line += "DOWN (switched off)";
      } else if (!i.carrier()) {
        line += i.wireless() ? "NOT CONNECTED" : "NO LINK";
      } else {
        line += "up";
        if (i.speed_mbps()) common::StrAppend(&line, " ", i.speed_mbps(), " Mb/s");
        if (!i.duplex().empty()) common::StrAppend(&line, " ", i.duplex());
      }
      line += Since(down);
      if (i.has_wifi()) {
        common::StrAppend(&line, ", Wi-Fi ", i.wifi().ssid().empty() ? "" : i.wifi().ssid() + " ",
                          "signal ", i.wifi().signal_dbm(), " dBm");
        line += Flag(StandingFinding(health, "net.wifi_weak", i.name()), "WEAK");
      }
      common::StrAppend(&line, " · ",
                        i.addresses().empty() ? "no address" : absl::StrJoin(i.addresses(), " "));
      line += Flag(StandingFinding(health, "net.no_address", i.name()), "NO ADDRESS");
      if (i.has_dhcp_lease() && i.dhcp_lease().has_expires()) {
        common::StrAppend(
            &line, ", DHCP lease from ", i.dhcp_lease().server(), " until ",
            absl::FormatTime("%b %d %H:%M UTC", common::FromProtoTime(i.dhcp_lease().expires()),
                             absl::UTCTimeZone()));
      }
      if (i.carrier_changes() > 2)
        common::StrAppend(&line, ", link changed ", i.carrier_changes(), " times");
      if (const Finding* errors = StandingFinding(health, "net.interface_errors", i.name())) {
        common::StrAppend(&line, ", ", fmt::format("{:.0f}", i.errors_per_min()), " ERRORS/min",
                          Since(errors));
      }
      note("Link", line, first);
      first = false;
    }
    if (first) note("Link", "no network interface besides loopback", true);
  }
  std::vector<std::string> checked_gateways;
  if (have_checks) {
    const auto& conn = c->connectivity();
    bool first = true;
    for (const auto& g : conn.gateways()) {
      checked_gateways.push_back(g.gateway());
      std::string line = g.gateway();
      if (!g.interface().empty()) common::StrAppend(&line, " via ", g.interface());
      if (g.method() == medic::v1::GATEWAY_METHOD_NEIGHBOUR) {
        common::StrAppend(&line, ": ",
                          g.reachable() ? "known in the ARP table" : "NOT ANSWERING (no ARP entry)",
                          " (ping not allowed)");
      } else if (!g.reachable()) {
        common::StrAppend(&line, ": NOT ANSWERING, 0 of ", g.sent(), " pings answered",
                          g.error().empty() ? "" : common::StrCat(" (", g.error(), ")"));
      } else {
        common::StrAppend(&line, ": ", g.received(), " of ", g.sent(), " pings answered, ",
                          Ms(g.rtt_avg_ms()), " average");
        if (g.loss_pct() > 0) common::StrAppend(&line, fmt::format(", {:.0f}% LOST", g.loss_pct()));
      }
      for (std::string_view code :
           {"net.gateway_unreachable", "net.packet_loss", "net.latency_high"}) {
        line += Since(StandingFinding(health, code, g.gateway()));
      }
      note("Gateway", line, first);
      first = false;
    }
  }
  if (have_net) {
    for (const auto& g : r->network().default_gateways()) {
      if (std::find(checked_gateways.begin(), checked_gateways.end(), g) != checked_gateways.end())
        continue;
      note("Gateway", common::StrCat(g, " (not checked)"), checked_gateways.empty());
      checked_gateways.push_back(g);
    }
    if (checked_gateways.empty()) note("Gateway", "none (no default route)", true);
  }
  if (have_checks && !c->connectivity().dns().empty()) {
    const auto& conn = c->connectivity();
    std::vector<std::string> servers;
    for (const auto& d : conn.dns()) {
      if (std::find(servers.begin(), servers.end(), d.server()) == servers.end())
        servers.push_back(d.server());
    }
    bool first = true;
    for (const std::string& server : servers) {
      std::vector<std::string> results;
      for (const auto& d : conn.dns()) {
        if (d.server() == server) results.push_back(DnsWords(d));
      }
      std::string line = common::StrCat(server, ": ", absl::StrJoin(results, "; "));
      line += Since(StandingFinding(health, "net.dns_failure", server));
      line += Since(StandingFinding(health, "net.dns_slow", server));
      note("DNS", line, first);
      first = false;
    }
  } else if (have_net) {
    const auto& dns = r->network().dns_servers();
    note("DNS",
         dns.empty() ? std::string("none configured") : absl::StrJoin(dns, ", ") + " (not checked)",
         true);
  }
  if (have_checks) {
    bool first = true;
    for (const auto& t : c->connectivity().targets()) {
      std::string line = common::StrCat(t.target(), ": ");
      if (!t.connected()) {
        common::StrAppend(&line, "CANNOT CONNECT", t.error().empty() ? "" : " (" + t.error() + ")");
      } else {
        common::StrAppend(&line, "connected in ", Ms(t.connect_ms()));
        if (t.http_status() != 0)
          common::StrAppend(&line, ", HTTP ", t.http_status());
        else if (!t.error().empty())
          common::StrAppend(&line, ", ", t.error());
      }
      line += Since(StandingFinding(health, "net.target_unreachable",
                                    t.endpoint().empty() ? t.target() : t.endpoint()));
      note("Targets", line, first);
      first = false;
    }
    for (const auto& n : c->connectivity().notes()) note("Note", n, true);
  }
  if (have_net) {
    const auto& net = r->network();
    std::vector<std::string> extra;
    if (!net.search_domains().empty())
      extra.push_back("search " + absl::StrJoin(net.search_domains(), " "));
    if (!net.dns_source().empty()) extra.push_back("resolvers from " + net.dns_source());
    if (!health.topology().proxy().empty()) extra.push_back("proxy " + health.topology().proxy());
    if (!extra.empty()) note("", absl::StrJoin(extra, " · "), false);
  }
  return out;
}

// A device state-reasons keyword in a technician's words.
std::string ReasonWords(std::string_view keyword) {
  static constexpr std::pair<std::string_view, std::string_view> kWords[] = {
      {"media-jam", "jammed"},
      {"cover-open", "cover open"},
      {"door-open", "door open"},
      {"interlock-open", "interlock open"},
      {"media-empty", "out of paper"},
      {"media-needed", "needs paper"},
      {"media-low", "paper low"},
      {"toner-empty", "out of toner"},
      {"toner-low", "toner low"},
      {"marker-supply-empty", "out of ink or toner"},
      {"marker-supply-low", "ink or toner low"},
      {"marker-waste-almost-full", "waste container almost full"},
      {"marker-waste-full", "waste container full"},
  };
  for (const auto& [k, words] : kWords) {
    if (k == keyword) return std::string(words);
  }
  return std::string(keyword);
}

// Marker levels as IPP defines them: -1 unknown, -2 unavailable, -3 some remaining.
std::string LevelWords(int level) {
  if (level >= 0 && level <= 100) return common::StrCat(level, "%");
  if (level == -3) return "some left";
  return "level unknown";
}

// Per queue: its device, what is wrong with queue and device, and which jobs wait since when.
std::string PrintersSection(const medic::v1::MachineHealth& health, absl::Time now) {
  const auto* r = FindReport(health, "printers");
  if (r == nullptr || !r->has_printers()) return "";
  const auto& p = r->printers();
  if (!p.print_system_present()) {
    return common::StrCat("Printers\n  ", p.note().empty() ? "no print system" : p.note(), "\n");
  }
  if (p.queues().empty()) return "Printers\n  no printers set up\n";
  const absl::Time collected = common::FromProtoTime(r->collected_at());
  std::string out = "Printers\n";
  for (const auto& q : p.queues()) {
    common::StrAppend(&out, "  ", q.name(), q.is_default() ? " (default)" : "", " → ",
                      q.device_uri().empty() ? "no device" : q.device_uri(), "\n");
    std::vector<std::string> queue = {q.state()};
    queue.push_back(q.accepting_jobs() ? "accepting jobs" : "NOT accepting jobs");
    if (!q.state_message().empty()) queue.push_back(common::StrCat("\"", q.state_message(), "\""));
    common::StrAppend(&out, "    queue: ", absl::StrJoin(queue, ", "), "\n");
    for (const auto& d : p.devices()) {
      if (d.uri() != q.device_uri() || !d.queried()) continue;
      std::vector<std::string> device;
      if (!d.answered()) {
        device.push_back(common::StrCat("DOES NOT ANSWER (", d.error(), ")"));
      } else {
        device.push_back(d.state());
        for (const auto& reason : d.state_reasons()) device.push_back(ReasonWords(reason));
        for (const auto& m : d.markers()) {
          device.push_back(common::StrCat(m.name(), " ", LevelWords(m.level())));
        }
        if (d.markers().empty()) {
          for (const auto& s : d.supplies()) {
            if (s.supply_class() != "supplyThatIsConsumed") continue;
            device.push_back(common::StrCat(s.description().empty() ? s.type() : s.description(),
                                            " ", LevelWords(s.level())));
          }
        }
        for (const auto& t : d.input_trays()) {
          if (t.max_capacity() > 0 && t.level() >= 0) {
            device.push_back(
                common::StrCat("tray ", t.name(), " ", t.level(), "/", t.max_capacity()));
          }
        }
      }
      common::StrAppend(&out, "    device: ", absl::StrJoin(device, ", "), "\n");
    }
    if (q.jobs().empty()) {
      common::StrAppend(&out, "    no jobs waiting\n");
      continue;
    }
    common::StrAppend(&out, "    ", q.job_count(), q.job_count() == 1 ? " job" : " jobs",
                      " waiting:\n");
    for (const auto& job : q.jobs()) {
      const absl::Time queued = collected - common::FromProtoDuration(job.age());
      common::StrAppend(&out, "      ", q.name(), "-", job.id(), " ", job.state(), ", queued ",
                        Ago(queued, now), job.user().empty() ? "" : " by " + job.user(),
                        job.title().empty() ? "" : common::StrCat(" (", job.title(), ")"), "\n");
    }
  }
  return out;
}

std::string ProbesSection(const medic::v1::MachineHealth& health, absl::Time now) {
  std::vector<std::string> problems;
  for (const auto& r : health.reports()) {
    if (r.outcome() == medic::v1::PROBE_OUTCOME_OK) continue;
    std::string what = r.outcome() == medic::v1::PROBE_OUTCOME_TIMED_OUT ? "timed out"
                       : r.outcome() == medic::v1::PROBE_OUTCOME_PARTIAL ? "partly failed"
                                                                         : "failed";
    problems.push_back(common::StrCat("  ", r.probe(), " ", what,
                                      r.error().empty() ? "" : ": " + r.error(), " (",
                                      Ago(common::FromProtoTime(r.collected_at()), now), ")"));
  }
  if (problems.empty()) return "";
  return common::StrCat("Probes that could not report\n", absl::StrJoin(problems, "\n"), "\n");
}

}  // namespace

std::string HumanBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0) return fmt::format("{} B", bytes);
  if (value < 10) return fmt::format("{:.1f} {}", value, kUnits[unit]);
  return fmt::format("{:.0f} {}", value, kUnits[unit]);
}

std::string Ago(absl::Time then, absl::Time now) {
  if (then == absl::UnixEpoch() || then == absl::InfinitePast()) return "never";
  const absl::Duration d = now - then;
  if (d < absl::Seconds(1)) return "just now";
  return common::HumanDuration(absl::Trunc(d, absl::Seconds(1))) + " ago";
}

std::string RenderMachines(const medic::v1::ListMachinesResponse& response, absl::Time now,
                           bool color) {
  if (response.machines().empty()) {
    return "No machines have reported yet. Start medic-agent with --collector pointing here.\n";
  }
  std::vector<const medic::v1::Machine*> machines;
  for (const auto& m : response.machines()) machines.push_back(&m);
  // Those needing attention first: offline, then by worst finding; then by name.
  std::stable_sort(machines.begin(), machines.end(), [](const auto* a, const auto* b) {
    auto rank = [](const medic::v1::Machine* m) {
      return std::make_pair(m->state() == medic::v1::MACHINE_STATE_OFFLINE ? 0 : 1,
                            -static_cast<int>(m->worst_severity()));
    };
    return rank(a) < rank(b);
  });
  Table table({"HOST", "STATE", "OS", "LAST SEEN", "FINDINGS", "AGENT"});
  int online = 0;
  for (const auto* m : machines) {
    const bool is_online = m->state() == medic::v1::MACHINE_STATE_ONLINE;
    online += is_online;
    const std::string state = is_online ? "online" : "offline";
    std::string findings =
        m->open_findings() == 0
            ? "none"
            : common::StrCat(m->open_findings(),
                             " (worst: ", absl::AsciiStrToLower(SeverityWord(m->worst_severity())),
                             ")");
    std::vector<std::string> plain = {m->hostname(),
                                      state,
                                      m->os().empty() ? "-" : m->os(),
                                      Ago(common::FromProtoTime(m->last_seen()), now),
                                      findings,
                                      m->agent_version()};
    std::vector<std::string> shown = plain;
    shown[1] = is_online ? Paint(color, "32", state) : Paint(color, "1;31", state);
    if (m->open_findings() > 0) shown[4] = PaintSeverity(color, m->worst_severity(), findings);
    table.Add(std::move(plain), std::move(shown));
  }
  return common::StrCat(table.Render(), "\n", machines.size(),
                        machines.size() == 1 ? " machine, " : " machines, ", online, " online, ",
                        machines.size() - online, " offline\n");
}

std::string RenderHealth(const medic::v1::MachineHealth& health, absl::Time now, bool color) {
  const auto& m = health.machine();
  const bool online = m.state() == medic::v1::MACHINE_STATE_ONLINE;
  std::string out =
      common::StrCat(Paint(color, "1", m.hostname()), " — ",
                     online ? Paint(color, "32", "online") : Paint(color, "1;31", "offline"),
                     ", last seen ", Ago(common::FromProtoTime(m.last_seen()), now));
  if (!m.os().empty()) common::StrAppend(&out, " · ", m.os());
  if (!m.agent_version().empty()) common::StrAppend(&out, " · agent ", m.agent_version());
  if (!m.machine_id().empty()) common::StrAppend(&out, "\nmachine id ", m.machine_id());
  if (!m.address().empty()) {
    common::StrAppend(&out, online ? " · connected from " : " · last connected from ",
                      common::PeerHost(m.address()));
  }
  if (!m.identity_alert().empty()) {
    common::StrAppend(&out, "\n", Paint(color, "1;31", "IDENTITY ALERT"), " (",
                      Ago(common::FromProtoTime(m.identity_alert_at()), now),
                      "): ", m.identity_alert());
  }
  common::StrAppend(&out, "\npolicy ",
                    m.policy_version().empty() ? "none (local config only)" : m.policy_version());
  common::StrAppend(&out, "\n\n", FindingsSection(health, now, color));
  for (std::string section :
       {HardwareSection(health), OsSection(health, now), NetworkSection(health),
        PrintersSection(health, now), ProbesSection(health, now)}) {
    if (!section.empty()) common::StrAppend(&out, "\n", section);
  }
  if (!health.recently_cleared().empty()) {
    common::StrAppend(&out, "\nCleared in the last day\n");
    for (const Finding& f : health.recently_cleared()) {
      common::StrAppend(&out, "  ", f.code(), f.resource().empty() ? "" : " on " + f.resource(),
                        ", cleared ", Ago(common::FromProtoTime(f.cleared_at()), now), "\n");
    }
  }
  return out;
}

}  // namespace medic::cli

namespace medic::cli {
namespace {

// "-" for a value the collector left unset, else the enum's word ("acknowledged", "subnet").
template <typename Enum>
std::string Word(Enum value) {
  return static_cast<int>(value) == 0 ? "-" : common::EnumWord(value);
}

std::string Hosts(const google::protobuf::RepeatedPtrField<std::string>& hosts, size_t max) {
  std::string out;
  for (int i = 0; i < hosts.size() && static_cast<size_t>(i) < max; ++i) {
    out += common::StrCat(i == 0 ? "" : ", ", hosts[i]);
  }
  if (static_cast<size_t>(hosts.size()) > max) {
    out += common::StrCat(" and ", hosts.size() - static_cast<int>(max), " more");
  }
  return out;
}

}  // namespace

std::string RenderTickets(const medic::v1::ListTicketsResponse& response, absl::Time now,
                          bool color) {
  if (response.tickets().empty()) return "No tickets.\n";
  Table table({"ID", "P", "STATE", "HOSTS", "OPENED", "TITLE"});
  for (const auto& t : response.tickets()) {
    const std::string state = Word(t.state());
    std::vector<std::string> plain = {t.ticket_id(),
                                      common::StrCat("P", t.priority()),
                                      state,
                                      std::to_string(t.hosts_size()),
                                      Ago(common::FromProtoTime(t.opened_at()), now),
                                      t.title()};
    std::vector<std::string> shown = plain;
    shown[1] = PaintSeverity(color, t.severity(), plain[1]);
    if (t.state() == medic::v1::TICKET_STATE_RESOLVED) shown[2] = Paint(color, "32", state);
    table.Add(std::move(plain), std::move(shown));
  }
  return common::StrCat(table.Render(), "\n", response.tickets_size(),
                        response.tickets_size() == 1 ? " ticket\n" : " tickets\n");
}

std::string RenderTicket(const medic::v1::Ticket& t, absl::Time now, bool color) {
  std::string out =
      common::StrCat(Paint(color, "1", common::StrCat(t.ticket_id(), "  ", t.title())), "\n");
  out += common::StrCat("  state     ", Word(t.state()), "   priority P", t.priority(),
                        "   severity ", absl::AsciiStrToLower(SeverityWord(t.severity())), "\n");
  out += common::StrCat("  finding   ", t.code(), t.resource().empty() ? "" : " on ", t.resource(),
                        " (scope ", Word(t.scope()), ", incident ", t.incident_id(), ")\n");
  out += common::StrCat("  hosts     ", t.hosts_size(), ": ", Hosts(t.hosts(), 20), "\n");
  out += common::StrCat("  opened    ", Ago(common::FromProtoTime(t.opened_at()), now), "\n");
  if (!t.external_ref().empty()) out += common::StrCat("  helpdesk  ", t.external_ref(), "\n");
  out += common::StrCat("\nDiagnosis\n  ", t.diagnosis(), "\n");
  if (!t.runbook().empty()) {
    out += "\nWhat to do\n";
    int n = 1;
    for (const auto& step : t.runbook()) out += common::StrCat("  ", n++, ". ", step, "\n");
  }
  if (!t.evidence().empty()) {
    out += "\nEvidence\n";
    std::map<std::string, std::string> sorted(t.evidence().begin(), t.evidence().end());
    for (const auto& [k, v] : sorted) out += common::StrCat("  ", k, ": ", v, "\n");
  }
  out += "\nHistory\n";
  for (const auto& e : t.history()) {
    out += common::StrCat(
        "  ",
        absl::FormatTime("%Y-%m-%d %H:%M:%S", common::FromProtoTime(e.at()), absl::LocalTimeZone()),
        "  ", e.actor(), ": ", e.what(), "\n");
  }
  return out;
}

std::string RenderIncidents(const medic::v1::ListIncidentsResponse& response, absl::Time now,
                            bool color) {
  if (response.incidents().empty()) return "No incidents.\n";
  std::string out;
  for (const auto& i : response.incidents()) {
    const bool resolved = i.has_resolved_at();
    out += common::StrCat(
        Paint(color, "1", i.incident_id()), "  ", i.code(), " on ",
        i.resource().empty() ? "-" : i.resource(), "  scope ", Word(i.scope()), ", ",
        i.hosts_size(), i.hosts_size() == 1 ? " host" : " hosts", ", ",
        resolved ? Paint(color, "32", "resolved") : PaintSeverity(color, i.severity(), "open"),
        ", ticket ", i.ticket_id().empty() ? "-" : i.ticket_id(), "\n");
    out += common::StrCat("    hosts: ", Hosts(i.hosts(), 10), "\n");
    for (const auto& line : i.explanation()) out += common::StrCat("    ", line, "\n");
  }
  return out;
}

}  // namespace medic::cli
