#include "agent/probes/network/network_parse.h"

#include <algorithm>
#include <bit>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "agent/probes/text.h"

namespace medic::agent {
namespace {

std::vector<std::string_view> Columns(std::string_view line) { return SplitFields(line); }

absl::Status LineError(std::string_view file, int line_number, std::string_view what,
                       std::string_view line) {
  return absl::InvalidArgumentError(
      common::StrCat(file, " line ", line_number, ": ", what, ": \"", line, "\""));
}

bool ParseHexWord(std::string_view text, uint32_t* out) {
  return text.size() <= 8 && !text.empty() && absl::c_all_of(text, absl::ascii_isxdigit) &&
         ParseHex(text, out);
}

// A word of /proc/net/route: the address bytes in memory order, read as a little-endian number.
bool ParseRouteAddress(std::string_view text, Ipv4Address* out) {
  uint32_t word = 0;
  if (text.size() != 8 || !ParseHexWord(text, &word)) return false;
  *out = ((word & 0xff) << 24) | ((word & 0xff00) << 8) | ((word >> 8) & 0xff00) | (word >> 24);
  return true;
}

// 32 hex digits, most significant byte first, as /proc/net/ipv6_route and if_inet6 write them.
bool ParseIpv6Hex(std::string_view text, Ipv6Address* out) {
  if (text.size() != 32 || !absl::c_all_of(text, absl::ascii_isxdigit)) return false;
  for (size_t i = 0; i < 16; ++i) {
    uint32_t byte = 0;
    if (!ParseHex(text.substr(2 * i, 2), &byte)) return false;
    (*out)[i] = static_cast<uint8_t>(byte);
  }
  return true;
}

bool ParseDottedIpv4(std::string_view text, Ipv4Address* out) {
  std::vector<std::string_view> parts = Split(text, '.');
  if (parts.size() != 4) return false;
  Ipv4Address address = 0;
  for (std::string_view part : parts) {
    uint32_t octet = 0;
    if (part.empty() || part.size() > 3 || !absl::c_all_of(part, absl::ascii_isdigit) ||
        !ParseInt(part, &octet) || octet > 255) {
      return false;
    }
    address = (address << 8) | octet;
  }
  *out = address;
  return true;
}

bool IsZero(const Ipv6Address& address) {
  return std::all_of(address.begin(), address.end(), [](uint8_t b) { return b == 0; });
}

bool IsLoopback(Ipv4Address address) { return (address >> 24) == 127; }

}  // namespace

std::string FormatIpv4(Ipv4Address address) {
  return common::StrCat(address >> 24, ".", (address >> 16) & 0xff, ".", (address >> 8) & 0xff, ".",
                        address & 0xff);
}

std::string FormatIpv6(const Ipv6Address& address) {
  std::array<uint32_t, 8> groups{};
  for (size_t i = 0; i < 8; ++i) groups[i] = (address[2 * i] << 8) | address[2 * i + 1];
  // The longest run of at least two zero groups; the first one on a tie (RFC 5952 4.2).
  int best_start = -1, best_length = 0;
  for (int i = 0; i < 8;) {
    if (groups[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && groups[j] == 0) ++j;
    if (j - i > best_length && j - i >= 2) {
      best_start = i;
      best_length = j - i;
    }
    i = j;
  }
  std::string text;
  for (int i = 0; i < 8; ++i) {
    if (i == best_start) {
      text += "::";
      i += best_length - 1;
      continue;
    }
    if (!text.empty() && text.back() != ':') text += ':';
    text += common::StrCat(absl::Hex(groups[i]));
  }
  return text;
}

int Ipv4Route::PrefixLength() const { return std::popcount(mask); }

std::string InterfaceAddress::Cidr() const { return common::StrCat(address, "/", prefix_length); }

absl::StatusOr<std::vector<Ipv4Route>> ParseIpv4Routes(std::string_view text) {
  constexpr std::string_view kFile = "/proc/net/route";
  std::vector<Ipv4Route> routes;
  int line_number = 0;
  bool have_header = false;
  for (std::string_view line : SplitLines(text)) {
    ++line_number;
    if (Trim(line).empty()) continue;
    if (!have_header) {
      if (!StartsWith(line, "Iface")) {
        return LineError(kFile, line_number, "expected the \"Iface\" header", line);
      }
      have_header = true;
      continue;
    }
    std::vector<std::string_view> columns = Columns(line);
    if (columns.size() < 8) return LineError(kFile, line_number, "fewer than 8 columns", line);
    Ipv4Route route;
    route.interface = std::string(columns[0]);
    uint32_t flags = 0, metric = 0;
    if (!ParseRouteAddress(columns[1], &route.destination) ||
        !ParseRouteAddress(columns[2], &route.gateway) || !ParseHexWord(columns[3], &flags) ||
        !ParseInt(columns[6], &metric) || !ParseRouteAddress(columns[7], &route.mask)) {
      return LineError(kFile, line_number, "malformed column", line);
    }
    route.flags = flags;
    route.metric = metric;
    routes.push_back(std::move(route));
  }
  if (!have_header) return absl::InvalidArgumentError("/proc/net/route: no header line");
  return routes;
}

absl::StatusOr<std::vector<Ipv6Route>> ParseIpv6Routes(std::string_view text) {
  constexpr std::string_view kFile = "/proc/net/ipv6_route";
  std::vector<Ipv6Route> routes;
  int line_number = 0;
  for (std::string_view line : SplitLines(text)) {
    ++line_number;
    std::vector<std::string_view> columns = Columns(line);
    if (columns.empty()) continue;
    if (columns.size() < 10) return LineError(kFile, line_number, "fewer than 10 columns", line);
    Ipv6Route route;
    Ipv6Address source{};
    uint32_t source_length = 0;
    if (!ParseIpv6Hex(columns[0], &route.destination) ||
        !ParseHexWord(columns[1], &route.prefix_length) || route.prefix_length > 128 ||
        !ParseIpv6Hex(columns[2], &source) || !ParseHexWord(columns[3], &source_length) ||
        !ParseIpv6Hex(columns[4], &route.next_hop) || !ParseHexWord(columns[5], &route.metric) ||
        !ParseHexWord(columns[8], &route.flags)) {
      return LineError(kFile, line_number, "malformed column", line);
    }
    route.interface = std::string(columns[9]);
    routes.push_back(std::move(route));
  }
  return routes;
}

absl::StatusOr<std::vector<InterfaceAddress>> ParseIfInet6(std::string_view text) {
  constexpr std::string_view kFile = "/proc/net/if_inet6";
  std::vector<InterfaceAddress> addresses;
  int line_number = 0;
  for (std::string_view line : SplitLines(text)) {
    ++line_number;
    std::vector<std::string_view> columns = Columns(line);
    if (columns.empty()) continue;
    if (columns.size() < 6) return LineError(kFile, line_number, "fewer than 6 columns", line);
    Ipv6Address address{};
    InterfaceAddress entry;
    if (!ParseIpv6Hex(columns[0], &address) || !ParseHexWord(columns[2], &entry.prefix_length) ||
        entry.prefix_length > 128) {
      return LineError(kFile, line_number, "malformed column", line);
    }
    entry.interface = std::string(columns[5]);
    entry.address = FormatIpv6(address);
    addresses.push_back(std::move(entry));
  }
  return addresses;
}

absl::StatusOr<std::vector<Ipv4Address>> ParseFibTrieLocalAddresses(std::string_view text) {
  constexpr std::string_view kFile = "/proc/net/fib_trie";
  std::vector<Ipv4Address> addresses;
  bool have_table = false;
  bool in_leaf = false;
  Ipv4Address leaf = 0;
  int line_number = 0;
  for (std::string_view line : SplitLines(text)) {
    ++line_number;
    const std::string_view content = Trim(line);
    if (content.empty()) continue;
    if (!absl::ascii_isspace(line.front()) && EndsWith(content, ":")) {
      // A table: "Main:", "Local:", "Id 100:" (a VRF).
      have_table = true;
      in_leaf = false;
      continue;
    }
    if (StartsWith(content, "+--")) {  // an inner node of the trie
      in_leaf = false;
      continue;
    }
    if (StartsWith(content, "|--")) {
      const std::string_view address = Trim(content.substr(3));
      if (!ParseDottedIpv4(address, &leaf)) {
        return LineError(kFile, line_number, "malformed leaf address", line);
      }
      in_leaf = true;
      continue;
    }
    // A prefix of the current leaf: "/32 host LOCAL", "/24 link UNICAST".
    std::vector<std::string_view> columns = Columns(content);
    if (in_leaf && columns.size() >= 3 && columns[0] == "/32" && columns[2] == "LOCAL" &&
        std::find(addresses.begin(), addresses.end(), leaf) == addresses.end()) {
      addresses.push_back(leaf);
    }
  }
  if (!have_table) return absl::InvalidArgumentError("/proc/net/fib_trie: no table");
  return addresses;
}

std::vector<InterfaceAddress> AssignIpv4Addresses(const std::vector<Ipv4Address>& addresses,
                                                  const std::vector<Ipv4Route>& routes) {
  std::vector<InterfaceAddress> assigned;
  for (Ipv4Address address : addresses) {
    InterfaceAddress entry;
    entry.address = FormatIpv4(address);
    entry.prefix_length = 32;
    if (IsLoopback(address)) {
      entry.interface = "lo";
      entry.prefix_length = 8;
    } else {
      int best = 0;
      for (const Ipv4Route& route : routes) {
        const int length = route.PrefixLength();
        if ((route.flags & kRtfUp) == 0 || (route.flags & (kRtfGateway | kRtfReject)) != 0 ||
            length == 0 || (address & route.mask) != route.destination || length <= best) {
          continue;
        }
        best = length;
        entry.interface = route.interface;
        entry.prefix_length = static_cast<uint32_t>(length);
      }
    }
    assigned.push_back(std::move(entry));
  }
  return assigned;
}

std::vector<std::string> DefaultGateways(const std::vector<Ipv4Route>& ipv4,
                                         const std::vector<Ipv6Route>& ipv6) {
  std::vector<std::pair<uint32_t, std::string>> v4, v6;
  for (const Ipv4Route& route : ipv4) {
    if ((route.flags & (kRtfUp | kRtfGateway)) == (kRtfUp | kRtfGateway) &&
        (route.flags & kRtfReject) == 0 && route.destination == 0 && route.mask == 0) {
      v4.emplace_back(route.metric, FormatIpv4(route.gateway));
    }
  }
  for (const Ipv6Route& route : ipv6) {
    if ((route.flags & (kRtfUp | kRtfGateway)) == (kRtfUp | kRtfGateway) &&
        (route.flags & kRtfReject) == 0 && route.prefix_length == 0 && !IsZero(route.next_hop)) {
      v6.emplace_back(route.metric, FormatIpv6(route.next_hop));
    }
  }
  std::vector<std::string> gateways;
  for (auto* family : {&v4, &v6}) {
    std::stable_sort(family->begin(), family->end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [metric, gateway] : *family) {
      if (std::find(gateways.begin(), gateways.end(), gateway) == gateways.end()) {
        gateways.push_back(std::move(gateway));
      }
    }
  }
  return gateways;
}

std::vector<medic::v1::Route> ReportedRoutes(const std::vector<Ipv4Route>& ipv4,
                                             const std::vector<Ipv6Route>& ipv6) {
  std::vector<medic::v1::Route> reported;
  for (const Ipv4Route& route : ipv4) {
    if ((route.flags & kRtfUp) == 0 || (route.flags & (kRtfReject | kRtfCache)) != 0 ||
        route.interface == "lo") {
      continue;
    }
    medic::v1::Route& out = reported.emplace_back();
    out.set_destination(common::StrCat(FormatIpv4(route.destination), "/", route.PrefixLength()));
    if (route.flags & kRtfGateway) out.set_gateway(FormatIpv4(route.gateway));
    out.set_interface(route.interface);
    out.set_metric(route.metric);
  }
  for (const Ipv6Route& route : ipv6) {
    if ((route.flags & kRtfUp) == 0 || (route.flags & (kRtfReject | kRtfCache | kRtfLocal)) != 0 ||
        route.interface == "lo" || (route.prefix_length >= 8 && route.destination[0] == 0xff)) {
      continue;
    }
    medic::v1::Route& out = reported.emplace_back();
    out.set_destination(common::StrCat(FormatIpv6(route.destination), "/", route.prefix_length));
    if ((route.flags & kRtfGateway) && !IsZero(route.next_hop)) {
      out.set_gateway(FormatIpv6(route.next_hop));
    }
    out.set_interface(route.interface);
    out.set_metric(route.metric);
  }
  return reported;
}

absl::StatusOr<std::vector<NetDevCounters>> ParseNetDev(std::string_view text) {
  constexpr std::string_view kFile = "/proc/net/dev";
  std::vector<NetDevCounters> devices;
  int line_number = 0;
  int header_lines = 0;
  for (std::string_view line : SplitLines(text)) {
    ++line_number;
    if (Trim(line).empty()) continue;
    if (header_lines < 2) {
      if (!Contains(line, "|")) {
        return LineError(kFile, line_number, "expected the \"Inter-|\" header", line);
      }
      ++header_lines;
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return LineError(kFile, line_number, "no ':'", line);
    // The 16 columns, parsed in place: this runs on every collection.
    std::array<uint64_t, 16> columns{};
    size_t count = 0;
    std::string_view rest = line.substr(colon + 1);
    while (true) {
      const size_t start = rest.find_first_not_of(" \t");
      if (start == std::string_view::npos) break;
      rest.remove_prefix(start);
      const std::string_view column = rest.substr(0, rest.find_first_of(" \t"));
      rest.remove_prefix(column.size());
      if (count == columns.size()) break;  // a future kernel's extra columns
      if (!ParseInt(column, &columns[count])) {
        return LineError(kFile, line_number, "malformed column", line);
      }
      ++count;
    }
    if (count < columns.size()) return LineError(kFile, line_number, "fewer than 16 columns", line);
    NetDevCounters& device = devices.emplace_back();
    device.interface = std::string(Trim(line.substr(0, colon)));
    device.rx_bytes = columns[0];
    device.rx_errors = columns[2];
    device.rx_dropped_and_missed = columns[3];
    device.tx_bytes = columns[8];
    device.tx_errors = columns[10];
    device.tx_dropped = columns[11];
  }
  if (header_lines < 2) return absl::InvalidArgumentError("/proc/net/dev: no header");
  return devices;
}

absl::StatusOr<ResolvConf> ParseResolvConf(std::string_view text) {
  ResolvConf conf;
  int line_number = 0;
  for (std::string_view line : SplitLines(text)) {
    ++line_number;
    const std::string_view content = line.substr(0, line.find_first_of("#;"));
    std::vector<std::string_view> words = Columns(content);
    if (words.empty()) continue;
    if (words[0] == "nameserver") {
      if (words.size() < 2) {
        return LineError("resolv.conf", line_number, "nameserver without an address", line);
      }
      conf.nameservers.emplace_back(words[1]);
    } else if (words[0] == "search" || words[0] == "domain") {
      conf.search_domains.assign(words.begin() + 1, words.end());
    }
  }
  return conf;
}

bool IsResolvedStub(const ResolvConf& conf) {
  return !conf.nameservers.empty() &&
         absl::c_all_of(conf.nameservers, [](const std::string& server) {
           return server == "127.0.0.53" || server == "127.0.0.54";
         });
}

namespace {

// A wireless-extensions value: "54.", "-56", "-256"; the trailing "." marks an updated value.
bool ParseWirelessValue(std::string_view text, double* out) {
  ConsumeSuffix(&text, ".");
  return ParseDouble(text, out);
}

}  // namespace

absl::StatusOr<std::vector<WirelessRow>> ParseWireless(std::string_view text) {
  constexpr std::string_view kFile = "/proc/net/wireless";
  std::vector<WirelessRow> rows;
  int line_number = 0;
  for (std::string_view line : SplitLines(text)) {
    ++line_number;
    const size_t colon = line.find(':');
    // The header lines have "|" and no ':' after the name.
    if (Trim(line).empty() || line.find('|') != std::string_view::npos) continue;
    if (colon == std::string_view::npos) return LineError(kFile, line_number, "no ':'", line);
    std::vector<std::string_view> columns = Columns(line.substr(colon + 1));
    if (columns.size() < 4) return LineError(kFile, line_number, "fewer than 5 columns", line);
    double quality = 0, level = 0, noise = 0;
    if (!ParseWirelessValue(columns[1], &quality) || !ParseWirelessValue(columns[2], &level) ||
        !ParseWirelessValue(columns[3], &noise)) {
      return LineError(kFile, line_number, "malformed column", line);
    }
    // Levels are dBm (or dBm + 256): anything else (1e300, nan) is not a level, and would not
    // fit the int it is converted to below. Found by fuzzing.
    if (!(level >= -512 && level <= 512) || !(noise >= -512 && noise <= 512)) {
      return LineError(kFile, line_number, "signal or noise level out of range", line);
    }
    // Drivers without signed dBm print dBm + 256; 0 and -256 mean "not reported".
    if (level > 63) level -= 256;
    if (noise > 63) noise -= 256;
    WirelessRow& row = rows.emplace_back();
    row.interface = std::string(Trim(line.substr(0, colon)));
    row.quality = quality;
    row.signal_dbm = static_cast<int>(level);
    row.noise_dbm = noise <= -256 ? 0 : static_cast<int>(noise);
  }
  return rows;
}

absl::StatusOr<std::vector<ArpEntry>> ParseArp(std::string_view text) {
  constexpr std::string_view kFile = "/proc/net/arp";
  std::vector<ArpEntry> entries;
  int line_number = 0;
  for (std::string_view line : SplitLines(text)) {
    ++line_number;
    std::vector<std::string_view> columns = Columns(line);
    if (columns.empty() || StartsWith(line, "IP address")) continue;
    if (columns.size() < 6) return LineError(kFile, line_number, "fewer than 6 columns", line);
    ArpEntry entry;
    std::string_view flags = columns[2];
    Ipv4Address address = 0;
    if (!ConsumePrefix(&flags, "0x") || !ParseHexWord(flags, &entry.flags) ||
        !ParseDottedIpv4(columns[0], &address)) {
      return LineError(kFile, line_number, "malformed column", line);
    }
    entry.address = std::string(columns[0]);
    entry.mac = std::string(columns[3]);
    entry.interface = std::string(columns[5]);
    entries.push_back(std::move(entry));
  }
  return entries;
}

absl::StatusOr<std::vector<DhclientLease>> ParseDhclientLeases(std::string_view text) {
  constexpr std::string_view kFile = "dhclient leases";
  std::vector<DhclientLease> leases;
  bool in_lease = false;
  int line_number = 0;
  int open_line = 0;
  for (std::string_view line : SplitLines(text)) {
    ++line_number;
    std::string_view content = Trim(line.substr(0, line.find('#')));
    if (content.empty()) continue;
    if (!in_lease) {
      if (StartsWith(content, "lease") && EndsWith(content, "{")) {
        in_lease = true;
        open_line = line_number;
        leases.emplace_back();
      }
      continue;  // other top-level declarations (default-duid) say nothing of a lease
    }
    if (content == "}") {
      in_lease = false;
      continue;
    }
    ConsumeSuffix(&content, ";");
    std::vector<std::string_view> words = Columns(content);
    DhclientLease& lease = leases.back();
    auto unquote = [](std::string_view word) {
      ConsumePrefix(&word, "\"");
      ConsumeSuffix(&word, "\"");
      return std::string(word);
    };
    if (words.size() >= 2 && words[0] == "interface") {
      lease.interface = unquote(words[1]);
    } else if (words.size() >= 2 && words[0] == "fixed-address") {
      lease.address = std::string(words[1]);
    } else if (words.size() >= 3 && words[0] == "option" && words[1] == "dhcp-server-identifier") {
      lease.server = std::string(words[2]);
    } else if (words.size() >= 2 && words[0] == "expire") {
      if (words[1] == "never") {
        lease.expires = absl::InfiniteFuture();
      } else if (words[1] == "epoch" && words.size() >= 3) {
        int64_t seconds = 0;
        if (!ParseInt(words[2], &seconds))
          return LineError(kFile, line_number, "malformed epoch", line);
        lease.expires = absl::FromUnixSeconds(seconds);
      } else if (words.size() >= 4) {
        absl::Time time;
        std::string error;
        const std::string when = common::StrCat(words[2], " ", words[3]);
        if (!absl::ParseTime("%Y/%m/%d %H:%M:%S", when, absl::UTCTimeZone(), &time, &error)) {
          return LineError(kFile, line_number, "malformed date", line);
        }
        lease.expires = time;
      } else {
        return LineError(kFile, line_number, "malformed date", line);
      }
    }
  }
  if (in_lease) return LineError(kFile, open_line, "lease block never closed", "lease {");
  return leases;
}

}  // namespace medic::agent
