#include "agent/probes/network/network_parse.h"

#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// An address from its first bytes; the rest are zero.
Ipv6Address V6(std::initializer_list<uint8_t> bytes) {
  Ipv6Address address{};
  if (bytes.size() > address.size()) ADD_FAILURE() << "more than 16 bytes";
  if (bytes.size() > address.size()) return address;
  std::copy(bytes.begin(), bytes.end(), address.begin());
  return address;
}

struct Ipv6FormatCase {
  std::string name;
  Ipv6Address address;
  std::string text;
};

class FormatIpv6Test : public ::testing::TestWithParam<Ipv6FormatCase> {};

TEST_P(FormatIpv6Test, Formats) { EXPECT_EQ(FormatIpv6(GetParam().address), GetParam().text); }

INSTANTIATE_TEST_SUITE_P(
    Rows, FormatIpv6Test,
    ::testing::Values(
        // All zero.
        Ipv6FormatCase{"unspecified", V6({}), "::"},
        // Loopback.
        Ipv6FormatCase{"loopback", V6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), "::1"},
        // Link-local from an EUI-64: leading zeros dropped.
        Ipv6FormatCase{"link_local",
                       V6({0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0xfc, 0, 0xff, 0xfe, 0, 0, 1}),
                       "fe80::fc:ff:fe00:1"},
        // Two zero runs: the longer one is compressed.
        Ipv6FormatCase{"longest_run",
                       V6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}),
                       "2001:db8:0:0:1::"},
        // Two equal runs: the first one.
        Ipv6FormatCase{"first_of_equal_runs",
                       V6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1}),
                       "2001:db8::1:0:0:1"},
        // A single zero group is not compressed.
        Ipv6FormatCase{"single_zero_group",
                       V6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1}),
                       "2001:db8:0:1:1:1:1:1"},
        // Trailing zeros.
        Ipv6FormatCase{"trailing_zeros", V6({0xfd, 0}), "fd00::"}),
    [](const auto& info) { return info.param.name; });

// /proc/net/route of a laptop on wifi with a docker bridge (real capture, addresses changed).
constexpr std::string_view kLaptopRoutes =
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT  \n"
    "wlp0s20f3\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
    "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
    "wlp0s20f3\t0001A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0\n"
    "wlp0s20f3\t0000FEA9\t00000000\t0001\t0\t0\t1000\t0000FFFF\t0\t0\t0\n";

TEST(ParseIpv4RoutesTest, DecodesLittleEndianHex) {
  absl::StatusOr<std::vector<Ipv4Route>> routes = ParseIpv4Routes(kLaptopRoutes);
  ASSERT_TRUE(routes.ok()) << routes.status();
  ASSERT_EQ(routes->size(), 4u);
  EXPECT_EQ((*routes)[0].interface, "wlp0s20f3");
  EXPECT_EQ(FormatIpv4((*routes)[0].gateway), "192.168.1.1");
  EXPECT_EQ((*routes)[0].PrefixLength(), 0);
  EXPECT_EQ((*routes)[0].metric, 600u);
  EXPECT_EQ((*routes)[0].flags, kRtfUp | kRtfGateway);
  EXPECT_EQ(FormatIpv4((*routes)[1].destination), "172.17.0.0");
  EXPECT_EQ((*routes)[1].PrefixLength(), 16);
  EXPECT_EQ(FormatIpv4((*routes)[2].destination), "192.168.1.0");
  EXPECT_EQ((*routes)[2].PrefixLength(), 24);
}

struct BadRoutesCase {
  std::string name;
  std::string text;
  std::string error = {};
};

class ParseIpv4RoutesErrorTest : public ::testing::TestWithParam<BadRoutesCase> {};

TEST_P(ParseIpv4RoutesErrorTest, Rejects) {
  absl::StatusOr<std::vector<Ipv4Route>> routes = ParseIpv4Routes(GetParam().text);
  ASSERT_FALSE(routes.ok());
  EXPECT_EQ(routes.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(routes.status().message()), HasSubstr(GetParam().error));
}

INSTANTIATE_TEST_SUITE_P(
    Rows, ParseIpv4RoutesErrorTest,
    ::testing::Values(
        // An empty read: not even the header.
        BadRoutesCase{"empty", "", "no header"},
        // A row before any header.
        BadRoutesCase{"no_header", "eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\n", "line 1"},
        // A row cut short.
        BadRoutesCase{"short_row", "Iface\tDestination\nEth0\t00000000\t0101A8C0\n", "line 2"},
        // A destination that is not hex.
        BadRoutesCase{"not_hex",
                      "Iface\tDestination\neth0\tZZ000000\t0101A8C0\t0003\t0\t0\t0\t00000000\n",
                      "malformed column"}),
    [](const auto& info) { return info.param.name; });

TEST(ParseIpv4RoutesTest, HeaderOnlyIsNoRoutes) {
  absl::StatusOr<std::vector<Ipv4Route>> routes = ParseIpv4Routes(
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n");
  ASSERT_TRUE(routes.ok());
  EXPECT_THAT(*routes, IsEmpty());
}

// /proc/net/ipv6_route of a server with a global prefix and a router advertisement default.
constexpr std::string_view kServerIpv6Routes =
    "20010db8000a00140000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eno1\n"
    "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000002 00000000 00000001     eno1\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "fe800000000000000000000000000001 00000400 00000002 00000000 00450003     eno1\n"
    "00000000000000000000000000000001 80 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n"
    "20010db8000a00140000000000000015 80 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000000 00000003 00000000 80200001     eno1\n"
    "ff000000000000000000000000000000 08 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000003 00000000 00000001     eno1\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";

TEST(ParseIpv6RoutesTest, ParsesRows) {
  absl::StatusOr<std::vector<Ipv6Route>> routes = ParseIpv6Routes(kServerIpv6Routes);
  ASSERT_TRUE(routes.ok()) << routes.status();
  ASSERT_EQ(routes->size(), 7u);
  EXPECT_EQ(FormatIpv6((*routes)[0].destination), "2001:db8:a:14::");
  EXPECT_EQ((*routes)[0].prefix_length, 64u);
  EXPECT_EQ((*routes)[0].metric, 256u);
  EXPECT_EQ(FormatIpv6((*routes)[2].next_hop), "fe80::1");
  EXPECT_EQ((*routes)[2].metric, 1024u);
  EXPECT_EQ((*routes)[3].interface, "lo");
}

TEST(ParseIpv6RoutesTest, EmptyAndMalformed) {
  // IPv6 without any route (or the file of a kernel with IPv6 off, read as empty).
  absl::StatusOr<std::vector<Ipv6Route>> empty = ParseIpv6Routes("");
  ASSERT_TRUE(empty.ok());
  EXPECT_THAT(*empty, IsEmpty());
  // A row cut short.
  EXPECT_EQ(ParseIpv6Routes("fe800000000000000000000000000000 40\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  // A destination of 31 digits.
  EXPECT_EQ(ParseIpv6Routes("fe80000000000000000000000000000 40 00000000000000000000000000000000 "
                            "00 00000000000000000000000000000000 00000100 00000001 00000000 "
                            "00000001 eth0\n")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseIfInet6Test, ParsesAddressesWithPrefixLength) {
  absl::StatusOr<std::vector<InterfaceAddress>> addresses = ParseIfInet6(
      "fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n"
      "00000000000000000000000000000001 01 80 10 80       lo\n"
      "fd000000000000000000000000000002 04 40 00 82     eth0\n");
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  ASSERT_EQ(addresses->size(), 3u);
  EXPECT_EQ((*addresses)[0].Cidr(), "fe80::fc:ff:fe00:1/64");
  EXPECT_EQ((*addresses)[0].interface, "eth0");
  EXPECT_EQ((*addresses)[1].Cidr(), "::1/128");
  EXPECT_EQ((*addresses)[1].interface, "lo");
  EXPECT_EQ((*addresses)[2].Cidr(), "fd00::2/64");
}

TEST(ParseIfInet6Test, EmptyAndMalformed) {
  // IPv6 disabled: the kernel has no addresses to list.
  ASSERT_TRUE(ParseIfInet6("").ok());
  EXPECT_THAT(*ParseIfInet6(""), IsEmpty());
  // A row without its interface name.
  absl::StatusOr<std::vector<InterfaceAddress>> cut =
      ParseIfInet6("fe8000000000000000fc00fffe000001 04 40 20 80\n");
  ASSERT_FALSE(cut.ok());
  EXPECT_THAT(std::string(cut.status().message()), HasSubstr("line 1"));
  // A prefix length above 128.
  EXPECT_FALSE(ParseIfInet6("fe8000000000000000fc00fffe000001 04 81 20 80 eth0\n").ok());
}

// fib_trie of a machine with one NIC (real capture from this project's test VM): the local
// table repeats the main one, 127.0.0.1 and 192.0.2.2 are "/32 host LOCAL".
constexpr std::string_view kVmFibTrie =
    "Main:\n"
    "  +-- 0.0.0.0/0 3 0 5\n"
    "     |-- 0.0.0.0\n"
    "        /0 universe UNICAST\n"
    "     +-- 127.0.0.0/8 2 0 2\n"
    "        +-- 127.0.0.0/31 1 0 0\n"
    "           |-- 127.0.0.0\n"
    "              /8 host LOCAL\n"
    "           |-- 127.0.0.1\n"
    "              /32 host LOCAL\n"
    "        |-- 127.255.255.255\n"
    "           /32 link BROADCAST\n"
    "     +-- 192.0.2.0/24 2 0 2\n"
    "        +-- 192.0.2.0/30 2 0 2\n"
    "           |-- 192.0.2.0\n"
    "              /24 link UNICAST\n"
    "           |-- 192.0.2.2\n"
    "              /32 host LOCAL\n"
    "        |-- 192.0.2.255\n"
    "           /32 link BROADCAST\n"
    "Local:\n"
    "  +-- 0.0.0.0/0 3 0 5\n"
    "     +-- 127.0.0.0/8 2 0 2\n"
    "        +-- 127.0.0.0/31 1 0 0\n"
    "           |-- 127.0.0.1\n"
    "              /32 host LOCAL\n"
    "     +-- 192.0.2.0/24 2 0 2\n"
    "           |-- 192.0.2.2\n"
    "              /32 host LOCAL\n";

TEST(ParseFibTrieTest, LocalAddressesOnceEach) {
  absl::StatusOr<std::vector<Ipv4Address>> addresses = ParseFibTrieLocalAddresses(kVmFibTrie);
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  std::vector<std::string> text;
  for (Ipv4Address a : *addresses) text.push_back(FormatIpv4(a));
  EXPECT_THAT(text, ElementsAre("127.0.0.1", "192.0.2.2"));
}

TEST(ParseFibTrieTest, SeveralPrefixesUnderOneLeaf) {
  // A leaf that is both a network and, further down its prefix list, a local address.
  absl::StatusOr<std::vector<Ipv4Address>> addresses = ParseFibTrieLocalAddresses(
      "Local:\n  +-- 10.0.0.0/8 2 0 2\n     |-- 10.0.0.0\n        /8 link UNICAST\n"
      "        /24 link UNICAST\n        /32 host LOCAL\n     |-- 10.0.0.255\n"
      "        /32 link BROADCAST\n");
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  ASSERT_EQ(addresses->size(), 1u);
  EXPECT_EQ(FormatIpv4((*addresses)[0]), "10.0.0.0");
}

TEST(ParseFibTrieTest, EmptyAndMalformed) {
  EXPECT_EQ(ParseFibTrieLocalAddresses("").status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::vector<Ipv4Address>> bad =
      ParseFibTrieLocalAddresses("Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 300.1.2.3\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("line 3"));
}

TEST(AssignIpv4AddressesTest, ConnectedRoutesAndLoopback) {
  absl::StatusOr<std::vector<Ipv4Route>> routes = ParseIpv4Routes(kLaptopRoutes);
  ASSERT_TRUE(routes.ok());
  // 192.168.1.23 (wifi), 172.17.0.1 (docker bridge), 127.0.0.1, and 10.9.9.9 on no route.
  const std::vector<Ipv4Address> local = {0xC0A80117, 0xAC110001, 0x7F000001, 0x0A090909};
  std::vector<InterfaceAddress> assigned = AssignIpv4Addresses(local, *routes);
  ASSERT_EQ(assigned.size(), 4u);
  EXPECT_EQ(assigned[0].interface, "wlp0s20f3");
  EXPECT_EQ(assigned[0].Cidr(), "192.168.1.23/24");
  EXPECT_EQ(assigned[1].interface, "docker0");
  EXPECT_EQ(assigned[1].Cidr(), "172.17.0.1/16");
  EXPECT_EQ(assigned[2].interface, "lo");
  EXPECT_EQ(assigned[2].Cidr(), "127.0.0.1/8");
  EXPECT_EQ(assigned[3].interface, "");
  EXPECT_EQ(assigned[3].Cidr(), "10.9.9.9/32");
}

TEST(AssignIpv4AddressesTest, MostSpecificRouteWins) {
  // 10.20.0.0/16 via eno2 on-link and 10.20.30.0/24 on eno1: 10.20.30.5 is eno1's.
  std::vector<Ipv4Route> routes = {
      {"eno2", 0x0A140000, 0, 0xFFFF0000, kRtfUp, 0},
      {"eno1", 0x0A141E00, 0, 0xFFFFFF00, kRtfUp, 0},
      // An on-link default (PPP) must not claim every address.
      {"ppp0", 0, 0, 0, kRtfUp, 0},
  };
  std::vector<InterfaceAddress> assigned = AssignIpv4Addresses({0x0A141E05}, routes);
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_EQ(assigned[0].Cidr(), "10.20.30.5/24");
  EXPECT_EQ(assigned[0].interface, "eno1");
}

TEST(DefaultGatewaysTest, Ipv4ByMetricThenIpv6Once) {
  std::vector<Ipv4Route> v4 = {
      {"wlan0", 0, 0xC0A80101, 0, kRtfUp | kRtfGateway, 600},
      {"eth0", 0, 0x0A000001, 0, kRtfUp | kRtfGateway, 100},
      {"eth0", 0x0A000000, 0, 0xFF000000, kRtfUp, 100},                 // not a default
      {"wlan0", 0, 0xC0A80101, 0, kRtfUp | kRtfGateway, 700},           // a duplicate
      {"eth1", 0, 0x0A0000FE, 0, kRtfUp | kRtfGateway | kRtfReject, 1}  // unreachable
  };
  absl::StatusOr<std::vector<Ipv6Route>> v6 = ParseIpv6Routes(kServerIpv6Routes);
  ASSERT_TRUE(v6.ok());
  EXPECT_THAT(DefaultGateways(v4, *v6), ElementsAre("10.0.0.1", "192.168.1.1", "fe80::1"));
}

TEST(ReportedRoutesTest, DropsLocalMulticastRejectAndLoopback) {
  absl::StatusOr<std::vector<Ipv4Route>> v4 = ParseIpv4Routes(kLaptopRoutes);
  absl::StatusOr<std::vector<Ipv6Route>> v6 = ParseIpv6Routes(kServerIpv6Routes);
  ASSERT_TRUE(v4.ok() && v6.ok());
  std::vector<medic::v1::Route> routes = ReportedRoutes(*v4, *v6);
  std::vector<std::string> text;
  for (const medic::v1::Route& r : routes) {
    text.push_back(r.destination() + " via " + r.gateway() + " dev " + r.interface() + " metric " +
                   std::to_string(r.metric()));
  }
  EXPECT_THAT(text, ElementsAre("0.0.0.0/0 via 192.168.1.1 dev wlp0s20f3 metric 600",
                                "172.17.0.0/16 via  dev docker0 metric 0",
                                "192.168.1.0/24 via  dev wlp0s20f3 metric 600",
                                "169.254.0.0/16 via  dev wlp0s20f3 metric 1000",
                                "2001:db8:a:14::/64 via  dev eno1 metric 256",
                                "fe80::/64 via  dev eno1 metric 256",
                                "::/0 via fe80::1 dev eno1 metric 1024"));
}

struct ResolvCase {
  std::string name;
  std::string text;
  bool ok;
  std::vector<std::string> nameservers;
  std::vector<std::string> search;
};

class ResolvConfTest : public ::testing::TestWithParam<ResolvCase> {};

TEST_P(ResolvConfTest, Parses) {
  const ResolvCase& c = GetParam();
  absl::StatusOr<ResolvConf> conf = ParseResolvConf(c.text);
  if (!c.ok) {
    ASSERT_FALSE(conf.ok());
    EXPECT_EQ(conf.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(conf.status().message()), HasSubstr("nameserver"));
    return;
  }
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_EQ(conf->nameservers, c.nameservers);
  EXPECT_EQ(conf->search_domains, c.search);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, ResolvConfTest,
    ::testing::Values(
        // systemd-resolved's stub file: comments, options ignored.
        ResolvCase{
            "systemd_stub",
            "# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\n"
            "# Do not edit.\n\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n",
            true,
            {"127.0.0.53"},
            {"lan"}},
        // Two servers, IPv6 with a zone; ";" comments; a trailing comment on a line.
        ResolvCase{"servers_and_comments",
                   "; generated by NetworkManager\nnameserver 10.20.0.53\n"
                   "nameserver fe80::1%eno1 # the router\n#nameserver 8.8.8.8\n"
                   "search corp.example.com example.com\n",
                   true,
                   {"10.20.0.53", "fe80::1%eno1"},
                   {"corp.example.com", "example.com"}},
        // "domain" and "search": the last one wins, as in glibc.
        ResolvCase{"last_search_wins",
                   "domain old.example.com\nsearch a.example.com b.example.com\n"
                   "domain branch.example.com\nnameserver 10.0.0.53\n",
                   true,
                   {"10.0.0.53"},
                   {"branch.example.com"}},
        // Tabs between keyword and value.
        ResolvCase{"tabs",
                   "nameserver\t192.0.2.53\nsearch\tlab.example\n",
                   true,
                   {"192.0.2.53"},
                   {"lab.example"}},
        // An empty file: no servers (the resolver falls back to localhost).
        ResolvCase{"empty", "", true, {}, {}},
        // A nameserver line without its address.
        ResolvCase{
            "nameserver_without_address", "nameserver 10.0.0.53\nnameserver\n", false, {}, {}}),
    [](const auto& info) { return info.param.name; });

constexpr std::string_view kNetDevHeader =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n";

TEST(ParseNetDevTest, TakesBytesErrorsAndDropsOfEveryRow) {
  const std::string text = std::string(kNetDevHeader) +
                           "    lo: 4725119   38358    0    0    0     0          0         0  "
                           "4725119   38358    0    0    0     0       0          0\n"
                           "  eno2: 5512330012334 1 17 233 4 5 6 7 9912334012331 8 3 2 9 10 11 12\n"
                           // A name of 15 characters touches its first number.
                           "veth1a2b3c4d5e6:123 0 0 0 0 0 0 0 456 0 0 0 0 0 0 0\n";
  absl::StatusOr<std::vector<NetDevCounters>> devices = ParseNetDev(text);
  ASSERT_TRUE(devices.ok()) << devices.status();
  ASSERT_EQ(devices->size(), 3u);
  EXPECT_EQ((*devices)[0].interface, "lo");
  EXPECT_EQ((*devices)[0].rx_bytes, 4725119u);
  EXPECT_EQ((*devices)[0].tx_bytes, 4725119u);
  const NetDevCounters& eno2 = (*devices)[1];
  EXPECT_EQ(eno2.interface, "eno2");
  EXPECT_EQ(eno2.rx_bytes, 5512330012334u);
  EXPECT_EQ(eno2.rx_errors, 17u);
  EXPECT_EQ(eno2.rx_dropped_and_missed, 233u);
  EXPECT_EQ(eno2.tx_bytes, 9912334012331u);
  EXPECT_EQ(eno2.tx_errors, 3u);
  EXPECT_EQ(eno2.tx_dropped, 2u);
  EXPECT_EQ((*devices)[2].interface, "veth1a2b3c4d5e6");
  EXPECT_EQ((*devices)[2].rx_bytes, 123u);
  EXPECT_EQ((*devices)[2].tx_bytes, 456u);
}

TEST(ParseNetDevTest, HeaderOnlyIsNoDevices) {
  absl::StatusOr<std::vector<NetDevCounters>> devices = ParseNetDev(kNetDevHeader);
  ASSERT_TRUE(devices.ok()) << devices.status();
  EXPECT_THAT(*devices, IsEmpty());
}

struct BadNetDevCase {
  std::string name;
  std::string text;
  std::string error;
};

class ParseNetDevErrorTest : public ::testing::TestWithParam<BadNetDevCase> {};

TEST_P(ParseNetDevErrorTest, Rejects) {
  absl::StatusOr<std::vector<NetDevCounters>> devices = ParseNetDev(GetParam().text);
  ASSERT_FALSE(devices.ok());
  EXPECT_EQ(devices.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(devices.status().message()), HasSubstr(GetParam().error));
}

INSTANTIATE_TEST_SUITE_P(
    Rows, ParseNetDevErrorTest,
    ::testing::Values(
        // An empty read: not even the header.
        BadNetDevCase{"empty", "", "no header"},
        // A row where the header should be.
        BadNetDevCase{"no_header", "lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", "line 1"},
        // A row without the colon after the name.
        BadNetDevCase{"no_colon", std::string(kNetDevHeader) + "lo 1 2 3\n", "line 3: no ':'"},
        // A row cut short.
        BadNetDevCase{"short_row", std::string(kNetDevHeader) + "lo: 1 2 3 4 5 6 7 8\n",
                      "fewer than 16 columns"},
        // A counter that is not a number.
        BadNetDevCase{"not_a_number",
                      std::string(kNetDevHeader) + "lo: 1 2 x 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
                      "malformed column"}),
    [](const auto& info) { return info.param.name; });

// /proc/net/wireless of a laptop on iwlwifi (real capture) and variants.
constexpr std::string_view kWirelessHeader =
    "Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE\n"
    " face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22\n";

struct WirelessCase {
  std::string name;
  std::string text;
  bool ok;
  std::vector<std::tuple<std::string, double, int, int>> rows = {};  // iface, quality, dBm, noise
  std::string error = "";
};

class ParseWirelessTest : public ::testing::TestWithParam<WirelessCase> {};

TEST_P(ParseWirelessTest, Parses) {
  const WirelessCase& c = GetParam();
  absl::StatusOr<std::vector<WirelessRow>> rows = ParseWireless(c.text);
  if (!c.ok) {
    ASSERT_FALSE(rows.ok());
    EXPECT_THAT(std::string(rows.status().message()), HasSubstr(c.error));
    return;
  }
  ASSERT_TRUE(rows.ok()) << rows.status();
  std::vector<std::tuple<std::string, double, int, int>> got;
  for (const WirelessRow& r : *rows)
    got.emplace_back(r.interface, r.quality, r.signal_dbm, r.noise_dbm);
  EXPECT_EQ(got, c.rows);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, ParseWirelessTest,
    ::testing::Values(
        // iwlwifi: signed dBm with the "updated" dot, noise not reported (-256).
        WirelessCase{"iwlwifi",
                     std::string(kWirelessHeader) +
                         "wlp0s20f3: 0000   54.  -56.  -256        0      0      0      "
                         "0     12        0\n",
                     true,
                     {{"wlp0s20f3", 54, -56, 0}}},
        // An old driver printing dBm + 256 and a real noise floor.
        WirelessCase{
            "unsigned_dbm",
            std::string(kWirelessHeader) + "  wlan0: 0000   30.  176.  161.  0 0 0 0 0 0\n",
            true,
            {{"wlan0", 30, -80, -95}}},
        // No associated wireless device: only the header.
        WirelessCase{"header_only", std::string(kWirelessHeader), true, {}},
        // A row cut short.
        WirelessCase{"short_row",
                     std::string(kWirelessHeader) + "wlan0: 0000 54.\n",
                     false,
                     {},
                     "line 3: fewer than 5 columns"},
        // A level that is not a number.
        WirelessCase{"not_a_number",
                     std::string(kWirelessHeader) + "wlan0: 0000 54. abc -256\n",
                     false,
                     {},
                     "malformed column"},
        // A level no int holds (found by fuzzing: converting it was undefined behaviour).
        WirelessCase{"level_out_of_range",
                     std::string(kWirelessHeader) + "wlan0: 0000 54. 1e300 -256\n",
                     false,
                     {},
                     "line 3: signal or noise level out of range"}),
    [](const auto& info) { return info.param.name; });

struct ArpCase {
  std::string name;
  std::string text;
  bool ok;
  std::vector<std::tuple<std::string, bool, std::string>> entries = {};  // ip, complete, dev
  std::string error = "";
};

class ParseArpTest : public ::testing::TestWithParam<ArpCase> {};

TEST_P(ParseArpTest, Parses) {
  const ArpCase& c = GetParam();
  absl::StatusOr<std::vector<ArpEntry>> entries = ParseArp(c.text);
  if (!c.ok) {
    ASSERT_FALSE(entries.ok());
    EXPECT_THAT(std::string(entries.status().message()), HasSubstr(c.error));
    return;
  }
  ASSERT_TRUE(entries.ok()) << entries.status();
  std::vector<std::tuple<std::string, bool, std::string>> got;
  for (const ArpEntry& e : *entries) got.emplace_back(e.address, e.complete(), e.interface);
  EXPECT_EQ(got, c.entries);
}

constexpr std::string_view kArpHeader =
    "IP address       HW type     Flags       HW address            Mask     Device\n";

INSTANTIATE_TEST_SUITE_P(
    Rows, ParseArpTest,
    ::testing::Values(
        // A resolved gateway and one that never answered (flags 0x0, zero MAC).
        ArpCase{
            "complete_and_incomplete",
            std::string(kArpHeader) +
                "192.168.1.1      0x1         0x2         a4:91:b1:00:00:01     *        wlan0\n"
                "10.77.0.1        0x1         0x0         00:00:00:00:00:00     *        eth0\n",
            true,
            {{"192.168.1.1", true, "wlan0"}, {"10.77.0.1", false, "eth0"}}},
        // Header only: an empty table.
        ArpCase{"empty", std::string(kArpHeader), true, {}},
        // Flags without 0x.
        ArpCase{"bad_flags",
                std::string(kArpHeader) + "10.0.0.1 0x1 2 00:00:00:00:00:00 * eth0\n",
                false,
                {},
                "line 2: malformed column"},
        // A row cut short.
        ArpCase{"short_row",
                std::string(kArpHeader) + "10.0.0.1 0x1 0x2\n",
                false,
                {},
                "fewer than 6 columns"}),
    [](const auto& info) { return info.param.name; });

TEST(IsResolvedStubTest, OnlyTheStubCounts) {
  EXPECT_TRUE(IsResolvedStub(ResolvConf{{"127.0.0.53"}, {}}));
  EXPECT_TRUE(IsResolvedStub(ResolvConf{{"127.0.0.53", "127.0.0.54"}, {}}));
  EXPECT_FALSE(IsResolvedStub(ResolvConf{{"127.0.0.53", "10.0.0.53"}, {}}));
  EXPECT_FALSE(IsResolvedStub(ResolvConf{{}, {}}));
}

// dhclient's leases file: two leases for eth0 (the later one is current) and one for wlan0.
constexpr std::string_view kDhclientLeases = R"(default-duid "\000\001\000\001";
lease {
  interface "eth0";
  fixed-address 10.1.0.23;
  option subnet-mask 255.255.255.0;
  option dhcp-server-identifier 10.1.0.1;
  renew 2 2026/11/24 09:00:00;
  expire 2 2026/11/24 10:11:12;
}
lease {
  interface "eth0";
  fixed-address 10.1.0.24;
  option dhcp-server-identifier 10.1.0.1;
  expire epoch 1795000000; # Thu Nov 19 ...
}
lease {
  interface "wlan0";
  fixed-address 192.168.1.50;
  expire never;
}
)";

TEST(ParseDhclientLeasesTest, ReadsEveryLeaseInOrder) {
  absl::StatusOr<std::vector<DhclientLease>> leases = ParseDhclientLeases(kDhclientLeases);
  ASSERT_TRUE(leases.ok()) << leases.status();
  ASSERT_EQ(leases->size(), 3u);
  EXPECT_EQ((*leases)[0].interface, "eth0");
  EXPECT_EQ((*leases)[0].address, "10.1.0.23");
  EXPECT_EQ((*leases)[0].server, "10.1.0.1");
  EXPECT_EQ((*leases)[0].expires,
            absl::FromCivil(absl::CivilSecond(2026, 11, 24, 10, 11, 12), absl::UTCTimeZone()));
  EXPECT_EQ((*leases)[1].expires, absl::FromUnixSeconds(1795000000));
  EXPECT_EQ((*leases)[2].interface, "wlan0");
  EXPECT_EQ((*leases)[2].expires, absl::InfiniteFuture());
}

TEST(ParseDhclientLeasesTest, RejectsAnUnclosedBlockAndABadDate) {
  absl::StatusOr<std::vector<DhclientLease>> open =
      ParseDhclientLeases("lease {\n  interface \"eth0\";\n");
  ASSERT_FALSE(open.ok());
  EXPECT_THAT(std::string(open.status().message()), HasSubstr("line 1: lease block never closed"));
  absl::StatusOr<std::vector<DhclientLease>> date =
      ParseDhclientLeases("lease {\n  expire 2 2026-11-24 10:11:12;\n}\n");
  ASSERT_FALSE(date.ok());
  EXPECT_THAT(std::string(date.status().message()), HasSubstr("line 2: malformed date"));
}

}  // namespace
}  // namespace medic::agent
