// The connectivity probe on Linux: ICMP echo to the default gateways (ping socket, raw socket,
// or the ARP table), a DNS query per resolver and test name, TCP connects (and HTTP GETs) to the
// configured targets. Every check runs concurrently on one io_context owned by the collection.

#include <netinet/in.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>

#include "agent/probes/network/dns_message.h"
#include "agent/probes/network/network_checks.h"
#include "agent/probes/network/network_parse.h"
#include "agent/probes/network/network_probes.h"
#include "agent/probes/probe_util.h"
#include "agent/probes/text.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/generic/datagram_protocol.hpp"
#include "boost/asio/generic/raw_protocol.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/address.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ip/udp.hpp"
#include "boost/asio/read_until.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/streambuf.hpp"
#include "boost/asio/write.hpp"
#include "common/status/status_macros.h"
#include "fmt/format.h"

namespace medic::agent {
namespace {

namespace asio = boost::asio;
using Steady = std::chrono::steady_clock;
using boost::system::error_code;

constexpr std::string_view kRoute = "/proc/net/route";
constexpr std::string_view kIpv6Route = "/proc/net/ipv6_route";
constexpr std::string_view kArp = "/proc/net/arp";

// The collection stops waiting this long before its deadline, to report in time.
constexpr absl::Duration kReportMargin = absl::Milliseconds(100);

double MsSince(Steady::time_point start) {
  return std::chrono::duration<double, std::milli>(Steady::now() - start).count();
}

std::chrono::nanoseconds Chrono(absl::Duration d) { return absl::ToChronoNanoseconds(d); }

// errno words as a technician reads them: "connection refused", "network is unreachable".
std::string Words(const error_code& error) {
  std::string text = error.message();
  if (text.empty()) return "error";
  text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

// One query for one name to one DNS server, over UDP with its own timeout. The socket is
// connected, so a server host without a listener answers "port unreachable", which arrives as
// connection_refused on the receive: unreachable, not a timeout.
class DnsQuery {
 public:
  using Done = std::function<void(const medic::v1::DnsCheck&, const std::vector<std::string>&)>;

  DnsQuery(asio::io_context& io, std::string server, std::string name, uint16_t type,
           absl::Duration timeout, Done done)
      : socket_(io), timer_(io), timeout_(timeout), done_(std::move(done)) {
    check_.set_server(std::move(server));
    check_.set_name(std::move(name));
    type_ = type;
  }

  void Start(uint16_t id) {
    start_ = Steady::now();
    error_code error;
    const asio::ip::address address = asio::ip::make_address(check_.server(), error);
    if (error) return Finish(medic::v1::DNS_OUTCOME_UNREACHABLE, "not an IP address");
    absl::StatusOr<std::vector<uint8_t>> query = EncodeDnsQuery(id, check_.name(), type_);
    if (!query.ok())
      return Finish(medic::v1::DNS_OUTCOME_BAD_ANSWER, std::string(query.status().message()));
    query_ = *std::move(query);
    const asio::ip::udp::endpoint endpoint(address, 53);
    socket_.open(endpoint.protocol(), error);
    if (!error) socket_.connect(endpoint, error);
    if (error) return Finish(medic::v1::DNS_OUTCOME_UNREACHABLE, Words(error));
    timer_.expires_after(Chrono(timeout_));
    timer_.async_wait([this](const error_code& e) {
      if (e || finished_) return;
      Finish(medic::v1::DNS_OUTCOME_TIMEOUT, "");
    });
    socket_.async_send(asio::buffer(query_), [this](const error_code& e, size_t) {
      if (e && !finished_) Finish(medic::v1::DNS_OUTCOME_UNREACHABLE, Words(e));
    });
    Receive();
  }

  // Marks a query still waiting when the collection ran out of time.
  void Abandon() {
    if (!finished_) Finish(medic::v1::DNS_OUTCOME_TIMEOUT, "the probe's deadline came first");
  }
  bool finished() const { return finished_; }
  const medic::v1::DnsCheck& check() const { return check_; }

 private:
  void Receive() {
    socket_.async_receive(asio::buffer(buffer_), [this](const error_code& e, size_t size) {
      if (finished_) return;
      if (e == asio::error::operation_aborted) return;
      if (e) return Finish(medic::v1::DNS_OUTCOME_UNREACHABLE, Words(e));
      // The header first: a stray or late datagram (another id or question) must not end the
      // query, however malformed the rest of it is.
      absl::StatusOr<std::optional<DnsAnswer>> read = ReadDnsAnswerTo(query_, buffer_.data(), size);
      if (!read.ok()) {
        return Finish(medic::v1::DNS_OUTCOME_BAD_ANSWER, std::string(read.status().message()));
      }
      if (!read->has_value()) return Receive();  // not the answer to our query: keep waiting
      const DnsAnswer* answer = &**read;
      check_.set_rcode(DnsRcodeName(answer->rcode));
      addresses_ = answer->addresses;
      for (const std::string& a : answer->addresses) check_.add_addresses(a);
      switch (static_cast<DnsRcode>(answer->rcode)) {
        case DnsRcode::kNoError:
          return Finish(medic::v1::DNS_OUTCOME_ANSWERED, "");
        case DnsRcode::kNxDomain:
          return Finish(medic::v1::DNS_OUTCOME_NXDOMAIN, "");
        case DnsRcode::kServFail:
          return Finish(medic::v1::DNS_OUTCOME_SERVFAIL, "");
        case DnsRcode::kRefused:
          return Finish(medic::v1::DNS_OUTCOME_REFUSED, "");
        default:
          return Finish(medic::v1::DNS_OUTCOME_OTHER_RCODE, "");
      }
    });
  }

  void Finish(medic::v1::DnsOutcome outcome, std::string error) {
    finished_ = true;
    check_.set_outcome(outcome);
    check_.set_answer_ms(MsSince(start_));
    if (!error.empty()) check_.set_error(std::move(error));
    error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
    if (done_) done_(check_, addresses_);
  }

  asio::ip::udp::socket socket_;
  asio::steady_timer timer_;
  absl::Duration timeout_;
  Done done_;
  medic::v1::DnsCheck check_;
  uint16_t type_ = kDnsTypeA;
  std::vector<uint8_t> query_;
  std::array<uint8_t, 1500> buffer_{};
  std::vector<std::string> addresses_;
  Steady::time_point start_;
  bool finished_ = false;
};

// The Internet checksum (RFC 1071) of an ICMP message.
uint16_t Checksum(const uint8_t* data, size_t size) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < size; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (size % 2 == 1) sum += data[size - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// A burst of ICMP echoes to an IPv4 gateway: an unprivileged ping socket when
// net.ipv4.ping_group_range lets us, a raw socket with CAP_NET_RAW, otherwise the ARP table after
// a UDP datagram made the kernel resolve the gateway's hardware address.
class GatewayPing {
 public:
  GatewayPing(asio::io_context& io, const common::FileSystem& fs, std::string gateway,
              std::string interface, const NetworkSettings& settings)
      : io_(io), fs_(fs), settings_(settings), timer_(io), send_timer_(io) {
    check_.set_gateway(std::move(gateway));
    check_.set_interface(std::move(interface));
  }

  void Start(uint16_t id) {
    id_ = id;
    error_code error;
    address_ = asio::ip::make_address_v4(check_.gateway(), error);
    if (error) return Fail("not an IPv4 address");
    // The ping socket first: the kernel gives it an identifier of its own and filters replies.
    datagram_.emplace(io_);
    datagram_->open(asio::generic::datagram_protocol(AF_INET, IPPROTO_ICMP), error);
    if (!error) {
      check_.set_method(medic::v1::GATEWAY_METHOD_ICMP_DATAGRAM);
      return StartBurst();
    }
    datagram_.reset();
    raw_.emplace(io_);
    raw_->open(asio::generic::raw_protocol(AF_INET, IPPROTO_ICMP), error);
    if (!error) {
      check_.set_method(medic::v1::GATEWAY_METHOD_ICMP_RAW);
      return StartBurst();
    }
    raw_.reset();
    StartNeighbour();
  }

  void Abandon() {
    if (!finished_) Finish();
  }
  bool finished() const { return finished_; }
  const medic::v1::GatewayCheck& check() const { return check_; }

 private:
  void StartBurst() {
    sent_at_.assign(settings_.gateway_probes, Steady::time_point());
    answered_.assign(settings_.gateway_probes, false);
    Receive();
    SendNext();
  }

  void SendNext() {
    if (finished_) return;
    const uint16_t seq = static_cast<uint16_t>(check_.sent());
    std::array<uint8_t, 16> packet{};
    packet[0] = 8;  // echo request
    packet[4] = static_cast<uint8_t>(id_ >> 8);
    packet[5] = static_cast<uint8_t>(id_ & 0xff);
    packet[6] = static_cast<uint8_t>(seq >> 8);
    packet[7] = static_cast<uint8_t>(seq & 0xff);
    for (size_t i = 8; i < packet.size(); ++i) packet[i] = static_cast<uint8_t>('m' + i);
    const uint16_t sum = Checksum(packet.data(), packet.size());
    packet[2] = static_cast<uint8_t>(sum >> 8);
    packet[3] = static_cast<uint8_t>(sum & 0xff);
    const asio::ip::udp::endpoint ip_endpoint(address_, 0);
    error_code error;
    sent_at_[seq] = Steady::now();
    if (datagram_) {
      datagram_->send_to(asio::buffer(packet),
                         asio::generic::datagram_protocol::endpoint(ip_endpoint), 0, error);
    } else {
      raw_->send_to(asio::buffer(packet), asio::generic::raw_protocol::endpoint(ip_endpoint), 0,
                    error);
    }
    check_.set_sent(check_.sent() + 1);
    if (error && check_.error().empty()) check_.set_error(Words(error));
    if (check_.sent() < settings_.gateway_probes) {
      send_timer_.expires_after(Chrono(settings_.gateway_interval));
      send_timer_.async_wait([this](const error_code& e) {
        if (!e) SendNext();
      });
      return;
    }
    // The last echo gets gateway_timeout to come back.
    timer_.expires_after(Chrono(settings_.gateway_timeout));
    timer_.async_wait([this](const error_code& e) {
      if (!e && !finished_) Finish();
    });
  }

  void Receive() {
    auto handler = [this](const error_code& e, size_t size) {
      if (finished_ || e == asio::error::operation_aborted) return;
      if (e) {
        if (check_.error().empty()) check_.set_error(Words(e));
        return Receive();
      }
      OnPacket(buffer_.data(), size);
      if (check_.received() == settings_.gateway_probes) return Finish();
      Receive();
    };
    if (datagram_) {
      datagram_->async_receive_from(asio::buffer(buffer_), datagram_from_, handler);
    } else {
      raw_->async_receive_from(asio::buffer(buffer_), raw_from_, handler);
    }
  }

  void OnPacket(const uint8_t* data, size_t size) {
    if (raw_) {
      // A raw socket sees the IP header and every ICMP message of the host: keep echo replies
      // from the gateway that carry our identifier.
      if (size < 20) return;
      const size_t header = (data[0] & 0x0f) * 4;
      const uint32_t source = (data[12] << 24) | (data[13] << 16) | (data[14] << 8) | data[15];
      if (size < header + 8 || source != address_.to_uint()) return;
      data += header;
      size -= header;
      if (((data[4] << 8) | data[5]) != id_) return;
    } else {
      const auto* from = reinterpret_cast<const sockaddr_in*>(datagram_from_.data());
      if (size < 8 || ntohl(from->sin_addr.s_addr) != address_.to_uint()) return;
    }
    if (data[0] != 0) return;  // not an echo reply
    const uint16_t seq = static_cast<uint16_t>((data[6] << 8) | data[7]);
    if (seq >= answered_.size() || answered_[seq] || seq >= check_.sent()) return;
    answered_[seq] = true;
    const double rtt =
        std::chrono::duration<double, std::milli>(Steady::now() - sent_at_[seq]).count();
    rtts_.push_back(rtt);
    check_.set_received(check_.received() + 1);
  }

  void StartNeighbour() {
    check_.set_method(medic::v1::GATEWAY_METHOD_NEIGHBOUR);
    // Any datagram to the gateway makes the kernel resolve its hardware address (port 9 is
    // "discard"); the ARP table then says whether the gateway answered.
    udp_.emplace(io_);
    error_code error;
    udp_->open(asio::ip::udp::v4(), error);
    if (!error) {
      const std::array<uint8_t, 1> byte{0};
      udp_->send_to(asio::buffer(byte), asio::ip::udp::endpoint(address_, 9), 0, error);
    }
    if (error) check_.set_error(Words(error));
    timer_.expires_after(Chrono(std::min(settings_.gateway_timeout, absl::Seconds(1))));
    timer_.async_wait([this](const error_code& e) {
      if (!e && !finished_) Finish();
    });
  }

  void Fail(std::string error) {
    check_.set_error(std::move(error));
    Finish();
  }

  void Finish() {
    finished_ = true;
    error_code ignored;
    timer_.cancel();
    send_timer_.cancel();
    if (datagram_) datagram_->close(ignored);
    if (raw_) raw_->close(ignored);
    if (udp_) udp_->close(ignored);
    if (check_.method() == medic::v1::GATEWAY_METHOD_NEIGHBOUR) {
      check_.set_neighbour_state("");
      if (absl::StatusOr<std::optional<std::vector<ArpEntry>>> arp =
              ReadAndParseOptional(fs_, kArp, ParseArp);
          arp.ok() && *arp) {
        for (const ArpEntry& entry : **arp) {
          if (entry.address == check_.gateway()) {
            check_.set_neighbour_state(entry.complete() ? "complete" : "incomplete");
          }
        }
      }
      check_.set_reachable(check_.neighbour_state() == "complete");
      return;
    }
    if (check_.sent() > 0) {
      check_.set_loss_pct(100.0 * (check_.sent() - check_.received()) / check_.sent());
    }
    if (!rtts_.empty()) {
      double sum = 0;
      for (double r : rtts_) sum += r;
      check_.set_rtt_min_ms(*std::min_element(rtts_.begin(), rtts_.end()));
      check_.set_rtt_max_ms(*std::max_element(rtts_.begin(), rtts_.end()));
      check_.set_rtt_avg_ms(sum / static_cast<double>(rtts_.size()));
    }
    check_.set_reachable(check_.received() > 0);
  }

  asio::io_context& io_;
  const common::FileSystem& fs_;
  const NetworkSettings& settings_;
  asio::steady_timer timer_;
  asio::steady_timer send_timer_;
  std::optional<asio::generic::datagram_protocol::socket> datagram_;
  std::optional<asio::generic::raw_protocol::socket> raw_;
  std::optional<asio::ip::udp::socket> udp_;
  asio::generic::datagram_protocol::endpoint datagram_from_;
  asio::generic::raw_protocol::endpoint raw_from_;
  asio::ip::address_v4 address_;
  medic::v1::GatewayCheck check_;
  uint16_t id_ = 0;
  std::vector<Steady::time_point> sent_at_;
  std::vector<bool> answered_;
  std::vector<double> rtts_;
  std::array<uint8_t, 1500> buffer_{};
  bool finished_ = false;
};

// One configured target: its host resolved through the DNS servers when it is a name (our own
// queries, so the deadline holds; getaddrinfo cannot be cancelled), a TCP connect with its own
// timeout, and for http:// targets a GET whose status line is read.
class TargetConnect {
 public:
  TargetConnect(asio::io_context& io, std::string text, TargetSpec spec,
                const std::vector<std::string>& dns_servers, const NetworkSettings& settings)
      : io_(io),
        spec_(std::move(spec)),
        dns_servers_(dns_servers),
        settings_(settings),
        socket_(io),
        timer_(io) {
    check_.set_target(std::move(text));
    check_.set_endpoint(spec_.Endpoint());
  }

  void Start(uint16_t id) {
    error_code error;
    const asio::ip::address address = asio::ip::make_address(spec_.host, error);
    if (!error) return Connect(address);
    if (dns_servers_.empty())
      return Fail(common::StrCat("cannot resolve ", spec_.host, ": no DNS servers"));
    pending_lookups_ = dns_servers_.size();
    for (size_t i = 0; i < dns_servers_.size(); ++i) {
      lookups_.push_back(std::make_unique<DnsQuery>(
          io_, dns_servers_[i], spec_.host, kDnsTypeA, settings_.dns_timeout,
          [this](const medic::v1::DnsCheck& c, const std::vector<std::string>& addresses) {
            OnLookup(c, addresses);
          }));
    }
    for (size_t i = 0; i < lookups_.size(); ++i) {
      lookups_[i]->Start(static_cast<uint16_t>(id + i));
    }
  }

  void Abandon() {
    if (!finished_)
      Fail(lookups_.empty() || resolved_ ? "the probe's deadline came first"
                                         : "the probe's deadline came before "
                                           "any DNS server resolved the name");
  }
  bool finished() const { return finished_; }
  const medic::v1::TargetCheck& check() const { return check_; }

 private:
  void OnLookup(const medic::v1::DnsCheck& c, const std::vector<std::string>& addresses) {
    --pending_lookups_;
    if (finished_ || resolved_) return;
    if (c.outcome() == medic::v1::DNS_OUTCOME_ANSWERED && !addresses.empty()) {
      error_code error;
      const asio::ip::address address = asio::ip::make_address(addresses.front(), error);
      if (!error) {
        resolved_ = true;
        return Connect(address);
      }
    }
    if (last_lookup_error_.empty()) {
      last_lookup_error_ =
          c.outcome() == medic::v1::DNS_OUTCOME_ANSWERED
              ? "no address in the answer"
              : (c.rcode().empty() ? (c.error().empty() ? "no answer" : c.error()) : c.rcode());
    }
    if (pending_lookups_ == 0) {
      Fail(common::StrCat("cannot resolve ", spec_.host, " (", last_lookup_error_, ")"));
    }
  }

  void Connect(const asio::ip::address& address) {
    check_.set_address(address.to_string());
    start_ = Steady::now();
    ArmTimeout();
    socket_.async_connect(asio::ip::tcp::endpoint(address, spec_.port), [this](
                                                                            const error_code& e) {
      if (finished_) return;
      if (e) return Fail(Words(e));
      check_.set_connected(true);
      check_.set_connect_ms(MsSince(start_));
      if (!spec_.http) return Done();
      request_ = common::StrCat("GET ", spec_.path, " HTTP/1.1\r\nHost: ", spec_.host,
                                "\r\nUser-Agent: medic-agent\r\nConnection: close\r\n\r\n");
      ArmTimeout();  // the answer gets its own connect_timeout
      asio::async_write(socket_, asio::buffer(request_), [this](const error_code& we, size_t) {
        if (finished_) return;
        if (we) return Fail(Words(we));
        asio::async_read_until(socket_, response_, "\r\n", [this](const error_code& re, size_t) {
          if (finished_) return;
          std::istream in(&response_);
          std::string line;
          std::getline(in, line);
          std::vector<std::string_view> words = SplitFields(line);
          uint32_t status = 0;
          if (words.size() >= 2 && StartsWith(words[0], "HTTP/") && ParseInt(words[1], &status)) {
            check_.set_http_status(status);
            return Done();
          }
          Fail(re ? Words(re) : "the answer is not HTTP");
        });
      });
    });
  }

  // Gives the current step (the connection, then the HTTP answer) connect_timeout. Setting a new
  // expiry cancels the wait in flight, so each step arms its own.
  void ArmTimeout() {
    timer_.expires_after(Chrono(settings_.connect_timeout));
    timer_.async_wait([this](const error_code& e) {
      if (e || finished_) return;
      Fail(check_.connected() ? common::StrCat("no HTTP answer within ",
                                               common::HumanDuration(settings_.connect_timeout))
                              : common::StrCat("no answer to the connection within ",
                                               common::HumanDuration(settings_.connect_timeout)));
    });
  }

  void Fail(std::string error) {
    check_.set_error(std::move(error));
    Done();
  }

  void Done() {
    finished_ = true;
    error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
    for (auto& lookup : lookups_) lookup->Abandon();
  }

  asio::io_context& io_;
  TargetSpec spec_;
  const std::vector<std::string>& dns_servers_;
  const NetworkSettings& settings_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  std::vector<std::unique_ptr<DnsQuery>> lookups_;
  size_t pending_lookups_ = 0;
  bool resolved_ = false;
  std::string last_lookup_error_;
  std::string request_;
  asio::streambuf response_{8192};  // the status line; a server sending no line end stops here
  medic::v1::TargetCheck check_;
  Steady::time_point start_;
  bool finished_ = false;
};

// The default gateways with their interfaces: IPv4 ones, by metric.
struct Gateway {
  std::string address;
  std::string interface;
};

absl::StatusOr<std::vector<Gateway>> ReadGateways(const common::FileSystem& fs,
                                                  std::vector<std::string>* ipv6_gateways) {
  ASSIGN_OR_RETURN(std::vector<Ipv4Route> routes, ReadAndParse(fs, kRoute, ParseIpv4Routes));
  ASSIGN_OR_RETURN(std::optional<std::vector<Ipv6Route>> routes6,
                   ReadAndParseOptional(fs, kIpv6Route, ParseIpv6Routes));
  std::vector<Gateway> gateways;
  for (const std::string& address :
       DefaultGateways(routes, routes6 ? *routes6 : std::vector<Ipv6Route>())) {
    if (address.find(':') != std::string::npos) {
      ipv6_gateways->push_back(address);
      continue;
    }
    Gateway& g = gateways.emplace_back();
    g.address = address;
    for (const Ipv4Route& r : routes) {
      if (r.mask == 0 && (r.flags & kRtfGateway) && FormatIpv4(r.gateway) == address) {
        g.interface = r.interface;
        break;
      }
    }
  }
  return gateways;
}

class ConnectivityProbe : public Probe {
 public:
  std::string_view name() const override { return "connectivity"; }

  absl::StatusOr<ProbeOutput> Collect(const ProbeContext& ctx) override {
    return RunConnectivityChecks(ctx, ConnectivityPlan{});
  }
};

}  // namespace

absl::StatusOr<ProbeOutput> RunConnectivityChecks(const ProbeContext& ctx,
                                                  const ConnectivityPlan& plan) {
  NetworkSettings settings = NetworkSettingsFrom(ctx.config);
  if (!plan.dns_names.empty()) settings.dns_test_names = plan.dns_names;
  std::vector<std::string> ipv6_gateways;
  std::vector<Gateway> gateways;
  if (plan.gateways) {
    ASSIGN_OR_RETURN(gateways, ReadGateways(ctx.fs, &ipv6_gateways));
  }
  for (const std::string& host : plan.ping_hosts) gateways.push_back(Gateway{host, ""});
  ASSIGN_OR_RETURN(Resolvers resolvers, ReadResolvers(ctx.fs, settings));
  std::vector<std::pair<std::string, TargetSpec>> targets;
  std::vector<std::string> target_texts = plan.extra_targets;
  if (plan.targets) {
    target_texts.insert(target_texts.end(), settings.targets.begin(), settings.targets.end());
  }
  for (const std::string& text : target_texts) {
    ASSIGN_OR_RETURN(TargetSpec spec, ParseTarget(text));
    targets.emplace_back(text, std::move(spec));
  }

  ProbeOutput output;
  output.report.set_probe("connectivity");
  medic::v1::ConnectivityStatus& status = *output.report.mutable_connectivity();
  if (plan.gateways && gateways.empty() && ipv6_gateways.empty()) {
    status.add_notes("no default gateway");
  }
  for (const std::string& g : ipv6_gateways) {
    status.add_notes(common::StrCat("IPv6 gateway ", g, " not checked (IPv4 only for now)"));
  }
  if (resolvers.servers.empty() && (plan.dns || !targets.empty())) {
    status.add_notes(common::StrCat(
        "no DNS servers in ", resolvers.source.empty() ? settings.resolv_conf : resolvers.source));
  }

  // The io_context is declared before the checks so it outlives their sockets and timers.
  asio::io_context io;
  std::vector<std::unique_ptr<GatewayPing>> pings;
  std::vector<std::unique_ptr<DnsQuery>> queries;
  std::vector<std::unique_ptr<TargetConnect>> connects;
  uint16_t id = static_cast<uint16_t>(std::random_device{}());
  for (const Gateway& g : gateways) {
    pings.push_back(std::make_unique<GatewayPing>(io, ctx.fs, g.address, g.interface, settings));
    pings.back()->Start(id++);
  }
  if (plan.dns) {
    for (const std::string& server : resolvers.servers) {
      for (const std::string& test_name : settings.dns_test_names) {
        queries.push_back(std::make_unique<DnsQuery>(io, server, test_name,
                                                     test_name == "." ? kDnsTypeNs : kDnsTypeA,
                                                     settings.dns_timeout, nullptr));
        queries.back()->Start(id++);
      }
    }
  }
  for (auto& [text, spec] : targets) {
    connects.push_back(
        std::make_unique<TargetConnect>(io, text, spec, resolvers.servers, settings));
    connects.back()->Start(id);
    id = static_cast<uint16_t>(id + resolvers.servers.size() + 1);
  }
  // Every check has its own timeout; this bounds the whole cycle should one not fire.
  const absl::Duration budget = ctx.deadline - ctx.clock.Now() - kReportMargin;
  io.run_for(Chrono(std::max(budget, absl::ZeroDuration())));

  for (auto& p : pings) {
    p->Abandon();
    const medic::v1::GatewayCheck& g = *status.add_gateways() = p->check();
    if (g.method() != medic::v1::GATEWAY_METHOD_NEIGHBOUR && g.sent() > 0) {
      AddObservation(output.report, "net.gateway_loss_pct", g.gateway(), g.loss_pct(), "pct");
      if (g.received() > 0) {
        AddObservation(output.report, "net.gateway_rtt_ms", g.gateway(), g.rtt_avg_ms(), "ms");
      }
    }
  }
  for (auto& q : queries) {
    q->Abandon();
    const medic::v1::DnsCheck& c = *status.add_dns() = q->check();
    if (c.outcome() == medic::v1::DNS_OUTCOME_ANSWERED) {
      AddObservation(output.report, "dns.answer_ms", c.server(), c.answer_ms(), "ms");
    }
  }
  for (auto& t : connects) {
    t->Abandon();
    const medic::v1::TargetCheck& c = *status.add_targets() = t->check();
    if (c.connected()) {
      AddObservation(output.report, "net.connect_ms", c.endpoint(), c.connect_ms(), "ms");
    }
  }
  output.findings = JudgeConnectivity(status, settings, ctx.standing);
  return output;
}

std::unique_ptr<Probe> NewConnectivityProbe() { return std::make_unique<ConnectivityProbe>(); }

}  // namespace medic::agent
