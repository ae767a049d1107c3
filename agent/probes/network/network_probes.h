#pragma once

// The network probe: interfaces, addresses, routes and resolver configuration.

#include <memory>

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
//  - DNS servers and search domains from /etc/resolv.conf (none when it does not exist).
// Addresses, routes and resolvers are read on every collection and parsed again only when
// their text changed.
// Fails when /sys/class/net cannot be listed, /proc/net/route or /proc/net/fib_trie cannot be
// read, any source read (/proc/net/dev too) cannot be parsed, and with DeadlineExceeded when
// ctx.deadline passes between interfaces. Observations per interface: net.rx_bytes, net.tx_bytes
// (bytes).
std::unique_ptr<Probe> NewNetworkProbe();

}  // namespace medic::agent
