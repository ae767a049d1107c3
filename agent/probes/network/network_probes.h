#pragma once

// The network probe: interfaces, addresses, routes and resolver configuration.

#include <memory>
#include <string>
#include <vector>

#include "agent/probes/probe.h"

namespace medic::agent {

// "network": NetworkInfo from
//  - /sys/class/net/*: one interface per directory with a `type` file (operstate, flags for
//    administratively up, carrier, mtu, address, speed, duplex; type 772 is loopback, a
//    `wireless` or `phy80211` entry means wireless). Attributes a device does not have (reading
//    `speed` of a virtual NIC fails with EINVAL) stay unset. The link state (operstate, flags,
//    carrier) is read on every collection; the rest, which changes rarely, when the device is
//    new, when its link state changed, and at least every 5th collection;
//  - counters: bytes, errors and tx drops from /proc/net/dev, rx drops from statistics/rx_dropped
//    (read only when /proc/net/dev's drop column, rx_dropped + rx_missed_errors, is not 0); a
//    device /proc/net/dev does not list has all six from statistics/{rx,tx}_{bytes,errors,dropped};
//  - addresses: IPv4 from /proc/net/fib_trie mapped through /proc/net/route, IPv6 from
//    /proc/net/if_inet6 (absent when IPv6 is off);
//  - default gateways and routes from /proc/net/route and /proc/net/ipv6_route;
//  - DNS servers and search domains per ReadResolvers (network.resolv_conf, default
//    /etc/resolv.conf; systemd-resolved's uplinks behind its stub; network.dns_servers);
//  - carrier_changes (flaps) with the link state; `device` present means physical;
//  - Wi-Fi quality and signal from /proc/net/wireless (the SSID needs nl80211: not read);
//  - errors_per_min and drops_per_min (rx + tx) since the previous collection;
//  - DHCP leases of dhclient's files in /var/lib/dhcp, read with the identity.
// Addresses and routes are read on every collection and parsed again only when their text
// changed. Findings per JudgeInterfaces: net.link_down, net.no_address, net.interface_errors,
// net.wifi_weak.
// Fails when /sys/class/net cannot be listed, /proc/net/route or /proc/net/fib_trie cannot be
// read, any source read (/proc/net/dev too) cannot be parsed, and with DeadlineExceeded when
// ctx.deadline passes between interfaces. Observations per interface: net.rx_bytes, net.tx_bytes
// (bytes).
std::unique_ptr<Probe> NewNetworkProbe();

// "connectivity" (slow: it waits on other machines): ConnectivityStatus from active checks, all
// at once on one Boost.Asio io_context, each with its own timeout, the whole bounded by
// ctx.deadline (100 ms are kept to report):
//  - each IPv4 default gateway (/proc/net/route): network.gateway_probes ICMP echoes
//    gateway_interval apart, waiting gateway_timeout after the last; by an unprivileged ping
//    socket when net.ipv4.ping_group_range allows, else a raw socket (CAP_NET_RAW), else the
//    ARP table (/proc/net/arp) after a UDP datagram to the gateway;
//  - each DNS server (NetworkSettings / ReadResolvers) asked for each test name with its own
//    dns_timeout: rcode, answer time, timeout vs refused;
//  - each target: its host resolved through those servers when it is a name, a TCP connect
//    within connect_timeout, and for http:// targets a GET whose status line is read.
// Findings per JudgeConnectivity. Fails only when /proc/net/route or the resolver file cannot be
// read or parsed, or a target in config does not parse. Observations: net.gateway_rtt_ms,
// net.gateway_loss_pct (resource = gateway), dns.answer_ms (server), net.connect_ms (host:port).
std::unique_ptr<Probe> NewConnectivityProbe();

// Which of the connectivity checks to run: the probe runs the default (every gateway, every
// resolver asked for the test names, every configured target); a live diagnostic runs one part.
struct ConnectivityPlan {
  bool gateways = true;                    // each IPv4 default gateway
  std::vector<std::string> ping_hosts;     // IPv4 addresses, echoed like a gateway
  bool dns = true;                         // each resolver for the test names
  std::vector<std::string> dns_names;      // replaces network.dns_test_names when not empty
  bool targets = true;                     // network.targets
  std::vector<std::string> extra_targets;  // more targets, in network.targets' syntax
};

// Runs the checks of `plan` as the connectivity probe does (same report, observations and
// findings), within ctx.deadline. Fails as the probe does.
absl::StatusOr<ProbeOutput> RunConnectivityChecks(const ProbeContext& ctx,
                                                  const ConnectivityPlan& plan);

}  // namespace medic::agent
