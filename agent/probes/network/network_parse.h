#pragma once

// Pure parsers for the kernel's network sources under /proc/net and for resolv.conf. No I/O;
// they build on every platform.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

// An IPv4 address as a number in host order: 192.0.2.1 is 0xC0000201.
using Ipv4Address = uint32_t;
using Ipv6Address = std::array<uint8_t, 16>;

// "192.0.2.1".
std::string FormatIpv4(Ipv4Address address);
// RFC 5952 text: lowercase, leading zeros dropped, the longest run of two or more zero groups as
// "::" ("fe80::fc:ff:fe00:1").
std::string FormatIpv6(const Ipv6Address& address);

// Route flags (linux/route.h, linux/ipv6_route.h).
inline constexpr uint32_t kRtfUp = 0x0001;
inline constexpr uint32_t kRtfGateway = 0x0002;
inline constexpr uint32_t kRtfReject = 0x0200;
inline constexpr uint32_t kRtfCache = 0x01000000;
inline constexpr uint32_t kRtfLocal = 0x80000000;

// One row of /proc/net/route (the IPv4 main table).
struct Ipv4Route {
  std::string interface;
  Ipv4Address destination = 0;
  Ipv4Address gateway = 0;
  Ipv4Address mask = 0;
  uint32_t flags = 0;
  uint32_t metric = 0;

  int PrefixLength() const;  // set bits of the mask
};

// Parses /proc/net/route. Addresses there are the kernel's network-order words printed as hex on
// a little-endian machine ("010200C0" is 192.0.2.1). InvalidArgument when the header is missing
// or a row has fewer than 8 columns or a column that is not hex.
absl::StatusOr<std::vector<Ipv4Route>> ParseIpv4Routes(std::string_view text);

// One row of /proc/net/ipv6_route.
struct Ipv6Route {
  std::string interface;
  Ipv6Address destination{};
  uint32_t prefix_length = 0;
  Ipv6Address next_hop{};  // all zero for on-link routes
  uint32_t metric = 0;
  uint32_t flags = 0;
};

// Parses /proc/net/ipv6_route (empty when IPv6 has no routes). InvalidArgument naming the line
// when a row has fewer than 10 columns or a malformed one.
absl::StatusOr<std::vector<Ipv6Route>> ParseIpv6Routes(std::string_view text);

// An address of an interface.
struct InterfaceAddress {
  std::string interface;  // empty when no interface could be found for it
  std::string address;    // "192.0.2.2", "fe80::fc:ff:fe00:1"
  uint32_t prefix_length = 0;

  std::string Cidr() const;  // "192.0.2.2/24"
};

// Parses /proc/net/if_inet6: every IPv6 address with its interface and prefix length (empty
// when IPv6 is off). InvalidArgument naming the line when a row has fewer than 6 columns or a
// malformed one.
absl::StatusOr<std::vector<InterfaceAddress>> ParseIfInet6(std::string_view text);

// The IPv4 addresses the machine owns: the "/32 host LOCAL" leaves of /proc/net/fib_trie, once
// each, in the order first seen. InvalidArgument when the text has no table ("Main:", "Local:")
// or a leaf address is malformed.
absl::StatusOr<std::vector<Ipv4Address>> ParseFibTrieLocalAddresses(std::string_view text);

// Gives each local IPv4 address its interface and prefix length: 127.0.0.0/8 belongs to "lo";
// any other address to the most specific connected route of `routes` (up, no gateway, not
// reject, prefix length > 0) that contains it. An address no such route contains (a /32 on lo,
// a point-to-point link) keeps an empty interface and prefix length 32.
std::vector<InterfaceAddress> AssignIpv4Addresses(const std::vector<Ipv4Address>& addresses,
                                                  const std::vector<Ipv4Route>& routes);

// The default gateways: IPv4 ones first, then IPv6, each family by increasing metric, once each.
// A default gateway is an up, non-reject route to 0/0 with the gateway flag.
std::vector<std::string> DefaultGateways(const std::vector<Ipv4Route>& ipv4,
                                         const std::vector<Ipv6Route>& ipv6);

// The routes worth reporting, IPv4 then IPv6 in table order. Dropped: routes not up, reject
// (unreachable) routes, cached routes, IPv6 local-address routes, routes over "lo" and IPv6
// multicast (ff00::/8).
std::vector<medic::v1::Route> ReportedRoutes(const std::vector<Ipv4Route>& ipv4,
                                             const std::vector<Ipv6Route>& ipv6);

// The counters of one device, as /proc/net/dev gives them.
struct NetDevCounters {
  std::string interface;
  uint64_t rx_bytes = 0;
  uint64_t rx_errors = 0;
  // The receive "drop" column: rx_dropped + rx_missed_errors (sysfs statistics/rx_dropped is
  // the first alone), so 0 here means both are 0.
  uint64_t rx_dropped_and_missed = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_errors = 0;
  uint64_t tx_dropped = 0;
};

// Parses /proc/net/dev: two header lines ("Inter-|   Receive ...", " face |bytes ..."), then one
// row per device, "<name>:" and 16 decimal columns (receive bytes packets errs drop fifo frame
// compressed multicast, transmit bytes packets errs drop fifo colls carrier compressed); a long
// name touches its first number ("veth1a2b3c4:123"). Rows in file order. InvalidArgument when the
// header is missing, or naming the line when a row has no ':', fewer than 16 columns or one
// that is not a number.
absl::StatusOr<std::vector<NetDevCounters>> ParseNetDev(std::string_view text);

struct ResolvConf {
  std::vector<std::string> nameservers;     // in file order, as written ("fe80::1%eth0" too)
  std::vector<std::string> search_domains;  // of the last "search" or "domain" line, as glibc
};

// Parses resolv.conf(5). Lines whose first character is "#" or ";" are comments, and so is the
// rest of a line from either character on; keywords other than nameserver, search and domain
// ("options", "sortlist") are ignored. InvalidArgument naming the line for a "nameserver"
// without an address.
absl::StatusOr<ResolvConf> ParseResolvConf(std::string_view text);

// True when `conf` points only at systemd-resolved's local stub (127.0.0.53 or 127.0.0.54):
// then the servers that matter are its uplinks, in /run/systemd/resolve/resolv.conf.
bool IsResolvedStub(const ResolvConf& conf);

// One row of /proc/net/wireless (wireless extensions).
struct WirelessRow {
  std::string interface;
  double quality = 0;  // link quality, the driver's own scale (usually out of 70)
  int signal_dbm = 0;
  int noise_dbm = 0;  // 0 when the driver does not report it (-256)
};

// Parses /proc/net/wireless: two header lines, then "<iface>: <status> <link> <level> <noise>
// ..." with values that may end in "." (updated) or be unsigned dBm + 256 ("199." is -57).
// InvalidArgument naming the line when a row has fewer than 5 columns or a value is not a
// number; no rows (no wireless device) is an empty list.
absl::StatusOr<std::vector<WirelessRow>> ParseWireless(std::string_view text);

// One row of /proc/net/arp.
struct ArpEntry {
  std::string address;  // "192.0.2.1"
  uint32_t flags = 0;   // 0x2 (ATF_COM): the hardware address is known
  std::string mac;
  std::string interface;

  bool complete() const { return (flags & 0x2) != 0; }
};

// Parses /proc/net/arp (header "IP address  HW type  Flags  HW address  Mask  Device").
// InvalidArgument naming the line when a row has fewer than 6 columns or malformed flags.
absl::StatusOr<std::vector<ArpEntry>> ParseArp(std::string_view text);

// One lease of a dhclient leases file.
struct DhclientLease {
  std::string interface;
  std::string address;                        // fixed-address
  std::string server;                         // option dhcp-server-identifier
  absl::Time expires = absl::InfinitePast();  // "expire never" is InfiniteFuture
  std::string source;                         // the file it came from; set by the caller
};

// Parses dhclient's leases file (dhclient.conf(5) lease declarations): every "lease { ... }"
// block in file order; the last one for an interface is the current one. Dates are "expire
// <weekday> YYYY/MM/DD HH:MM:SS;" in UTC, or "epoch <seconds>;". InvalidArgument naming the line
// for an unterminated block or a malformed date.
absl::StatusOr<std::vector<DhclientLease>> ParseDhclientLeases(std::string_view text);

}  // namespace medic::agent
