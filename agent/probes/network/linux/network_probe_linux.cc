// The network probe on Linux: sysfs for interfaces, /proc/net for addresses and routes.

#include <optional>

#include "agent/probes/network/network_parse.h"
#include "agent/probes/network/network_probes.h"
#include "agent/probes/probe_util.h"
#include "agent/probes/text.h"
#include "common/status/status_macros.h"

namespace medic::agent {
namespace {

constexpr std::string_view kSysClassNet = "/sys/class/net";
constexpr std::string_view kRoute = "/proc/net/route";
constexpr std::string_view kIpv6Route = "/proc/net/ipv6_route";
constexpr std::string_view kFibTrie = "/proc/net/fib_trie";
constexpr std::string_view kIfInet6 = "/proc/net/if_inet6";
constexpr std::string_view kResolvConf = "/etc/resolv.conf";

constexpr uint32_t kArphrdLoopback = 772;  // linux/if_arp.h
constexpr uint32_t kIffUp = 0x1;           // linux/if.h

// The attributes of one network device in sysfs.
class DeviceDir {
 public:
  DeviceDir(const common::FileSystem& fs, std::string_view name)
      : fs_(fs), dir_(common::StrCat(kSysClassNet, "/", name)) {}

  std::optional<std::string> Text(std::string_view attribute) const {
    std::optional<std::string> text = ReadOptional(fs_, common::StrCat(dir_, "/", attribute));
    if (!text) return std::nullopt;
    return std::string(Trim(*text));
  }

  // A decimal attribute; nullopt when absent, unreadable or not a non-negative number ("-1" is
  // how `speed` says unknown).
  std::optional<uint64_t> Number(std::string_view attribute) const {
    std::optional<std::string> text = Text(attribute);
    uint64_t value = 0;
    if (!text || !ParseInt(*text, &value)) return std::nullopt;
    return value;
  }

  bool Has(std::string_view entry) const { return fs_.Exists(common::StrCat(dir_, "/", entry)); }

 private:
  const common::FileSystem& fs_;
  std::string dir_;
};

// The interface as sysfs describes it; nullopt when `name` is not a device (bonding_masters).
std::optional<medic::v1::NetworkInterface> ReadInterface(const common::FileSystem& fs,
                                                         const std::string& name) {
  const DeviceDir dev(fs, name);
  std::optional<uint64_t> type = dev.Number("type");
  if (!type) return std::nullopt;
  medic::v1::NetworkInterface nic;
  nic.set_name(name);
  nic.set_loopback(*type == kArphrdLoopback);
  nic.set_wireless(dev.Has("wireless") || dev.Has("phy80211"));
  const std::optional<std::string> oper_state = dev.Text("operstate");
  if (oper_state) nic.set_oper_state(*oper_state);
  // `flags` is hex with a "0x" prefix ("0x1003").
  std::optional<std::string> flags_text = dev.Text("flags");
  std::string_view flags_hex = flags_text ? std::string_view(*flags_text) : std::string_view();
  uint32_t flags = 0;
  if (ConsumePrefix(&flags_hex, "0x") && ParseHex(flags_hex, &flags)) {
    nic.set_up((flags & kIffUp) != 0);
  } else {
    nic.set_up(oper_state == "up" || oper_state == "unknown");
  }
  nic.set_carrier(dev.Number("carrier").value_or(0) == 1);
  if (std::optional<uint64_t> mtu = dev.Number("mtu")) nic.set_mtu(static_cast<uint32_t>(*mtu));
  if (std::optional<std::string> mac = dev.Text("address")) nic.set_mac(*mac);
  // Some drivers report an unknown speed as 4294967295 (-1 as an unsigned 32-bit value).
  if (std::optional<uint64_t> speed = dev.Number("speed"); speed && *speed < UINT32_MAX) {
    nic.set_speed_mbps(static_cast<uint32_t>(*speed));
  }
  if (std::optional<std::string> duplex = dev.Text("duplex");
      duplex && (*duplex == "full" || *duplex == "half")) {
    nic.set_duplex(*duplex);
  }
  nic.set_rx_bytes(dev.Number("statistics/rx_bytes").value_or(0));
  nic.set_tx_bytes(dev.Number("statistics/tx_bytes").value_or(0));
  nic.set_rx_errors(dev.Number("statistics/rx_errors").value_or(0));
  nic.set_tx_errors(dev.Number("statistics/tx_errors").value_or(0));
  nic.set_rx_dropped(dev.Number("statistics/rx_dropped").value_or(0));
  nic.set_tx_dropped(dev.Number("statistics/tx_dropped").value_or(0));
  return nic;
}

class NetworkProbe : public Probe {
 public:
  std::string_view name() const override { return "network"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    absl::StatusOr<std::vector<std::string>> names = ctx.fs.ListDir(kSysClassNet);
    if (!names.ok()) return WithPath(names.status(), kSysClassNet);
    ASSIGN_OR_RETURN(std::vector<Ipv4Route> ipv4_routes,
                     ReadAndParse(ctx.fs, kRoute, ParseIpv4Routes));
    ASSIGN_OR_RETURN(std::vector<Ipv4Address> ipv4_local,
                     ReadAndParse(ctx.fs, kFibTrie, ParseFibTrieLocalAddresses));
    ASSIGN_OR_RETURN(std::optional<std::vector<Ipv6Route>> ipv6_routes,
                     ReadAndParseOptional(ctx.fs, kIpv6Route, ParseIpv6Routes));
    ASSIGN_OR_RETURN(std::optional<std::vector<InterfaceAddress>> ipv6_addresses,
                     ReadAndParseOptional(ctx.fs, kIfInet6, ParseIfInet6));
    ASSIGN_OR_RETURN(std::optional<ResolvConf> resolv,
                     ReadAndParseOptional(ctx.fs, kResolvConf, ParseResolvConf));
    if (!ipv6_routes) ipv6_routes.emplace();
    if (!ipv6_addresses) ipv6_addresses.emplace();

    std::vector<InterfaceAddress> addresses = AssignIpv4Addresses(ipv4_local, ipv4_routes);
    addresses.insert(addresses.end(), ipv6_addresses->begin(), ipv6_addresses->end());

    ProbeOutput output;
    output.report.set_probe(std::string(name()));
    medic::v1::NetworkInfo& info = *output.report.mutable_network();
    for (const std::string& device : *names) {
      RETURN_IF_ERROR(CheckDeadline(ctx, common::StrCat("reading interface ", device)));
      std::optional<medic::v1::NetworkInterface> nic = ReadInterface(ctx.fs, device);
      if (!nic) continue;
      for (const InterfaceAddress& address : addresses) {
        if (address.interface == device) nic->add_addresses(address.Cidr());
      }
      AddObservation(output.report, "net.rx_bytes", device, static_cast<double>(nic->rx_bytes()),
                     "bytes");
      AddObservation(output.report, "net.tx_bytes", device, static_cast<double>(nic->tx_bytes()),
                     "bytes");
      *info.add_interfaces() = *std::move(nic);
    }
    for (std::string& gateway : DefaultGateways(ipv4_routes, *ipv6_routes)) {
      info.add_default_gateways(std::move(gateway));
    }
    for (medic::v1::Route& route : ReportedRoutes(ipv4_routes, *ipv6_routes)) {
      *info.add_routes() = std::move(route);
    }
    if (resolv) {
      for (const std::string& server : resolv->nameservers) info.add_dns_servers(server);
      for (const std::string& domain : resolv->search_domains) info.add_search_domains(domain);
    }
    return output;
  }
};

}  // namespace

std::unique_ptr<Probe> NewNetworkProbe() { return std::make_unique<NetworkProbe>(); }

}  // namespace medic::agent
