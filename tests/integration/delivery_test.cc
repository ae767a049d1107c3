// Delivery under faults, with real processes over real TCP on loopback: agents killed with
// SIGKILL while writing their spool, a collector killed with SIGKILL and restarted, and a
// collector away long enough for an agent's spool to reach its cap. Ground truth is the
// store's delivery ledger (one row per committed record, duplicates not prevented there, so
// they would show) against the sequence numbers each agent epoch produced: sequences are
// gap-free per epoch, so a hole is a lost record unless a gap record names it.
//
// Scaled to run in seconds; scripts/bench/delivery runs the same with bigger numbers through
// the MEDIC_DELIVERY_* environment variables.

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "medic/v1/agent.pb.h"
#include "tests/support/process.h"

namespace medic::test {
namespace {

const std::string kBin = MEDIC_BIN_DIR;

// A system tool's full path (Process and RunCommand exec without a PATH search).
std::string Tool(const std::string& name) {
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    if (access((dir + name).c_str(), X_OK) == 0) return dir + name;
  }
  return name;
}

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

// Probes every 100 ms, so agents produce records fast; nothing that leaves loopback.
std::string AgentConfig(const std::string& spool_extra) {
  return absl::StrCat(R"yaml(
heartbeat_interval: 1s
reconnect: {initial_backoff: 100ms, max_backoff: 1s}
probes:
  cpu: {interval: 100ms}
  memory: {interval: 100ms}
  filesystems: {interval: 200ms}
  network: {interval: 1s}
  connectivity: {disabled: true}
  printers: {disabled: true}
filesystems:
  space_low_pct: 99.999
  space_critical_pct: 0.0001
)yaml",
                      spool_extra);
}

struct Ledger {
  struct Epoch {
    std::vector<uint64_t> sequences;  // as committed, sorted
    std::set<uint64_t> declared_dropped;
    uint64_t dropped_findings = 0;
    int64_t last_sent_ms = 0;
  };
  std::map<std::string, std::map<uint64_t, Epoch>> machines;  // hostname → epoch → rows
  uint64_t rows = 0;
  uint64_t duplicates = 0;
  uint64_t holes = 0;  // missing sequences no gap record names
  uint64_t gaps = 0;
  uint64_t gap_dropped = 0;
};

Ledger ReadLedger(const std::string& db_path) {
  Ledger ledger;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return ledger;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(
          db,
          "SELECT m.hostname, d.epoch, d.sequence, d.sent_ms, d.gap FROM delivered d "
          "JOIN machines m USING (machine_id) ORDER BY 1, 2, 3",
          -1, &stmt, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return ledger;
  }
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    const std::string host = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    Ledger::Epoch& epoch = ledger.machines[host][sqlite3_column_int64(stmt, 1)];
    epoch.sequences.push_back(sqlite3_column_int64(stmt, 2));
    epoch.last_sent_ms = std::max<int64_t>(epoch.last_sent_ms, sqlite3_column_int64(stmt, 3));
    ++ledger.rows;
    if (sqlite3_column_type(stmt, 4) == SQLITE_BLOB ||
        sqlite3_column_type(stmt, 4) == SQLITE_TEXT) {
      medic::v1::Gap gap;
      gap.ParseFromArray(sqlite3_column_blob(stmt, 4), sqlite3_column_bytes(stmt, 4));
      Ledger::Epoch& of = ledger.machines[host][gap.epoch()];
      of.declared_dropped.insert(gap.sequences().begin(), gap.sequences().end());
      of.dropped_findings += gap.dropped_findings();
      ++ledger.gaps;
      ledger.gap_dropped += gap.sequences_size();
    }
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  for (auto& [host, epochs] : ledger.machines) {
    for (auto& [number, epoch] : epochs) {
      std::set<uint64_t> seen;
      for (uint64_t s : epoch.sequences) {
        if (!seen.insert(s).second) ++ledger.duplicates;
      }
      const uint64_t last = epoch.sequences.empty() ? 0 : *seen.rbegin();
      for (uint64_t s = 1; s <= last; ++s) {
        if (!seen.contains(s) && !epoch.declared_dropped.contains(s)) ++ledger.holes;
      }
    }
  }
  return ledger;
}

class DeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    address_ = absl::StrCat("127.0.0.1:", FreePort());
    WriteFile(dir_.File("collector.yaml"), "heartbeat_interval: 1s\noffline_after: 5s\n");
  }

  std::unique_ptr<Process> StartCollector(const std::string& name) {
    auto collector = std::make_unique<Process>(
        std::vector<std::string>{kBin + "/medic-collector", "--insecure", "--listen", address_,
                                 "--db", db(), "--config", dir_.File("collector.yaml")},
        dir_.path(), name);
    EXPECT_TRUE(collector->WaitForStdout("listening on", absl::Seconds(20)))
        << collector->Describe();
    return collector;
  }

  std::unique_ptr<Process> StartAgent(const std::string& hostname, const std::string& log_name,
                                      const std::string& spool_extra = "") {
    const std::string config = dir_.File("agent-" + hostname + ".yaml");
    WriteFile(config, AgentConfig(spool_extra));
    return std::make_unique<Process>(
        std::vector<std::string>{kBin + "/medic-agent", "--insecure", "--collector", address_,
                                 "--config", config, "--state-dir", state_dir(hostname),
                                 "--hostname", hostname},
        dir_.path(), log_name);
  }

  std::string db() const { return db_.empty() ? dir_.File("collector.db") : db_; }
  std::string state_dir(const std::string& hostname) const {
    return dir_.File("state-" + hostname);
  }

  // The epoch an agent logged at start.
  static uint64_t EpochOf(Process& agent) {
    if (!agent.WaitForStderr("reporting to", absl::Seconds(20))) return 0;
    const std::string out = agent.Stderr();
    const size_t at = out.find(", epoch ");
    return at == std::string::npos ? 0 : std::strtoull(out.c_str() + at + 8, nullptr, 10);
  }

  // Waits until the ledger holds `epoch` of `hostname`: every earlier epoch of it has then
  // been delivered, since an agent delivers its epochs oldest first.
  bool WaitForEpoch(const std::string& hostname, uint64_t epoch, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      Ledger ledger = ReadLedger(db());
      if (ledger.machines[hostname].contains(epoch)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

  static uint64_t DirBytes(const std::string& path) {
    uint64_t total = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
      if (e.is_regular_file(ec)) total += e.file_size(ec);
    }
    return total;
  }

  // Drained: a record `hostname` made at or after `since_ms` is committed; records are
  // committed in order, so everything it made before is in too.
  bool WaitForRecordAfter(const std::string& hostname, int64_t since_ms, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      Ledger ledger = ReadLedger(db());
      for (const auto& [e, epoch] : ledger.machines[hostname]) {
        if (epoch.last_sent_ms >= since_ms) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

  TempDir dir_;
  std::string address_;
  std::string db_;  // when not the default
};

// Issue 9, test 2: an agent killed with SIGKILL at random points while it writes its spool.
TEST_F(DeliveryTest, AgentKilledAtRandomPointsReopensItsSpoolAndLosesNothing) {
  const int kills = EnvInt("MEDIC_DELIVERY_AGENT_KILLS", 15);
  auto collector = StartCollector("collector");
  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> pause_ms(50, 700);
  int started = 0;
  for (int i = 0; i < kills; ++i) {
    auto agent = StartAgent("kill-ws", absl::StrCat("agent-", i));
    ASSERT_NE(EpochOf(*agent), 0u) << "run " << i << " did not start:\n" << agent->Describe();
    ++started;
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(random)));
    agent->Stop(SIGKILL);
  }
  auto agent = StartAgent("kill-ws", "agent-final");
  const uint64_t final_epoch = EpochOf(*agent);
  ASSERT_NE(final_epoch, 0u) << agent->Describe();
  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(WaitForEpoch("kill-ws", final_epoch, absl::Seconds(40))) << agent->Describe();
  const double drain_s = absl::ToDoubleSeconds(absl::Now() - t0);
  agent->Stop(SIGTERM);
  Ledger ledger = ReadLedger(db());
  const auto& epochs = ledger.machines["kill-ws"];
  std::printf(
      "agent SIGKILLed %d times: %zu epochs in the store, %llu records committed, %llu "
      "duplicates, %llu lost, %llu gap records; all earlier runs delivered %.1f s after the "
      "last start\n",
      kills, epochs.size(), static_cast<unsigned long long>(ledger.rows),
      static_cast<unsigned long long>(ledger.duplicates),
      static_cast<unsigned long long>(ledger.holes), static_cast<unsigned long long>(ledger.gaps),
      drain_s);
  EXPECT_EQ(started, kills) << "every restart reopened the spool by itself";
  EXPECT_EQ(ledger.duplicates, 0u);
  EXPECT_EQ(ledger.holes, 0u);
  EXPECT_EQ(ledger.gaps, 0u);
  // Runs killed before their first snapshot was spooled left nothing; the others are all in.
  EXPECT_GE(epochs.size(), 2u);
  EXPECT_TRUE(collector->Running());
}

// Issue 9, test 1 (scaled: a few real agents instead of 1,000 simulated ones): the collector
// killed with SIGKILL and restarted, three times.
TEST_F(DeliveryTest, CollectorKilledThreeTimesLosesNothingAndDuplicatesNothing) {
  const int agents = EnvInt("MEDIC_DELIVERY_AGENTS", 3);
  const int kills = EnvInt("MEDIC_DELIVERY_COLLECTOR_KILLS", 3);
  auto collector = StartCollector("collector-0");
  std::vector<std::unique_ptr<Process>> fleet;
  for (int i = 0; i < agents; ++i) {
    fleet.push_back(StartAgent(absl::StrCat("ck-ws-", i), absl::StrCat("agent-", i)));
    ASSERT_NE(EpochOf(*fleet.back()), 0u) << fleet.back()->Describe();
  }
  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> run_ms(1000, 2500);
  double worst_drain_s = 0;
  for (int k = 0; k < kills; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(run_ms(random)));
    ASSERT_EQ(collector->Stop(SIGKILL), 128 + SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // agents spool meanwhile
    const int64_t restart_ms = absl::ToUnixMillis(absl::Now());
    collector = StartCollector(absl::StrCat("collector-", k + 1));
    // Drained: every agent has a record made after the restart committed, and records are
    // committed in order, so everything it made before is in too.
    const absl::Time t0 = absl::Now();
    bool drained = false;
    while (!drained && absl::Now() - t0 < absl::Seconds(60)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      Ledger ledger = ReadLedger(db());
      drained = true;
      for (int i = 0; i < agents; ++i) {
        int64_t last = 0;
        for (const auto& [e, epoch] : ledger.machines[absl::StrCat("ck-ws-", i)]) {
          last = std::max(last, epoch.last_sent_ms);
        }
        drained &= last >= restart_ms;
      }
    }
    ASSERT_TRUE(drained) << "backlog not drained within 60 s of restart " << k + 1;
    worst_drain_s = std::max(worst_drain_s, absl::ToDoubleSeconds(absl::Now() - t0));
  }
  for (auto& agent : fleet) agent->Stop(SIGTERM);
  Ledger ledger = ReadLedger(db());
  std::printf(
      "collector SIGKILLed %d times under %d agents: %llu records committed, %llu duplicates, "
      "%llu lost, %llu gap records; backlog drained at most %.1f s after a restart\n",
      kills, agents, static_cast<unsigned long long>(ledger.rows),
      static_cast<unsigned long long>(ledger.duplicates),
      static_cast<unsigned long long>(ledger.holes), static_cast<unsigned long long>(ledger.gaps),
      worst_drain_s);
  EXPECT_EQ(ledger.machines.size(), static_cast<size_t>(agents));
  EXPECT_EQ(ledger.duplicates, 0u);
  EXPECT_EQ(ledger.holes, 0u);
  EXPECT_EQ(ledger.gaps, 0u);
  EXPECT_LT(worst_drain_s, 60.0);
}

// Issue 9, test 3 (scaled: seconds instead of 10 minutes, a 48 KiB cap): the collector away
// while an agent keeps collecting.
TEST_F(DeliveryTest, CollectorAwayKeepsTheSpoolWithinItsCapAndSaysWhatWasDropped) {
  const int away_s = EnvInt("MEDIC_DELIVERY_AWAY_SECONDS", 12);
  constexpr uint64_t kCap = 48 * 1024;
  auto agent = StartAgent("away-ws", "agent", absl::StrCat("spool: {max_bytes: ", kCap, "}\n"));
  ASSERT_NE(EpochOf(*agent), 0u) << agent->Describe();
  uint64_t most = 0;
  const absl::Time until = absl::Now() + absl::Seconds(away_s);
  while (absl::Now() < until) {
    most = std::max(most, DirBytes(state_dir("away-ws") + "/spool"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto collector = StartCollector("collector");
  // Delivered when a record made after the collector came back is committed.
  const int64_t back_ms = absl::ToUnixMillis(absl::Now());
  const absl::Time t0 = absl::Now();
  Ledger ledger;
  while (absl::Now() - t0 < absl::Seconds(30)) {
    ledger = ReadLedger(db());
    int64_t last = 0;
    for (const auto& [e, epoch] : ledger.machines["away-ws"])
      last = std::max(last, epoch.last_sent_ms);
    if (last >= back_ms) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  agent->Stop(SIGTERM);
  ledger = ReadLedger(db());
  uint64_t dropped_findings = 0;
  for (const auto& [e, epoch] : ledger.machines["away-ws"])
    dropped_findings += epoch.dropped_findings;
  std::printf(
      "collector away %d s: spool peaked at %llu bytes (cap %llu); %llu records delivered, %llu "
      "gap records naming %llu dropped records (%llu findings), %llu lost unannounced, %llu "
      "duplicates\n",
      away_s, static_cast<unsigned long long>(most), static_cast<unsigned long long>(kCap),
      static_cast<unsigned long long>(ledger.rows), static_cast<unsigned long long>(ledger.gaps),
      static_cast<unsigned long long>(ledger.gap_dropped),
      static_cast<unsigned long long>(dropped_findings),
      static_cast<unsigned long long>(ledger.holes),
      static_cast<unsigned long long>(ledger.duplicates));
  // The cap, plus one segment (cap / 8) that a compaction briefly holds twice.
  EXPECT_LE(most, kCap + kCap / 8);
  EXPECT_GT(ledger.gaps, 0u) << "the test should have filled the spool; make it run longer";
  EXPECT_EQ(ledger.holes, 0u) << "every missing record is named by a gap record";
  EXPECT_EQ(dropped_findings, 0u) << "findings are dropped last";
  EXPECT_EQ(ledger.duplicates, 0u);
}

// Issue 9, test 4: the collector's database on a filesystem that fills up (a small tmpfs).
TEST_F(DeliveryTest, FullDatabaseDiskBecomesBackpressureAndRecoversWithoutRestart) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root (CI runs as root)";
  const std::string mount_point = dir_.File("dbdisk");
  ASSERT_EQ(mkdir(mount_point.c_str(), 0700), 0);
  ASSERT_EQ(mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=4m"), 0) << strerror(errno);
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point};
  db_ = mount_point + "/collector.db";
  auto collector = StartCollector("collector");
  auto agent = StartAgent("disk-ws", "agent");
  ASSERT_NE(EpochOf(*agent), 0u) << agent->Describe();
  ASSERT_TRUE(WaitForRecordAfter("disk-ws", absl::ToUnixMillis(absl::Now()), absl::Seconds(20)))
      << collector->Describe();

  // Fill the disk to the last byte.
  const std::string filler = mount_point + "/filler";
  {
    int fd = open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    std::string block(64 * 1024, 'f');
    while (write(fd, block.data(), block.size()) > 0) {
    }
    std::string byte(1, 'f');
    while (write(fd, byte.data(), 1) > 0) {
    }
    close(fd);
  }
  const uint64_t rows_when_full = ReadLedger(db()).rows;
  std::this_thread::sleep_for(std::chrono::seconds(EnvInt("MEDIC_DELIVERY_FULL_SECONDS", 4)));
  const uint64_t rows_while_full = ReadLedger(db()).rows;
  const bool refused = collector->Stderr().find("disk is full") != std::string::npos ||
                       collector->Stdout().find("disk is full") != std::string::npos;
  EXPECT_TRUE(collector->Running()) << collector->Describe();
  EXPECT_TRUE(refused) << "the collector should say its disk is full\n" << collector->Describe();

  unlink(filler.c_str());
  const int64_t freed_ms = absl::ToUnixMillis(absl::Now());
  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(WaitForRecordAfter("disk-ws", freed_ms, absl::Seconds(30)))
      << "no recovery after space returned\n"
      << collector->Describe() << agent->Describe();
  const double recovery_s = absl::ToDoubleSeconds(absl::Now() - t0);
  agent->Stop(SIGTERM);
  Ledger ledger = ReadLedger(db());
  std::printf(
      "collector database disk full: %llu records committed while full (at most a batch in "
      "flight), recovered %.1f s after space returned, %llu records in all, %llu lost, %llu "
      "duplicates\n",
      static_cast<unsigned long long>(rows_while_full - rows_when_full), recovery_s,
      static_cast<unsigned long long>(ledger.rows), static_cast<unsigned long long>(ledger.holes),
      static_cast<unsigned long long>(ledger.duplicates));
  EXPECT_TRUE(collector->Running());
  EXPECT_EQ(ledger.holes, 0u) << "nothing acknowledged that was not stored";
  EXPECT_EQ(ledger.duplicates, 0u);
  collector->Stop(SIGTERM);
}

// Issue 9, test 5 (scaled: seconds instead of minutes): the agent and the collector in two
// network namespaces joined by a veth pair; 30% packet loss (nftables), the link down, then
// a blackhole (every packet dropped), one after the other.
TEST_F(DeliveryTest, NetworkFaultsBetweenNamespacesLoseAndDuplicateNothing) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root (CI runs as root)";
  const int fault_s = EnvInt("MEDIC_DELIVERY_FAULT_SECONDS", 6);
  const std::string agent_ns = absl::StrCat("medic-dl-", getpid(), "-a");
  const std::string collector_ns = absl::StrCat("medic-dl-", getpid(), "-c");
  struct Namespaces {
    std::vector<std::string> names;
    ~Namespaces() {
      for (const auto& ns : names) RunCommand({Tool("ip"), "netns", "delete", ns});
    }
  } namespaces{{agent_ns, collector_ns}};
  auto must = [](std::vector<std::string> argv) {
    RunResult r = RunCommand(argv, absl::Seconds(10));
    EXPECT_EQ(r.exit_code, 0) << absl::StrJoin(argv, " ") << ": " << r.err;
    return r.exit_code == 0;
  };
  for (const auto& ns : namespaces.names) {
    ASSERT_TRUE(must({Tool("ip"), "netns", "add", ns}));
    ASSERT_TRUE(must({Tool("ip"), "-n", ns, "link", "set", "lo", "up"}));
  }
  ASSERT_TRUE(must({Tool("ip"), "-n", agent_ns, "link", "add", "eth0", "type", "veth", "peer",
                    "name", "eth0", "netns", collector_ns}));
  ASSERT_TRUE(must({Tool("ip"), "-n", agent_ns, "addr", "add", "10.78.0.2/24", "dev", "eth0"}));
  ASSERT_TRUE(must({Tool("ip"), "-n", collector_ns, "addr", "add", "10.78.0.1/24", "dev", "eth0"}));
  ASSERT_TRUE(must({Tool("ip"), "-n", agent_ns, "link", "set", "eth0", "up"}));
  ASSERT_TRUE(must({Tool("ip"), "-n", collector_ns, "link", "set", "eth0", "up"}));

  address_ = "10.78.0.1:7070";
  auto collector = std::make_unique<Process>(
      std::vector<std::string>{Tool("ip"), "netns", "exec", collector_ns, kBin + "/medic-collector",
                               "--listen", address_, "--db", db(), "--config",
                               dir_.File("collector.yaml")},
      dir_.path(), "collector");
  ASSERT_TRUE(collector->WaitForStdout("listening on", absl::Seconds(20))) << collector->Describe();
  // Off loopback the collector runs as shipped, with TLS: the agent enrolls with a one-use
  // token, as a new machine would.
  RunResult token =
      RunCommand({Tool("ip"), "netns", "exec", collector_ns, kBin + "/medic", "--collector",
                  address_, "--ca-file", dir_.File("ca.pem"), "--token-file",
                  dir_.File("admin.token"), "enroll-tokens", "create", "--uses", "1"});
  ASSERT_EQ(token.exit_code, 0) << token.err;
  const std::string secret(absl::StripAsciiWhitespace(token.out));
  WriteFile(dir_.File("agent-net-ws.yaml"),
            absl::StrCat(AgentConfig(""), "\nenrollment_token: \"", secret,
                         "\"\nsecurity:\n  ca_file: \"", dir_.File("ca.pem"), "\"\n"));
  auto agent = std::make_unique<Process>(
      std::vector<std::string>{Tool("ip"), "netns", "exec", agent_ns, kBin + "/medic-agent",
                               "--collector", address_, "--config", dir_.File("agent-net-ws.yaml"),
                               "--state-dir", state_dir("net-ws"), "--hostname", "net-ws"},
      dir_.path(), "agent");
  ASSERT_NE(EpochOf(*agent), 0u) << agent->Describe();
  ASSERT_TRUE(WaitForRecordAfter("net-ws", absl::ToUnixMillis(absl::Now()), absl::Seconds(20)))
      << agent->Describe() << collector->Describe();

  auto nft = [&](const std::string& rules) {
    WriteFile(dir_.File("rules.nft"), rules);
    return must({Tool("ip"), "netns", "exec", agent_ns, Tool("nft"), "-f", dir_.File("rules.nft")});
  };
  auto pause = [&] { std::this_thread::sleep_for(std::chrono::seconds(fault_s)); };
  // 30% loss both ways.
  ASSERT_TRUE(
      nft("table inet medicdl {\n"
          "  chain in { type filter hook input priority 0; numgen random mod 100 < 30 drop; }\n"
          "  chain out { type filter hook output priority 0; numgen random mod 100 < 30 drop; }\n"
          "}\n"));
  pause();
  ASSERT_TRUE(must(
      {Tool("ip"), "netns", "exec", agent_ns, Tool("nft"), "delete", "table", "inet", "medicdl"}));
  // The link down.
  ASSERT_TRUE(must({Tool("ip"), "-n", agent_ns, "link", "set", "eth0", "down"}));
  pause();
  ASSERT_TRUE(must({Tool("ip"), "-n", agent_ns, "link", "set", "eth0", "up"}));
  // A blackhole.
  ASSERT_TRUE(
      nft("table inet medicdl {\n"
          "  chain in { type filter hook input priority 0; ip saddr 10.78.0.1 drop; }\n"
          "  chain out { type filter hook output priority 0; ip daddr 10.78.0.1 drop; }\n"
          "}\n"));
  pause();
  ASSERT_TRUE(must(
      {Tool("ip"), "netns", "exec", agent_ns, Tool("nft"), "delete", "table", "inet", "medicdl"}));
  const int64_t healed_ms = absl::ToUnixMillis(absl::Now());
  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(WaitForRecordAfter("net-ws", healed_ms, absl::Seconds(90)))
      << agent->Describe() << collector->Describe();
  const double caught_up_s = absl::ToDoubleSeconds(absl::Now() - t0);
  agent->Stop(SIGTERM);
  Ledger ledger = ReadLedger(db());
  std::printf(
      "network faults (%d s each: 30%% loss, link down, blackhole): %llu records committed, %llu "
      "lost, %llu duplicates, %llu gap records; caught up %.1f s after the network healed\n",
      fault_s, static_cast<unsigned long long>(ledger.rows),
      static_cast<unsigned long long>(ledger.holes),
      static_cast<unsigned long long>(ledger.duplicates),
      static_cast<unsigned long long>(ledger.gaps), caught_up_s);
  EXPECT_EQ(ledger.holes, 0u);
  EXPECT_EQ(ledger.duplicates, 0u);
  EXPECT_EQ(ledger.gaps, 0u);
}

}  // namespace
}  // namespace medic::test
