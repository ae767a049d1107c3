// The network probe on Linux: sysfs for interfaces, /proc/net for counters, addresses and routes.

#include <map>
#include <optional>

#include "agent/probes/network/network_checks.h"
#include "agent/probes/network/network_parse.h"
#include "agent/probes/network/network_probes.h"
#include "agent/probes/probe_util.h"
#include "agent/probes/text.h"
#include "common/status/status_macros.h"

namespace medic::agent {
namespace {

constexpr std::string_view kSysClassNet = "/sys/class/net";
constexpr std::string_view kNetDev = "/proc/net/dev";
constexpr std::string_view kRoute = "/proc/net/route";
constexpr std::string_view kIpv6Route = "/proc/net/ipv6_route";
constexpr std::string_view kFibTrie = "/proc/net/fib_trie";
constexpr std::string_view kIfInet6 = "/proc/net/if_inet6";
constexpr std::string_view kWireless = "/proc/net/wireless";
constexpr std::string_view kDhclientDir = "/var/lib/dhcp";

constexpr uint32_t kArphrdLoopback = 772;  // linux/if_arp.h
constexpr uint32_t kIffUp = 0x1;           // linux/if.h

// The attributes of one network device in sysfs. Reuses one path buffer for its reads.
class DeviceDir {
 public:
  DeviceDir(const common::FileSystem& fs, std::string_view name)
      : fs_(fs), path_(common::StrCat(kSysClassNet, "/", name, "/")), dir_size_(path_.size()) {}

  // The attribute's text without surrounding whitespace; nullopt when absent or unreadable.
  std::optional<std::string> Text(std::string_view attribute) {
    std::optional<std::string> text = ReadOptional(fs_, PathOf(attribute));
    if (!text) return std::nullopt;
    const std::string_view trimmed = Trim(*text);
    if (trimmed.size() != text->size()) {
      // Sysfs ends every value with a newline: trim in place, no second string.
      const size_t offset = static_cast<size_t>(trimmed.data() - text->data());
      text->erase(offset + trimmed.size());
      text->erase(0, offset);
    }
    return text;
  }

  // A decimal attribute; nullopt when absent, unreadable or not a non-negative number ("-1" is
  // how `speed` says unknown).
  std::optional<uint64_t> Number(std::string_view attribute) {
    std::optional<std::string> text = Text(attribute);
    uint64_t value = 0;
    if (!text || !ParseInt(*text, &value)) return std::nullopt;
    return value;
  }

  bool Has(std::string_view entry) { return fs_.Exists(PathOf(entry)); }

 private:
  const std::string& PathOf(std::string_view entry) {
    path_.resize(dir_size_);
    path_ += entry;
    return path_;
  }

  const common::FileSystem& fs_;
  std::string path_;  // "/sys/class/net/<name>/" and the last entry asked for
  size_t dir_size_;
};

// What a device's sysfs says of its identity, which changes rarely: kind, MTU, MAC, negotiated
// speed and duplex.
struct DeviceIdentity {
  bool loopback = false;
  bool wireless = false;
  bool physical = false;  // a bus device (PCI, USB, SDIO) behind it
  std::optional<uint32_t> mtu;
  std::optional<std::string> mac;
  std::optional<uint32_t> speed_mbps;
  std::optional<std::string> duplex;  // "full" or "half"
};

// The identity of device `dev`, or nullopt when it has no `type` (bonding_masters is no device).
std::optional<DeviceIdentity> ReadIdentity(DeviceDir& dev) {
  std::optional<uint64_t> type = dev.Number("type");
  if (!type) return std::nullopt;
  DeviceIdentity identity;
  identity.loopback = *type == kArphrdLoopback;
  identity.wireless = dev.Has("wireless") || dev.Has("phy80211");
  identity.physical = dev.Has("device");
  if (std::optional<uint64_t> mtu = dev.Number("mtu")) identity.mtu = static_cast<uint32_t>(*mtu);
  identity.mac = dev.Text("address");
  // Some drivers report an unknown speed as 4294967295 (-1 as an unsigned 32-bit value).
  if (std::optional<uint64_t> speed = dev.Number("speed"); speed && *speed < UINT32_MAX) {
    identity.speed_mbps = static_cast<uint32_t>(*speed);
  }
  if (std::optional<std::string> duplex = dev.Text("duplex");
      duplex && (*duplex == "full" || *duplex == "half")) {
    identity.duplex = std::move(duplex);
  }
  return identity;
}

// A device's link state as sysfs gives it, compared between collections as text.
struct LinkState {
  std::optional<std::string> oper_state;
  std::optional<std::string> flags;
  std::optional<std::string> carrier;
  // Counts every carrier transition: a flap between two collections changes it even when the
  // link is back up by the time we look.
  std::optional<std::string> carrier_changes;

  bool operator==(const LinkState&) const = default;
};

LinkState ReadLinkState(DeviceDir& dev) {
  return LinkState{dev.Text("operstate"), dev.Text("flags"), dev.Text("carrier"),
                   dev.Text("carrier_changes")};
}

// Fills `nic` from the device's identity, link state and counters. The byte, error and drop
// counters come from `counters` (the device's /proc/net/dev row) when there is one, else from
// statistics/*. /proc/net/dev's receive drop column adds rx_missed_errors to rx_dropped, so
// statistics/rx_dropped is still read unless that sum is 0.
void FillInterface(DeviceDir& dev, const std::string& name, const DeviceIdentity& identity,
                   const LinkState& link, const NetDevCounters* counters,
                   medic::v1::NetworkInterface& nic) {
  nic.set_name(name);
  nic.set_loopback(identity.loopback);
  nic.set_wireless(identity.wireless);
  nic.set_physical(identity.physical);
  if (link.oper_state) nic.set_oper_state(*link.oper_state);
  // `flags` is hex with a "0x" prefix ("0x1003").
  std::string_view flags_hex = link.flags ? std::string_view(*link.flags) : std::string_view();
  uint32_t flags = 0;
  if (ConsumePrefix(&flags_hex, "0x") && ParseHex(flags_hex, &flags)) {
    nic.set_up((flags & kIffUp) != 0);
  } else {
    nic.set_up(link.oper_state == "up" || link.oper_state == "unknown");
  }
  uint64_t carrier = 0;
  nic.set_carrier(link.carrier && ParseInt(*link.carrier, &carrier) && carrier == 1);
  uint64_t carrier_changes = 0;
  if (link.carrier_changes && ParseInt(*link.carrier_changes, &carrier_changes)) {
    nic.set_carrier_changes(carrier_changes);
  }
  if (identity.mtu) nic.set_mtu(*identity.mtu);
  if (identity.mac) nic.set_mac(*identity.mac);
  if (identity.speed_mbps) nic.set_speed_mbps(*identity.speed_mbps);
  if (identity.duplex) nic.set_duplex(*identity.duplex);
  if (counters != nullptr) {
    nic.set_rx_bytes(counters->rx_bytes);
    nic.set_tx_bytes(counters->tx_bytes);
    nic.set_rx_errors(counters->rx_errors);
    nic.set_tx_errors(counters->tx_errors);
    nic.set_rx_dropped(
        counters->rx_dropped_and_missed == 0 ? 0 : dev.Number("statistics/rx_dropped").value_or(0));
    nic.set_tx_dropped(counters->tx_dropped);
    return;
  }
  nic.set_rx_bytes(dev.Number("statistics/rx_bytes").value_or(0));
  nic.set_tx_bytes(dev.Number("statistics/tx_bytes").value_or(0));
  nic.set_rx_errors(dev.Number("statistics/rx_errors").value_or(0));
  nic.set_tx_errors(dev.Number("statistics/tx_errors").value_or(0));
  nic.set_rx_dropped(dev.Number("statistics/rx_dropped").value_or(0));
  nic.set_tx_dropped(dev.Number("statistics/tx_dropped").value_or(0));
}

// The text of the address, route and resolver sources of one collection; nullopt for an
// optional source the machine does not have.
struct TableSources {
  std::string route;
  std::string fib_trie;
  std::optional<std::string> ipv6_route;
  std::optional<std::string> if_inet6;

  bool operator==(const TableSources&) const = default;
};

// What the report takes from TableSources: a pure function of their text.
struct Tables {
  std::vector<InterfaceAddress> addresses;  // IPv4 then IPv6
  std::vector<std::string> cidrs;           // addresses[i].Cidr()
  std::vector<std::string> default_gateways;
  std::vector<medic::v1::Route> routes;
};

// Parses `sources`; an error names the source that cannot be parsed.
absl::StatusOr<Tables> ParseTables(const TableSources& sources) {
  absl::StatusOr<std::vector<Ipv4Route>> ipv4_routes = ParseIpv4Routes(sources.route);
  if (!ipv4_routes.ok()) return WithPath(ipv4_routes.status(), kRoute);
  absl::StatusOr<std::vector<Ipv4Address>> ipv4_local =
      ParseFibTrieLocalAddresses(sources.fib_trie);
  if (!ipv4_local.ok()) return WithPath(ipv4_local.status(), kFibTrie);
  std::vector<Ipv6Route> ipv6_routes;
  if (sources.ipv6_route) {
    absl::StatusOr<std::vector<Ipv6Route>> parsed = ParseIpv6Routes(*sources.ipv6_route);
    if (!parsed.ok()) return WithPath(parsed.status(), kIpv6Route);
    ipv6_routes = *std::move(parsed);
  }
  Tables tables;
  tables.addresses = AssignIpv4Addresses(*ipv4_local, *ipv4_routes);
  if (sources.if_inet6) {
    absl::StatusOr<std::vector<InterfaceAddress>> parsed = ParseIfInet6(*sources.if_inet6);
    if (!parsed.ok()) return WithPath(parsed.status(), kIfInet6);
    tables.addresses.insert(tables.addresses.end(), std::make_move_iterator(parsed->begin()),
                            std::make_move_iterator(parsed->end()));
  }
  tables.cidrs.reserve(tables.addresses.size());
  for (const InterfaceAddress& address : tables.addresses) {
    tables.cidrs.push_back(address.Cidr());
  }
  tables.default_gateways = DefaultGateways(*ipv4_routes, ipv6_routes);
  tables.routes = ReportedRoutes(*ipv4_routes, ipv6_routes);
  return tables;
}

class NetworkProbe : public Probe {
 public:
  std::string_view name() const override { return "network"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    absl::StatusOr<std::vector<std::string>> names = ctx.fs.ListDir(kSysClassNet);
    if (!names.ok()) return WithPath(names.status(), kSysClassNet);
    TableSources sources;
    ASSIGN_OR_RETURN(sources.route, ReadRequired(ctx.fs, kRoute));
    ASSIGN_OR_RETURN(sources.fib_trie, ReadRequired(ctx.fs, kFibTrie));
    sources.ipv6_route = ReadOptional(ctx.fs, kIpv6Route);
    sources.if_inet6 = ReadOptional(ctx.fs, kIfInet6);
    const NetworkSettings settings = NetworkSettingsFrom(ctx.config);
    ASSIGN_OR_RETURN(Resolvers resolvers, ReadResolvers(ctx.fs, settings));
    // Addresses, routes and resolvers change rarely: parse them again only when the text they
    // come from changed (the same text always gives the same tables).
    if (!tables_ || sources != sources_) {
      ASSIGN_OR_RETURN(Tables tables, ParseTables(sources));
      tables_ = std::move(tables);
      sources_ = std::move(sources);
    }
    // Counters of every device in one read; a device missing from it (or a kernel without it)
    // has them read from sysfs.
    ASSIGN_OR_RETURN(std::optional<std::vector<NetDevCounters>> counters,
                     ReadAndParseOptional(ctx.fs, kNetDev, ParseNetDev));
    ASSIGN_OR_RETURN(std::optional<std::vector<WirelessRow>> wireless,
                     ReadAndParseOptional(ctx.fs, kWireless, ParseWireless));
    const absl::Time now = ctx.clock.Now();

    ++collection_;
    // DHCP leases change every few hours: read with the devices' identity.
    if (collection_ % kIdentityRefresh == 1) leases_ = ReadLeases(ctx.fs);
    ProbeOutput output;
    output.report.set_probe(std::string(name()));
    medic::v1::NetworkInfo& info = *output.report.mutable_network();
    for (const std::string& device : *names) {
      RETURN_IF_ERROR(CheckDeadline(ctx, common::StrCat("reading interface ", device)));
      const NetDevCounters* device_counters = nullptr;
      if (counters) {
        for (const NetDevCounters& row : *counters) {
          if (row.interface == device) device_counters = &row;
        }
      }
      DeviceDir dev(ctx.fs, device);
      Known& known = known_[device];
      known.seen = collection_;
      if (!known.identity || known.age >= kIdentityRefresh) {
        known.identity = ReadIdentity(dev);
        known.age = 0;
        if (!known.identity) continue;
        known.link = ReadLinkState(dev);
      } else if (LinkState link = ReadLinkState(dev); link != known.link) {
        known.identity = ReadIdentity(dev);
        known.age = 0;
        known.link = std::move(link);
        if (!known.identity) continue;
      }
      ++known.age;
      medic::v1::NetworkInterface& nic = *info.add_interfaces();
      FillInterface(dev, device, *known.identity, known.link, device_counters, nic);
      for (size_t i = 0; i < tables_->addresses.size(); ++i) {
        if (tables_->addresses[i].interface == device) nic.add_addresses(tables_->cidrs[i]);
      }
      if (wireless) {
        for (const WirelessRow& row : *wireless) {
          if (row.interface != device) continue;
          medic::v1::WifiLink& wifi = *nic.mutable_wifi();
          wifi.set_quality(row.quality);
          wifi.set_quality_max(70);  // the scale of every common Linux driver (iwlwifi, ath)
          wifi.set_signal_dbm(row.signal_dbm);
          wifi.set_noise_dbm(row.noise_dbm);
          AddObservation(output.report, "net.wifi_signal_dbm", device, row.signal_dbm, "dBm");
        }
      }
      for (const DhclientLease& lease : leases_) {
        if (lease.interface != device) continue;
        medic::v1::DhcpLease& out = *nic.mutable_dhcp_lease();
        out.set_address(lease.address);
        out.set_server(lease.server);
        if (lease.expires != absl::InfiniteFuture() && lease.expires != absl::InfinitePast()) {
          *out.mutable_expires() = common::ToProtoTime(lease.expires);
        }
        out.set_source(lease.source);
      }
      // Error and drop rates since the previous collection; a counter that went backwards (the
      // driver was reloaded) starts over.
      const uint64_t errors = nic.rx_errors() + nic.tx_errors();
      const uint64_t drops = nic.rx_dropped() + nic.tx_dropped();
      if (known.counted && now > known.counted_at && errors >= known.errors &&
          drops >= known.drops) {
        const double minutes = absl::ToDoubleMinutes(now - known.counted_at);
        nic.set_errors_per_min(static_cast<double>(errors - known.errors) / minutes);
        nic.set_drops_per_min(static_cast<double>(drops - known.drops) / minutes);
      }
      known.counted = true;
      known.counted_at = now;
      known.errors = errors;
      known.drops = drops;
      AddObservation(output.report, "net.rx_bytes", device, static_cast<double>(nic.rx_bytes()),
                     "bytes");
      AddObservation(output.report, "net.tx_bytes", device, static_cast<double>(nic.tx_bytes()),
                     "bytes");
    }
    for (const std::string& gateway : tables_->default_gateways) {
      info.add_default_gateways(gateway);
    }
    for (const medic::v1::Route& route : tables_->routes) *info.add_routes() = route;
    for (const std::string& server : resolvers.servers) info.add_dns_servers(server);
    for (const std::string& domain : resolvers.search_domains) info.add_search_domains(domain);
    info.set_dns_source(resolvers.source);
    output.findings = JudgeInterfaces(info, settings);
    // Forget devices that went away, so one that comes back under the name is read afresh.
    std::erase_if(known_, [this](const auto& entry) { return entry.second.seen != collection_; });
    return output;
  }

 private:
  // A device's identity is read again when its link state changed (speed and duplex are
  // negotiated when the carrier comes up; a MAC or an MTU is usually changed with the link
  // down), and at least every kIdentityRefresh collections for changes made on a live link.
  static constexpr int kIdentityRefresh = 5;
  struct Known {
    std::optional<DeviceIdentity> identity;  // nullopt: not a device, or not read yet
    LinkState link;                          // when identity was read or last checked
    int age = 0;                             // collections since identity was read
    uint64_t seen = 0;                       // the last collection that listed the device
    // Errors and drops (rx + tx) at the last collection, for the rates.
    bool counted = false;
    absl::Time counted_at;
    uint64_t errors = 0;
    uint64_t drops = 0;
  };

  // The leases of dhclient's files under /var/lib/dhcp (NetworkManager's dhclient writes
  // there too); the last lease per interface wins. Unreadable or malformed files are skipped:
  // a lease is a detail, not the probe's job.
  static std::vector<DhclientLease> ReadLeases(const common::FileSystem& fs) {
    std::vector<DhclientLease> leases;
    absl::StatusOr<std::vector<std::string>> names = fs.ListDir(kDhclientDir);
    if (!names.ok()) return leases;
    for (const std::string& name : *names) {
      if (!EndsWith(name, ".leases") && !EndsWith(name, ".lease")) continue;
      const std::string path = common::StrCat(kDhclientDir, "/", name);
      std::optional<std::string> text = ReadOptional(fs, path);
      if (!text) continue;
      absl::StatusOr<std::vector<DhclientLease>> parsed = ParseDhclientLeases(*text);
      if (!parsed.ok()) continue;
      for (DhclientLease& lease : *parsed) {
        lease.source = path;
        std::erase_if(leases,
                      [&lease](const DhclientLease& l) { return l.interface == lease.interface; });
        leases.push_back(std::move(lease));
      }
    }
    return leases;
  }
  std::vector<DhclientLease> leases_;
  std::map<std::string, Known> known_;
  uint64_t collection_ = 0;

  // The sources tables_ was parsed from; both empty until a collection gets that far.
  TableSources sources_;
  std::optional<Tables> tables_;
};

}  // namespace

std::unique_ptr<Probe> NewNetworkProbe() { return std::make_unique<NetworkProbe>(); }

}  // namespace medic::agent
