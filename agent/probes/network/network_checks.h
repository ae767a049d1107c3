#pragma once

// The network checks' settings and judgements: pure functions of reports and config, so the
// findings are unit-tested without a network. Build everywhere.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/fs/file_system.h"
#include "medic/v1/config.pb.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

// NetworkConfig with every default filled in (see config.proto for each one).
struct NetworkSettings {
  std::vector<std::string> dns_test_names;  // never empty: "." (root NS) when nothing is set
  std::string resolv_conf = "/etc/resolv.conf";
  std::vector<std::string> dns_servers;  // from config; empty: read resolv_conf
  std::vector<std::string> targets;
  absl::Duration dns_timeout = absl::Seconds(2);
  absl::Duration connect_timeout = absl::Seconds(2);
  uint32_t gateway_probes = 5;
  absl::Duration gateway_interval = absl::Milliseconds(200);
  absl::Duration gateway_timeout = absl::Seconds(1);
  double packet_loss_pct = 20;
  absl::Duration latency_high = absl::Milliseconds(100);
  absl::Duration dns_slow = absl::Milliseconds(500);
  int wifi_weak_dbm = -75;
  double interface_errors_per_min = 10;
  std::vector<std::string> watch_interfaces;
};

// The settings of `config.network()`; the default test names are the host of
// `config.collector()` when it is a name (not an IP address) and `intranet_name`.
NetworkSettings NetworkSettingsFrom(const medic::v1::AgentConfig& config);

// The resolvers the machine uses and where that list came from.
struct Resolvers {
  std::vector<std::string> servers;
  std::vector<std::string> search_domains;
  std::string source;  // "config", the resolv.conf path, or systemd-resolved's uplink file
};

// settings.dns_servers when set; else `settings.resolv_conf` read through `fs`, and when that
// points only at systemd-resolved's stub, /run/systemd/resolve/resolv.conf (its uplinks) if it
// exists. A missing resolv.conf gives no servers; one that cannot be parsed is an error naming
// the file.
absl::StatusOr<Resolvers> ReadResolvers(const common::FileSystem& fs,
                                        const NetworkSettings& settings);

// A configured target: "HOST:PORT", "[V6]:PORT" or "http://HOST[:PORT][/PATH]".
struct TargetSpec {
  std::string host;
  uint16_t port = 0;
  bool http = false;
  std::string path = "/";  // for http

  std::string Endpoint() const;  // "host:port" ("[v6]:port")
};

// InvalidArgument saying what is wrong ("https://x: https targets are not supported; use
// x:443 for a connect check") for anything else.
absl::StatusOr<TargetSpec> ParseTarget(std::string_view text);

// Checks config.network() for values the agent cannot run with, naming the key.
absl::Status ValidateNetworkConfig(const medic::v1::NetworkConfig& config);

// The connectivity probe's findings:
//  - net.gateway_unreachable (critical, resource = gateway): no echo came back (or, checked by
//    the neighbour table, the gateway has no complete ARP entry);
//  - net.packet_loss (warning, resource = gateway): some came back, loss >= packet_loss_pct;
//  - net.latency_high (warning, resource = gateway): average RTT above latency_high;
//  - net.dns_failure (resource = server): any test name not answered NOERROR; critical when no
//    name was answered at all, warning when some were;
//  - net.dns_slow (warning, resource = server): every name answered but the slowest took
//    longer than dns_slow;
//  - net.target_unreachable (critical, resource = host:port): no connection, or an HTTP
//    status of 500 and up (or none at all).
// The marks have hysteresis, so a link near a mark does not raise and clear on alternate
// cycles: a standing (in `standing`) net.packet_loss clears only below half its mark, a
// standing net.latency_high or net.dns_slow only below 80% of its mark.
std::vector<medic::v1::Finding> JudgeConnectivity(
    const medic::v1::ConnectivityStatus& status, const NetworkSettings& settings,
    const std::vector<medic::v1::Finding>& standing = {});

// The network probe's findings, from its report:
//  - net.link_down (resource = interface): with watch_interfaces, each of them that is down or
//    has no carrier (critical when none has a link left, else warning); without, every
//    physical or wireless interface that is administratively up but has no carrier, only when
//    none of them has a link (the machine is off the network; critical);
//  - net.no_address (warning): a physical or wireless interface, up with carrier, with neither
//    an IPv4 address nor a global IPv6 one;
//  - net.interface_errors (warning): errors_per_min at or above interface_errors_per_min;
//  - net.wifi_weak (warning): a wireless link's signal below wifi_weak_dbm.
std::vector<medic::v1::Finding> JudgeInterfaces(const medic::v1::NetworkInfo& info,
                                                const NetworkSettings& settings);

}  // namespace medic::agent
