#include "agent/probes/network/network_checks.h"

#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace medic::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct TargetCase {
  std::string name;
  std::string text;
  bool ok;
  std::string host = "";
  uint16_t port = 0;
  bool http = false;
  std::string path = "/";
  std::string error = "";
};

class ParseTargetTest : public ::testing::TestWithParam<TargetCase> {};

TEST_P(ParseTargetTest, Parses) {
  const TargetCase& c = GetParam();
  absl::StatusOr<TargetSpec> spec = ParseTarget(c.text);
  if (!c.ok) {
    ASSERT_FALSE(spec.ok());
    EXPECT_THAT(std::string(spec.status().message()), HasSubstr(c.error));
    return;
  }
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->host, c.host);
  EXPECT_EQ(spec->port, c.port);
  EXPECT_EQ(spec->http, c.http);
  EXPECT_EQ(spec->path, c.path);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, ParseTargetTest,
    ::testing::Values(
        // A file server by name.
        TargetCase{"host_port", "files.corp:445", true, "files.corp", 445},
        // An IPv6 literal in brackets.
        TargetCase{"ipv6", "[2001:db8::5]:8080", true, "2001:db8::5", 8080},
        // HTTP without a port or path: 80 and "/".
        TargetCase{"http_default", "http://intranet.corp", true, "intranet.corp", 80, true, "/"},
        // HTTP with both.
        TargetCase{"http_port_path", "http://10.0.0.5:8080/health?x=1", true, "10.0.0.5", 8080,
                   true, "/health?x=1"},
        // No port.
        TargetCase{"no_port", "files.corp", false, "", 0, false, "/", "HOST:PORT"},
        // Port out of range.
        TargetCase{"port_range", "files.corp:70000", false, "", 0, false, "/", "1 to 65535"},
        // An IPv6 address without brackets is ambiguous.
        TargetCase{"bare_ipv6", "2001:db8::5:443", false, "", 0, false, "/", "in brackets"},
        // HTTPS is not checked beyond TCP: say so and how.
        TargetCase{"https", "https://portal.corp/x", false, "", 0, false, "/",
                   "use portal.corp:443"}),
    [](const auto& info) { return info.param.name; });

medic::v1::ConnectivityStatus Status(const std::string& text) {
  medic::v1::ConnectivityStatus status;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &status)) << text;
  return status;
}

std::vector<std::tuple<std::string, std::string, medic::v1::Severity>> Codes(
    const std::vector<medic::v1::Finding>& findings) {
  std::vector<std::tuple<std::string, std::string, medic::v1::Severity>> out;
  for (const auto& f : findings) out.emplace_back(f.code(), f.resource(), f.severity());
  return out;
}

struct JudgeCase {
  std::string name;
  std::string status;  // ConnectivityStatus as text
  std::vector<std::tuple<std::string, std::string, medic::v1::Severity>> findings;
};

class JudgeConnectivityTest : public ::testing::TestWithParam<JudgeCase> {};

TEST_P(JudgeConnectivityTest, Judges) {
  NetworkSettings settings;  // defaults: loss 20%, latency 100 ms, DNS slow 500 ms
  EXPECT_EQ(Codes(JudgeConnectivity(Status(GetParam().status), settings)), GetParam().findings);
}

constexpr auto kCritical = medic::v1::SEVERITY_CRITICAL;
constexpr auto kWarning = medic::v1::SEVERITY_WARNING;

INSTANTIATE_TEST_SUITE_P(
    Rows, JudgeConnectivityTest,
    ::testing::Values(
        // All well.
        JudgeCase{"healthy",
                  "gateways { gateway: '10.0.0.1' method: GATEWAY_METHOD_ICMP_DATAGRAM sent: 5 "
                  "received: 5 rtt_avg_ms: 0.5 reachable: true } "
                  "dns { server: '10.0.0.53' name: 'a.corp' outcome: DNS_OUTCOME_ANSWERED "
                  "answer_ms: 3 } "
                  "targets { target: '10.0.0.5:445' endpoint: '10.0.0.5:445' connected: true }",
                  {}},
        // No echo back.
        JudgeCase{"gateway_silent",
                  "gateways { gateway: '10.0.0.1' method: GATEWAY_METHOD_ICMP_DATAGRAM sent: 5 "
                  "received: 0 loss_pct: 100 }",
                  {{"net.gateway_unreachable", "10.0.0.1", kCritical}}},
        // Ping not allowed; the ARP table has no complete entry.
        JudgeCase{"gateway_neighbour_incomplete",
                  "gateways { gateway: '10.0.0.1' method: GATEWAY_METHOD_NEIGHBOUR "
                  "neighbour_state: 'incomplete' }",
                  {{"net.gateway_unreachable", "10.0.0.1", kCritical}}},
        // 2 of 5 lost (40%) and slow: both judged on the gateway.
        JudgeCase{"loss_and_latency",
                  "gateways { gateway: '10.0.0.1' method: GATEWAY_METHOD_ICMP_RAW sent: 5 "
                  "received: 3 loss_pct: 40 rtt_avg_ms: 250 reachable: true }",
                  {{"net.packet_loss", "10.0.0.1", kWarning},
                   {"net.latency_high", "10.0.0.1", kWarning}}},
        // 1 of 10 lost (10%): under the 20% mark.
        JudgeCase{"loss_under_mark",
                  "gateways { gateway: '10.0.0.1' method: GATEWAY_METHOD_ICMP_DATAGRAM sent: 10 "
                  "received: 9 loss_pct: 10 rtt_avg_ms: 1 reachable: true }",
                  {}},
        // Server A times out, B answers: A alone is named.
        JudgeCase{"one_server_down",
                  "dns { server: '10.0.0.53' name: 'a.corp' outcome: DNS_OUTCOME_TIMEOUT "
                  "answer_ms: 2000 } "
                  "dns { server: '10.0.0.54' name: 'a.corp' outcome: DNS_OUTCOME_ANSWERED "
                  "answer_ms: 3 }",
                  {{"net.dns_failure", "10.0.0.53", kCritical}}},
        // One of two names unknown to the server: a warning, not critical.
        JudgeCase{"one_name_nxdomain",
                  "dns { server: '10.0.0.53' name: 'a.corp' outcome: DNS_OUTCOME_ANSWERED "
                  "answer_ms: 3 } "
                  "dns { server: '10.0.0.53' name: 'b.corp' outcome: DNS_OUTCOME_NXDOMAIN "
                  "rcode: 'NXDOMAIN' answer_ms: 3 }",
                  {{"net.dns_failure", "10.0.0.53", kWarning}}},
        // Answered, but in 800 ms.
        JudgeCase{"slow_server",
                  "dns { server: '10.0.0.53' name: 'a.corp' outcome: DNS_OUTCOME_ANSWERED "
                  "answer_ms: 800 }",
                  {{"net.dns_slow", "10.0.0.53", kWarning}}},
        // A refused connection and an HTTP 503.
        JudgeCase{"targets",
                  "targets { target: '10.0.0.5:445' endpoint: '10.0.0.5:445' error: "
                  "'connection refused' } "
                  "targets { target: 'http://intranet/health' endpoint: 'intranet:80' connected: "
                  "true http_status: 503 } "
                  "targets { target: 'http://ok/' endpoint: 'ok:80' connected: true "
                  "http_status: 200 }",
                  {{"net.target_unreachable", "10.0.0.5:445", kCritical},
                   {"net.target_unreachable", "intranet:80", kCritical}}}),
    [](const auto& info) { return info.param.name; });

TEST(JudgeConnectivityTest, DnsFailureCarriesItsEvidence) {
  std::vector<medic::v1::Finding> findings = JudgeConnectivity(
      Status("dns { server: '10.0.0.53' name: 'collector.corp' outcome: DNS_OUTCOME_TIMEOUT "
             "answer_ms: 2000.2 }"),
      NetworkSettings());
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].summary(), "DNS server 10.0.0.53 does not answer (no reply in 2000.2 ms)");
  EXPECT_EQ(findings[0].evidence().at("query"), "collector.corp A");
  EXPECT_EQ(findings[0].evidence().at("result"), "timeout");
  EXPECT_EQ(findings[0].evidence().at("waited"), "2000.2 ms");
}

TEST(JudgeConnectivityTest, TruncatedDnsAnswerIsSaidToBeTruncatedNotUnreadable) {
  std::vector<medic::v1::Finding> findings = JudgeConnectivity(
      Status("dns { server: '10.0.0.53' name: 'collector.corp' outcome: DNS_OUTCOME_BAD_ANSWER "
             "rcode: 'NOERROR' answer_ms: 3.1 "
             "error: 'answer truncated (TC): the server wants TCP' }"),
      NetworkSettings());
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].summary(),
            "DNS server 10.0.0.53 sends only part of its answer for collector.corp (truncated, "
            "too large for UDP; it wants TCP, which this check does not use)");
  EXPECT_EQ(findings[0].evidence().at("result"), "bad_answer");
  EXPECT_EQ(findings[0].evidence().at("error"), "answer truncated (TC): the server wants TCP");
}

TEST(JudgeConnectivityTest, StandingLossAndSlownessClearBelowALowerMark) {
  // 15% loss (under the 20% mark, over half of it) and 90 ms (under 100, over 80).
  const medic::v1::ConnectivityStatus status = Status(
      "gateways { gateway: '10.0.0.1' method: GATEWAY_METHOD_ICMP_DATAGRAM sent: 20 received: 17 "
      "loss_pct: 15 rtt_avg_ms: 90 reachable: true }");
  EXPECT_THAT(JudgeConnectivity(status, NetworkSettings()), IsEmpty());
  std::vector<medic::v1::Finding> standing(2);
  standing[0].set_code("net.packet_loss");
  standing[0].set_resource("10.0.0.1");
  standing[1].set_code("net.latency_high");
  standing[1].set_resource("10.0.0.1");
  EXPECT_EQ(
      Codes(JudgeConnectivity(status, NetworkSettings(), standing)),
      (std::vector<std::tuple<std::string, std::string, medic::v1::Severity>>{
          {"net.packet_loss", "10.0.0.1", kWarning}, {"net.latency_high", "10.0.0.1", kWarning}}));
}

medic::v1::NetworkInfo Info(const std::string& text) {
  medic::v1::NetworkInfo info;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &info)) << text;
  return info;
}

class JudgeInterfacesTest : public ::testing::TestWithParam<JudgeCase> {};

TEST_P(JudgeInterfacesTest, Judges) {
  NetworkSettings settings;  // defaults: Wi-Fi -75 dBm, 10 errors a minute
  EXPECT_EQ(Codes(JudgeInterfaces(Info(GetParam().status), settings)), GetParam().findings);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, JudgeInterfacesTest,
    ::testing::Values(
        // A laptop on Ethernet with an address; lo and a docker bridge do not count.
        JudgeCase{"healthy",
                  "interfaces { name: 'lo' loopback: true up: true carrier: true } "
                  "interfaces { name: 'docker0' up: true carrier: false } "
                  "interfaces { name: 'eth0' physical: true up: true carrier: true addresses: "
                  "'10.1.0.23/24' errors_per_min: 0 }",
                  {}},
        // The cable is out: the only watched link is down, so critical.
        JudgeCase{"cable_out",
                  "interfaces { name: 'eth0' physical: true up: true carrier: false }",
                  {{"net.link_down", "eth0", kCritical}}},
        // A laptop on Wi-Fi with its Ethernet port unused: nothing to report.
        JudgeCase{"cable_out_wifi_up",
                  "interfaces { name: 'eth0' physical: true up: true carrier: false } "
                  "interfaces { name: 'wlan0' wireless: true physical: true up: true carrier: true "
                  "addresses: '192.168.1.5/24' }",
                  {}},
        // Switched off on purpose (admin down) and not in a watch list: not judged.
        JudgeCase{"admin_down_unwatched",
                  "interfaces { name: 'eth1' physical: true up: false carrier: false } "
                  "interfaces { name: 'eth0' physical: true up: true carrier: true addresses: "
                  "'10.1.0.23/24' }",
                  {}},
        // Link but only a link-local address: DHCP failed.
        JudgeCase{"no_address",
                  "interfaces { name: 'eth0' physical: true up: true carrier: true addresses: "
                  "'fe80::1/64' }",
                  {{"net.no_address", "eth0", kWarning}}},
        // 40 errors a minute.
        JudgeCase{"errors",
                  "interfaces { name: 'eth0' physical: true up: true carrier: true addresses: "
                  "'10.1.0.23/24' errors_per_min: 40 }",
                  {{"net.interface_errors", "eth0", kWarning}}},
        // -82 dBm.
        JudgeCase{"wifi_weak",
                  "interfaces { name: 'wlan0' wireless: true physical: true up: true carrier: "
                  "true addresses: '192.168.1.5/24' wifi { quality: 28 quality_max: 70 "
                  "signal_dbm: -82 } }",
                  {{"net.wifi_weak", "wlan0", kWarning}}}),
    [](const auto& info) { return info.param.name; });

TEST(JudgeInterfacesTest, WatchListJudgesEachListedInterface) {
  NetworkSettings settings;
  settings.watch_interfaces = {"veth0", "eth0", "eth1"};
  // A virtual interface switched off, and a cable out while another link is up: a warning each.
  EXPECT_EQ(Codes(JudgeInterfaces(Info("interfaces { name: 'veth0' up: false } "
                                       "interfaces { name: 'eth0' up: true carrier: false } "
                                       "interfaces { name: 'eth1' up: true carrier: true "
                                       "addresses: '10.0.0.2/24' }"),
                                  settings)),
            (std::vector<std::tuple<std::string, std::string, medic::v1::Severity>>{
                {"net.link_down", "veth0", kWarning}, {"net.link_down", "eth0", kWarning}}));
}

TEST(NetworkSettingsTest, DefaultTestNamesComeFromTheCollectorAndTheIntranetName) {
  medic::v1::AgentConfig config;
  config.set_collector("medic.corp:7070");
  config.mutable_network()->set_intranet_name("intranet.corp");
  EXPECT_THAT(NetworkSettingsFrom(config).dns_test_names,
              ElementsAre("medic.corp", "intranet.corp"));
  config.set_collector("10.0.0.9:7070");  // an address is nothing to resolve
  config.mutable_network()->clear_intranet_name();
  EXPECT_THAT(NetworkSettingsFrom(config).dns_test_names, ElementsAre("."));
}

}  // namespace
}  // namespace medic::agent
