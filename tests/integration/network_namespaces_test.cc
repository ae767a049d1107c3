// The network and connectivity probes against a real test network the test builds per case
// with network namespaces: a "workstation" running the real agent binary, a "router" as its
// default gateway, and a "dns" namespace with two dnsmasq servers (A and B) and a TCP service.
// Real faults are injected (a server stopped, port 53 dropped, 30% loss, the gateway or the
// workstation's own link down, a service closed) and each case asserts the exact findings, their
// resources, and that they clear once the fault is gone.
//
//   ws (eth0 10.77.0.2/24) ── veth ── router (br0 10.77.0.1/24 ⊃ lan; dnsnet 10.77.1.1/24)
//                                                    │ veth
//   dns (eth0 10.77.1.53 = A, 10.77.1.54 = B, TCP service on 10.77.1.53:8081)

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "medic/v1/health.pb.h"
#include "medic/v1/technician.pb.h"
#include "tests/support/process.h"

namespace medic::test {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

const std::string kBin = MEDIC_BIN_DIR;
constexpr char kGateway[] = "10.77.0.1";
constexpr char kDnsA[] = "10.77.1.53";
constexpr char kDnsB[] = "10.77.1.54";
constexpr char kService[] = "10.77.1.53:8081";

// The full path of a system program (the test runs programs without a shell, so without PATH).
std::string Tool(const std::string& name) {
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    if (access((dir + name).c_str(), X_OK) == 0) return dir + name;
  }
  return name;
}

// Runs `argv`, failing the test (with its output) when it does not exit 0.
bool Must(std::vector<std::string> argv) {
  RunResult r = RunCommand(argv, absl::Seconds(10));
  std::string text;
  for (const auto& a : argv) text += a + " ";
  EXPECT_EQ(r.exit_code, 0) << text << "\n" << r.out << r.err;
  return r.exit_code == 0;
}

// A TCP listener opened inside a network namespace (setns on a thread of its own, so the test's
// other threads stay where they are). Closing it makes connections to it refused.
class NamespaceListener {
 public:
  NamespaceListener(const std::string& netns, const std::string& ip, int port) {
    std::thread([&] {
      const int ns = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) return;
      close(ns);
      fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int one = 1;
      setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET, ip.c_str(), &address.sin_addr);
      if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
          listen(fd_, 16) != 0) {
        close(fd_);
        fd_ = -1;
      }
    }).join();
  }
  ~NamespaceListener() { Close(); }
  bool ok() const { return fd_ >= 0; }

  // Answers every connection with `status_line` ("HTTP/1.1 200 OK") once the request is read,
  // on a thread of its own until Close().
  void ServeHttp(std::string status_line) {
    server_ = std::thread([this, status_line] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) continue;
        const int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) continue;
        char request[2048];
        (void)!read(client, request, sizeof(request));
        const std::string response = status_line + "\r\nContent-Length: 0\r\n\r\n";
        (void)!write(client, response.data(), response.size());
        close(client);
      }
    });
  }

  void Close() {
    stop_ = true;
    if (server_.joinable()) server_.join();
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread server_;
};

// A DNS server that misbehaves on UDP port 53 of `ip` inside a network namespace: to every
// query it first sends a malformed datagram with another id (as a late answer to an earlier
// query might arrive), then the answer to the query with TC set and no records (an answer too
// large for UDP). Serves on a thread of its own until destroyed.
class TruncatingDnsServer {
 public:
  TruncatingDnsServer(const std::string& netns, const std::string& ip) {
    std::thread([&] {
      const int ns = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) return;
      close(ns);
      fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(53);
      inet_pton(AF_INET, ip.c_str(), &address.sin_addr);
      if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
        close(fd_);
        fd_ = -1;
      }
    }).join();
    if (fd_ < 0) return;
    server_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) continue;
        uint8_t query[512];
        sockaddr_in from{};
        socklen_t from_size = sizeof(from);
        const ssize_t n =
            recvfrom(fd_, query, sizeof(query), 0, reinterpret_cast<sockaddr*>(&from), &from_size);
        if (n < 12) continue;
        const auto reply = [&](const std::vector<uint8_t>& message) {
          (void)!sendto(fd_, message.data(), message.size(), 0,
                        reinterpret_cast<const sockaddr*>(&from), from_size);
        };
        std::vector<uint8_t> stray(query, query + n);
        stray[0] ^= 0xff;  // another id
        stray[2] |= 0x80;  // QR
        stray[7] = 1;      // one answer record, cut short after its type
        stray.insert(stray.end(), {0xc0, 12, 0, 1});
        reply(stray);
        std::vector<uint8_t> truncated(query, query + n);
        truncated[2] |= 0x82;  // QR, TC
        truncated[3] = 0x80;   // RA, NOERROR
        reply(truncated);
      }
    });
  }
  ~TruncatingDnsServer() {
    stop_ = true;
    if (server_.joinable()) server_.join();
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread server_;
};

// One test network; every namespace is deleted (and with it every veth) on destruction, and
// the dnsmasq processes are killed by PID, also when the test failed half-way.
class TestNetwork {
 public:
  TestNetwork() {
    static std::atomic<int> counter{0};
    prefix_ = "medic-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  }
  ~TestNetwork() {
    dns_a_.reset();
    dns_b_.reset();
    for (const std::string& ns : created_) RunCommand({Tool("ip"), "netns", "delete", ns});
  }

  std::string ws() const { return prefix_ + "-ws"; }
  std::string router() const { return prefix_ + "-rt"; }
  std::string dns() const { return prefix_ + "-dns"; }
  const TempDir& dir() const { return dir_; }

  void Build() {
    for (const std::string& ns : {ws(), router(), dns()}) {
      if (!Must({Tool("ip"), "netns", "add", ns})) return;
      created_.push_back(ns);
      if (!Must({Tool("ip"), "-n", ns, "link", "set", "lo", "up"})) return;
    }
    // The veths are made inside the namespaces, so their names clash with nothing on the host.
    if (!Must({Tool("ip"), "-n", ws(), "link", "add", "eth0", "type", "veth", "peer", "name",
               "lan0", "netns", router()}))
      return;
    if (!Must({Tool("ip"), "-n", router(), "link", "add", "dnsnet", "type", "veth", "peer", "name",
               "eth0", "netns", dns()}))
      return;
    // The router's LAN address sits on a bridge, so "the gateway's link down" (the bridge)
    // leaves the workstation's own cable (lan0) up.
    if (!Must({Tool("ip"), "-n", router(), "link", "add", "br0", "type", "bridge"})) return;
    if (!Must({Tool("ip"), "-n", router(), "link", "set", "lan0", "master", "br0"})) return;
    if (!Must({Tool("ip"), "-n", router(), "addr", "add", "10.77.0.1/24", "dev", "br0"})) return;
    if (!Must({Tool("ip"), "-n", router(), "addr", "add", "10.77.1.1/24", "dev", "dnsnet"})) return;
    for (const char* link : {"lan0", "br0", "dnsnet"}) {
      if (!Must({Tool("ip"), "-n", router(), "link", "set", link, "up"})) return;
    }
    if (!Must({Tool("ip"), "netns", "exec", router(), Tool("sysctl"), "-qw",
               "net.ipv4.ip_forward=1"}))
      return;
    if (!Must({Tool("ip"), "-n", ws(), "addr", "add", "10.77.0.2/24", "dev", "eth0"})) return;
    if (!Must({Tool("ip"), "-n", ws(), "link", "set", "eth0", "up"})) return;
    if (!Must({Tool("ip"), "-n", ws(), "route", "add", "default", "via", kGateway})) return;
    // Unprivileged ping sockets for the agent, as a desktop distribution allows them.
    if (!Must({Tool("ip"), "netns", "exec", ws(), Tool("sysctl"), "-qw",
               "net.ipv4.ping_group_range=0 2147483647"}))
      return;
    if (!Must({Tool("ip"), "-n", dns(), "addr", "add", std::string(kDnsA) + "/24", "dev", "eth0"}))
      return;
    if (!Must({Tool("ip"), "-n", dns(), "addr", "add", std::string(kDnsB) + "/24", "dev", "eth0"}))
      return;
    if (!Must({Tool("ip"), "-n", dns(), "link", "set", "eth0", "up"})) return;
    if (!Must({Tool("ip"), "-n", dns(), "route", "add", "default", "via", "10.77.1.1"})) return;
    WriteFile(dir_.File("resolv.conf"),
              std::string("nameserver ") + kDnsA + "\nnameserver " + kDnsB + "\nsearch lan\n");
    StartDns('A');
    StartDns('B');
  }

  // A dnsmasq on server A's or B's address, answering collector.lan itself and refusing nothing
  // else of .lan (--local); in the foreground so it is ours to stop by PID.
  void StartDns(char which) {
    const std::string ip = which == 'A' ? kDnsA : kDnsB;
    auto process = std::make_unique<Process>(
        std::vector<std::string>{Tool("ip"), "netns", "exec", dns(), Tool("dnsmasq"),
                                 "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                                 "--no-hosts", "--bind-interfaces", "--listen-address=" + ip,
                                 "--local=/lan/", "--host-record=collector.lan,10.77.1.10",
                                 "--pid-file=" + dir_.File(std::string("dns-") + which + ".pid"),
                                 "--user=root", "--log-facility=-"},
        dir_.path(), std::string("dnsmasq-") + which);
    // dnsmasq says nothing on start in the foreground; wait until it answers on TCP 53.
    const absl::Time end = absl::Now() + absl::Seconds(5);
    while (absl::Now() < end) {
      RunResult r =
          RunCommand({Tool("ip"), "netns", "exec", dns(), Tool("ss"), "-Htln", "src", ip + ":53"});
      if (r.exit_code == 0 && !r.out.empty()) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    (which == 'A' ? dns_a_ : dns_b_) = std::move(process);
  }
  void StopDns(char which) {
    auto& process = which == 'A' ? dns_a_ : dns_b_;
    ASSERT_NE(process, nullptr);
    process->Stop(SIGTERM);
    process.reset();
  }

  void Nft(const std::string& ns, const std::string& rules) {
    WriteFile(dir_.File("rules.nft"), rules);
    Must({Tool("ip"), "netns", "exec", ns, Tool("nft"), "-f", dir_.File("rules.nft")});
  }

 private:
  std::string prefix_;
  TempDir dir_;
  std::vector<std::string> created_;
  std::unique_ptr<Process> dns_a_;
  std::unique_ptr<Process> dns_b_;
};

// Only the two network probes, with timeouts short enough for a test (a silent server costs
// 400 ms, not the default 2 s).
std::string AgentConfig(
    const TestNetwork& net, const std::string& extra = "",
    const std::string& gateway = "  gateway_probes: 3\n  gateway_interval: 20ms\n") {
  return std::string(R"yaml(
probes:
  cpu: {disabled: true}
  memory: {disabled: true}
  filesystems: {disabled: true}
  os: {disabled: true}
  thermal: {disabled: true}
  battery: {disabled: true}
  hardware_errors: {disabled: true}
  reboot: {disabled: true}
  updates: {disabled: true}
  services: {disabled: true}
  time: {disabled: true}
  crashes: {disabled: true}
  smart: {disabled: true}
  inventory: {disabled: true}
  printers: {disabled: true}
  connectivity: {deadline: 3s}
network:
  resolv_conf: )yaml") +
         net.dir().File("resolv.conf") + R"yaml(
  dns_test_names: [collector.lan]
  dns_timeout: 400ms
  connect_timeout: 400ms
  gateway_timeout: 300ms
  watch_interfaces: [eth0]
)yaml" + gateway +
         extra;
}

class NetworkNamespacesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root (CI runs as root)";
    net_.Build();
    if (HasFailure()) GTEST_FAIL() << "could not build the test network";
    WriteFile(net_.dir().File("agent.yaml"), AgentConfig(net_));
  }

  void Configure(const std::string& extra, std::optional<std::string> gateway = std::nullopt) {
    WriteFile(net_.dir().File("agent.yaml"),
              gateway ? AgentConfig(net_, extra, *gateway) : AgentConfig(net_, extra));
  }

  // `medic-agent --once --json` in the workstation namespace, behind `wrapper` (setpriv) when
  // given.
  medic::v1::Snapshot Collect(std::vector<std::string> wrapper = {}) {
    std::vector<std::string> argv = {Tool("ip"), "netns", "exec", net_.ws()};
    argv.insert(argv.end(), wrapper.begin(), wrapper.end());
    argv.push_back(kBin + "/medic-agent");
    // Only the network probes: the printers probe would talk to the host's CUPS over its unix
    // socket, which no network namespace fences off.
    for (const char* arg : {"--once", "--json", "--probes", "network,connectivity", "--config"}) {
      argv.push_back(arg);
    }
    argv.push_back(net_.dir().File("agent.yaml"));
    RunResult r = RunCommand(argv, absl::Seconds(20));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    medic::v1::Snapshot snapshot;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &snapshot).ok()) << r.out;
    return snapshot;
  }

  // Collects until no net.* finding is left (a link that comes back up takes a moment: the
  // bridge port and the neighbour entry of the gateway recover), at most `timeout`.
  medic::v1::Snapshot CollectUntilClear(absl::Duration timeout = absl::Seconds(8)) {
    const absl::Time end = absl::Now() + timeout;
    medic::v1::Snapshot snapshot;
    int attempts = 0;
    do {
      snapshot = Collect();
      ++attempts;
      if (NetFindings(snapshot).empty()) break;
      absl::SleepFor(absl::Milliseconds(200));
    } while (absl::Now() < end);
    return snapshot;
  }

  // The (code, resource) of every net.* finding.
  static std::set<std::pair<std::string, std::string>> NetFindings(
      const medic::v1::Snapshot& snapshot) {
    std::set<std::pair<std::string, std::string>> out;
    for (const auto& f : snapshot.findings()) {
      if (f.code().starts_with("net.")) out.emplace(f.code(), f.resource());
    }
    return out;
  }
  static const medic::v1::Finding* Find(const medic::v1::Snapshot& snapshot,
                                        const std::string& code, const std::string& resource) {
    for (const auto& f : snapshot.findings()) {
      if (f.code() == code && f.resource() == resource) return &f;
    }
    return nullptr;
  }
  static std::string Describe(const medic::v1::Snapshot& snapshot) {
    std::string out;
    for (const auto& f : snapshot.findings())
      out += f.code() + " " + f.resource() + ": " + f.summary() + "\n";
    return out;
  }

  using FindingSet = std::set<std::pair<std::string, std::string>>;
  TestNetwork net_;
};

TEST_F(NetworkNamespacesTest, HealthyNetworkHasNoNetworkFindings) {
  Configure(std::string("  targets: [\"") + kService + "\"]\n");
  NamespaceListener service(net_.dns(), kDnsA, 8081);
  ASSERT_TRUE(service.ok());
  const medic::v1::Snapshot snapshot = Collect();
  EXPECT_EQ(NetFindings(snapshot), FindingSet{}) << Describe(snapshot);
  const medic::v1::ProbeReport* connectivity = nullptr;
  for (const auto& r : snapshot.reports()) {
    if (r.probe() == "connectivity") connectivity = &r;
  }
  ASSERT_NE(connectivity, nullptr);
  const auto& status = connectivity->connectivity();
  ASSERT_EQ(status.gateways_size(), 1);
  EXPECT_EQ(status.gateways(0).gateway(), kGateway);
  EXPECT_EQ(status.gateways(0).method(), medic::v1::GATEWAY_METHOD_ICMP_DATAGRAM);
  EXPECT_EQ(status.gateways(0).received(), 3u);
  ASSERT_EQ(status.dns_size(), 2);
  for (const auto& d : status.dns()) {
    EXPECT_EQ(d.outcome(), medic::v1::DNS_OUTCOME_ANSWERED) << d.server();
    EXPECT_THAT(d.addresses(), ::testing::ElementsAre("10.77.1.10"));
  }
  ASSERT_EQ(status.targets_size(), 1);
  EXPECT_TRUE(status.targets(0).connected());
  // Topology carries what the collector correlates on.
  EXPECT_THAT(snapshot.topology().gateways(), ::testing::ElementsAre(kGateway));
  EXPECT_THAT(snapshot.topology().dns_servers(), ::testing::ElementsAre(kDnsA, kDnsB));
  EXPECT_THAT(snapshot.topology().search_domains(), ::testing::ElementsAre("lan"));
  EXPECT_THAT(snapshot.topology().subnets(), ::testing::Contains("10.77.0.0/24"));
  ASSERT_EQ(snapshot.topology().interfaces_size(), 1);
  EXPECT_EQ(snapshot.topology().interfaces(0).name(), "eth0");
  EXPECT_THAT(snapshot.topology().interfaces(0).addresses(), ::testing::Contains("10.77.0.2/24"));
}

// The done-when case: server A stopped, B up: one finding, naming A only, with its evidence.
TEST_F(NetworkNamespacesTest, StoppedDnsServerIsNamedAlone) {
  net_.StopDns('A');
  medic::v1::Snapshot snapshot = Collect();
  EXPECT_EQ(NetFindings(snapshot), (FindingSet{{"net.dns_failure", kDnsA}})) << Describe(snapshot);
  const medic::v1::Finding* failure = Find(snapshot, "net.dns_failure", kDnsA);
  ASSERT_NE(failure, nullptr);
  EXPECT_EQ(failure->severity(), medic::v1::SEVERITY_CRITICAL);
  EXPECT_EQ(failure->evidence().at("query"), "collector.lan A");
  EXPECT_EQ(failure->evidence().at("error"), "connection refused");
  EXPECT_THAT(failure->summary(), HasSubstr(kDnsA));

  net_.StartDns('A');
  snapshot = Collect();
  EXPECT_EQ(NetFindings(snapshot), FindingSet{}) << Describe(snapshot);
}

// Server A's port 53 silently dropped: a timeout, not a refusal; B is not named.
TEST_F(NetworkNamespacesTest, DroppedDnsPortIsATimeout) {
  net_.Nft(net_.dns(), std::string("table inet medic {\n chain input {\n  type filter hook input "
                                   "priority 0;\n  ip daddr ") +
                           kDnsA + " udp dport 53 drop\n }\n}\n");
  medic::v1::Snapshot snapshot = Collect();
  EXPECT_EQ(NetFindings(snapshot), (FindingSet{{"net.dns_failure", kDnsA}})) << Describe(snapshot);
  const medic::v1::Finding* failure = Find(snapshot, "net.dns_failure", kDnsA);
  ASSERT_NE(failure, nullptr);
  EXPECT_EQ(failure->evidence().at("result"), "timeout");
  EXPECT_EQ(failure->evidence().at("query"), "collector.lan A");
  EXPECT_THAT(failure->summary(), HasSubstr("does not answer"));

  Must({Tool("ip"), "netns", "exec", net_.dns(), Tool("nft"), "delete", "table", "inet", "medic"});
  snapshot = Collect();
  EXPECT_EQ(NetFindings(snapshot), FindingSet{}) << Describe(snapshot);
}

// Server A answers only with TC set, after a malformed stray datagram with another id: the
// stray is ignored (it does not end the query as unreadable) and the truncated answer is not
// taken for an answer; B is not named.
TEST_F(NetworkNamespacesTest, TruncatedDnsAnswerIsNotAnAnswer) {
  net_.StopDns('A');
  TruncatingDnsServer server(net_.dns(), kDnsA);
  ASSERT_TRUE(server.ok()) << "could not bind UDP " << kDnsA << ":53 in " << net_.dns();
  medic::v1::Snapshot snapshot = Collect();
  EXPECT_EQ(NetFindings(snapshot), (FindingSet{{"net.dns_failure", kDnsA}})) << Describe(snapshot);
  const medic::v1::Finding* failure = Find(snapshot, "net.dns_failure", kDnsA);
  ASSERT_NE(failure, nullptr);
  EXPECT_EQ(failure->evidence().at("query"), "collector.lan A");
  EXPECT_EQ(failure->evidence().at("error"), "answer truncated (TC): the server wants TCP");
  EXPECT_THAT(failure->summary(), HasSubstr("truncated"));
}

// 30% of pings dropped at the router: packet loss on the gateway, which still answers. 40
// echoes make a burst with no loss at all improbable (0.7^40), and a 5% mark any loss.
TEST_F(NetworkNamespacesTest, PacketLossAtTheGateway) {
  Configure("  packet_loss_pct: 5\n", "  gateway_probes: 40\n  gateway_interval: 5ms\n");
  net_.Nft(net_.router(),
           "table inet medic {\n chain input {\n  type filter hook input priority 0;\n"
           "  icmp type echo-request numgen random mod 100 < 30 drop\n }\n}\n");
  medic::v1::Snapshot snapshot = Collect();
  EXPECT_EQ(NetFindings(snapshot), (FindingSet{{"net.packet_loss", kGateway}}))
      << Describe(snapshot);
  const medic::v1::Finding* loss = Find(snapshot, "net.packet_loss", kGateway);
  ASSERT_NE(loss, nullptr);
  EXPECT_EQ(loss->evidence().at("sent"), "40");

  Must({Tool("ip"), "netns", "exec", net_.router(), Tool("nft"), "delete", "table", "inet",
        "medic"});
  snapshot = Collect();
  EXPECT_EQ(NetFindings(snapshot), FindingSet{}) << Describe(snapshot);
}

// The gateway's own link down (its LAN bridge): the gateway and everything behind it is gone,
// the workstation's cable is not.
TEST_F(NetworkNamespacesTest, GatewayLinkDown) {
  Must({Tool("ip"), "-n", net_.router(), "link", "set", "br0", "down"});
  medic::v1::Snapshot snapshot = Collect();
  EXPECT_EQ(NetFindings(snapshot), (FindingSet{{"net.gateway_unreachable", kGateway},
                                               {"net.dns_failure", kDnsA},
                                               {"net.dns_failure", kDnsB}}))
      << Describe(snapshot);
  const medic::v1::Finding* gateway = Find(snapshot, "net.gateway_unreachable", kGateway);
  ASSERT_NE(gateway, nullptr);
  EXPECT_EQ(gateway->evidence().at("received"), "0");

  Must({Tool("ip"), "-n", net_.router(), "link", "set", "br0", "up"});
  snapshot = CollectUntilClear();
  EXPECT_EQ(NetFindings(snapshot), FindingSet{}) << Describe(snapshot);
}

// The workstation's own link down: the other end of its cable (the router's port) switched
// off, so eth0 loses its carrier.
TEST_F(NetworkNamespacesTest, OwnLinkDown) {
  Must({Tool("ip"), "-n", net_.router(), "link", "set", "lan0", "down"});
  medic::v1::Snapshot snapshot = Collect();
  EXPECT_EQ(NetFindings(snapshot), (FindingSet{{"net.link_down", "eth0"},
                                               {"net.gateway_unreachable", kGateway},
                                               {"net.dns_failure", kDnsA},
                                               {"net.dns_failure", kDnsB}}))
      << Describe(snapshot);
  const medic::v1::Finding* link = Find(snapshot, "net.link_down", "eth0");
  ASSERT_NE(link, nullptr);
  EXPECT_EQ(link->severity(), medic::v1::SEVERITY_CRITICAL);
  EXPECT_EQ(link->evidence().at("carrier"), "0");

  Must({Tool("ip"), "-n", net_.router(), "link", "set", "lan0", "up"});
  snapshot = CollectUntilClear();
  EXPECT_EQ(NetFindings(snapshot), FindingSet{}) << Describe(snapshot);
}

// An http:// target: its GET's status is read; a 503 is a finding on host:port, a 200 is not.
TEST_F(NetworkNamespacesTest, HttpTargetStatus) {
  Configure("  targets: [\"http://10.77.1.54:8080/health\"]\n");
  auto web = std::make_unique<NamespaceListener>(net_.dns(), kDnsB, 8080);
  ASSERT_TRUE(web->ok());
  web->ServeHttp("HTTP/1.1 503 Service Unavailable");
  medic::v1::Snapshot snapshot = Collect();
  EXPECT_EQ(NetFindings(snapshot), (FindingSet{{"net.target_unreachable", "10.77.1.54:8080"}}))
      << Describe(snapshot);
  const medic::v1::Finding* target = Find(snapshot, "net.target_unreachable", "10.77.1.54:8080");
  ASSERT_NE(target, nullptr);
  EXPECT_EQ(target->evidence().at("http_status"), "503");

  web.reset();  // the port is free again before the next server binds it
  web = std::make_unique<NamespaceListener>(net_.dns(), kDnsB, 8080);
  ASSERT_TRUE(web->ok());
  web->ServeHttp("HTTP/1.1 200 OK");
  snapshot = Collect();
  EXPECT_EQ(NetFindings(snapshot), FindingSet{}) << Describe(snapshot);
}

// Everything silent (the router drops all it gets) and per-check timeouts longer than the
// probe's deadline: the cycle still reports within its deadline, with every check judged.
TEST_F(NetworkNamespacesTest, SilentNetworkStillReportsWithinTheDeadline) {
  std::string config = AgentConfig(net_, std::string("  targets: [\"") + kService + "\"]\n");
  for (const std::string key : {"  dns_timeout: 400ms\n", "  connect_timeout: 400ms\n"}) {
    config.erase(config.find(key), key.size());  // back to the 2 s defaults
  }
  const std::string from = "  connectivity: {deadline: 3s}\n";
  config.replace(config.find(from), from.size(), "  connectivity: {deadline: 1s}\n");
  WriteFile(net_.dir().File("agent.yaml"), config);
  net_.Nft(net_.router(),
           "table inet medic {\n chain input {\n  type filter hook input priority 0;\n  drop\n }\n"
           " chain forward {\n  type filter hook forward priority 0;\n  drop\n }\n}\n");
  const medic::v1::Snapshot snapshot = Collect();
  const medic::v1::ProbeReport* report = nullptr;
  for (const auto& r : snapshot.reports()) {
    if (r.probe() == "connectivity") report = &r;
  }
  ASSERT_NE(report, nullptr);
  // Within its deadline, or the scheduler would have reported it TIMED_OUT.
  EXPECT_EQ(report->outcome(), medic::v1::PROBE_OUTCOME_OK) << report->error();
  EXPECT_EQ(NetFindings(snapshot), (FindingSet{{"net.gateway_unreachable", kGateway},
                                               {"net.dns_failure", kDnsA},
                                               {"net.dns_failure", kDnsB},
                                               {"net.target_unreachable", kService}}))
      << Describe(snapshot);
  for (const auto& d : report->connectivity().dns()) {
    EXPECT_EQ(d.outcome(), medic::v1::DNS_OUTCOME_TIMEOUT) << d.server();
  }
}

const medic::v1::GatewayCheck* GatewayOf(const medic::v1::Snapshot& snapshot) {
  for (const auto& r : snapshot.reports()) {
    if (r.probe() == "connectivity" && r.connectivity().gateways_size() == 1) {
      return &r.connectivity().gateways(0);
    }
  }
  return nullptr;
}

// Ping sockets not allowed (the kernel's default ping_group_range "1 0"): root pings with a
// raw socket; without CAP_NET_RAW the agent falls back to the ARP table, which still tells a
// gateway that answers from one that does not.
TEST_F(NetworkNamespacesTest, WithoutPingSocketsRawThenNeighbourTable) {
  Must({Tool("ip"), "netns", "exec", net_.ws(), Tool("sysctl"), "-qw",
        "net.ipv4.ping_group_range=1 0"});
  medic::v1::Snapshot snapshot = Collect();
  const medic::v1::GatewayCheck* gateway = GatewayOf(snapshot);
  ASSERT_NE(gateway, nullptr);
  EXPECT_EQ(gateway->method(), medic::v1::GATEWAY_METHOD_ICMP_RAW);
  EXPECT_EQ(gateway->received(), 3u);
  EXPECT_EQ(NetFindings(snapshot), FindingSet{}) << Describe(snapshot);

  const std::vector<std::string> no_raw = {Tool("setpriv"), "--inh-caps=-net_raw",
                                           "--bounding-set=-net_raw"};
  snapshot = Collect(no_raw);
  gateway = GatewayOf(snapshot);
  ASSERT_NE(gateway, nullptr);
  EXPECT_EQ(gateway->method(), medic::v1::GATEWAY_METHOD_NEIGHBOUR);
  EXPECT_EQ(gateway->neighbour_state(), "complete");
  EXPECT_EQ(NetFindings(snapshot), FindingSet{}) << Describe(snapshot);

  // The gateway gone: its ARP entry is flushed and the new request is never answered.
  Must({Tool("ip"), "-n", net_.router(), "link", "set", "br0", "down"});
  Must({Tool("ip"), "-n", net_.ws(), "neigh", "flush", "dev", "eth0"});
  snapshot = Collect(no_raw);
  EXPECT_THAT(NetFindings(snapshot),
              ::testing::Contains(
                  std::make_pair(std::string("net.gateway_unreachable"), std::string(kGateway))))
      << Describe(snapshot);
  const medic::v1::Finding* finding = Find(snapshot, "net.gateway_unreachable", kGateway);
  ASSERT_NE(finding, nullptr);
  EXPECT_EQ(finding->evidence().at("method"), "neighbour table");
}

// A configured TCP target whose service closes: refused, named by host:port.
TEST_F(NetworkNamespacesTest, ClosedTcpTarget) {
  Configure(std::string("  targets: [\"") + kService + "\"]\n");
  auto service = std::make_unique<NamespaceListener>(net_.dns(), kDnsA, 8081);
  ASSERT_TRUE(service->ok());
  EXPECT_EQ(NetFindings(Collect()), FindingSet{});

  service->Close();
  medic::v1::Snapshot snapshot = Collect();
  EXPECT_EQ(NetFindings(snapshot), (FindingSet{{"net.target_unreachable", kService}}))
      << Describe(snapshot);
  const medic::v1::Finding* target = Find(snapshot, "net.target_unreachable", kService);
  ASSERT_NE(target, nullptr);
  EXPECT_EQ(target->evidence().at("error"), "connection refused");

  service = std::make_unique<NamespaceListener>(net_.dns(), kDnsA, 8081);
  ASSERT_TRUE(service->ok());
  snapshot = Collect();
  EXPECT_EQ(NetFindings(snapshot), FindingSet{}) << Describe(snapshot);
}

// The technician's view: the agent streams to a collector (both inside the workstation
// namespace, on its loopback) and `medic health HOST` shows the network as notes, with the
// stopped server named and since when.
TEST_F(NetworkNamespacesTest, MedicHealthShowsTheNetworkNotes) {
  // Faster rounds so the finding arrives within a second or two.
  WriteFile(net_.dir().File("agent.yaml"), [&] {
    std::string config =
        AgentConfig(net_, std::string("  targets: [\"") + kService + "\"]\n" +
                              "heartbeat_interval: 1s\n"
                              "reconnect: {initial_backoff: 200ms, max_backoff: 1s}\n");
    const std::string from = "  connectivity: {deadline: 3s}\n";
    config.replace(config.find(from), from.size(),
                   "  connectivity: {interval: 1s, deadline: 900ms}\n"
                   "  network: {interval: 1s}\n");
    return config;
  }());
  NamespaceListener service(net_.dns(), kDnsA, 8081);
  ASSERT_TRUE(service.ok());
  net_.StopDns('A');

  auto in_ws = [&](std::vector<std::string> argv) {
    argv.insert(argv.begin(), {Tool("ip"), "netns", "exec", net_.ws()});
    return argv;
  };
  Process collector(in_ws({kBin + "/medic-collector", "--insecure", "--listen", "127.0.0.1:0",
                           "--db", net_.dir().File("collector.db")}),
                    net_.dir().path(), "collector");
  ASSERT_TRUE(collector.WaitForStdout("listening on", absl::Seconds(20))) << collector.Describe();
  const std::string out = collector.Stdout();
  const size_t at = out.find("listening on ") + 13;
  const std::string address = out.substr(at, out.find(' ', at) - at);
  Process agent(in_ws({kBin + "/medic-agent", "--insecure", "--collector", address, "--config",
                       net_.dir().File("agent.yaml"), "--state-dir", net_.dir().File("state"),
                       "--hostname", "ws-netns"}),
                net_.dir().path(), "agent");

  medic::v1::MachineHealth health;
  const absl::Time end = absl::Now() + absl::Seconds(20);
  bool seen = false;
  while (!seen && absl::Now() < end) {
    RunResult r = RunCommand(in_ws(
        {kBin + "/medic", "--insecure", "--collector", address, "health", "ws-netns", "--json"}));
    health.Clear();
    if (r.exit_code == 0 && google::protobuf::util::JsonStringToMessage(r.out, &health).ok()) {
      bool have_checks = false;
      for (const auto& report : health.reports()) have_checks |= report.probe() == "connectivity";
      for (const auto& f : health.findings()) {
        seen |= have_checks && f.code() == "net.dns_failure" && f.resource() == kDnsA;
      }
    }
    if (!seen) absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(seen) << collector.Describe() << agent.Describe();
  for (const auto& f : health.findings()) {
    if (f.code().starts_with("net.")) {
      EXPECT_EQ(f.resource(), kDnsA) << f.code();
    }
  }

  RunResult text = RunCommand(
      in_ws({kBin + "/medic", "--insecure", "--collector", address, "health", "ws-netns"}));
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("Network\n"));
  EXPECT_THAT(text.out, HasSubstr("  Link      eth0 up"));
  EXPECT_THAT(text.out, HasSubstr("10.77.0.2/24"));
  EXPECT_THAT(text.out, HasSubstr("  Gateway   10.77.0.1 via eth0: 3 of 3 pings answered"));
  EXPECT_THAT(text.out,
              ::testing::ContainsRegex(
                  "  DNS       10\\.77\\.1\\.53: NOT REACHABLE asking for collector\\.lan: "
                  "connection refused \\(since [A-Z][a-z]+ [0-9]+ [0-9:]+ UTC\\)"));
  EXPECT_THAT(text.out, HasSubstr("            10.77.1.54: answered collector.lan in "));
  EXPECT_THAT(text.out, HasSubstr(std::string("  Targets   ") + kService + ": connected in "));
  if (HasFailure()) ADD_FAILURE() << "medic health printed:\n" << text.out;
}

}  // namespace
}  // namespace medic::test
