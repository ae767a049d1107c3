// The collector's capacity, with simulated agents (tests/sim), each on its own gRPC connection:
//  1. ingest throughput: CONNS agents (default 1000) each keep WINDOW probe reports in flight
//     for SECONDS; reports acknowledged per second by a real medic-collector (SQLite, every
//     acknowledged record committed durably: WAL, synchronous=FULL) next to a bare sink that
//     speaks the same protocol and stores nothing (`medic_bench_collector sink`), both run as
//     child processes in this run. Target: collector >= 0.7 x sink.
//  2. AGENTS agents (default 10000) connected to a fresh collector, each sending a probe report
//     every INTERVAL (default 10 s), for DURATION: the collector's RSS per connected agent (RSS
//     with them all, less its RSS before the first connected; target <= 64 KiB), its CPU share
//     (CPU time / wall time, in cores), and the report-to-stored latency (from the report handed
//     to gRPC to its acknowledgement, which the collector sends once the record is committed)
//     p50/p99;
//  3. under that load, fault to ticket: a disk.space_low raised by one agent until the
//     collector's webhook delivers the ticket's create event to a local receiver, p50/p99;
//  4. under that load, a live `dns` diagnostic fanned out to 1000 of those agents: the time
//     until all answered.
//
//   medic_bench_collector COLLECTOR_BIN [AGENTS=10000] [DURATION_S=60] [CONNS=1000] [SECONDS=10]
//   medic_bench_collector sink   (serves the bare sink; prints "listening on ADDRESS")
//
// The agents' process needs 1 descriptor per agent (raise ulimit -n), the collector as many.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "collector/collector.h"
#include "common/log/log.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server_builder.h"
#include "medic/v1/agent.grpc.pb.h"
#include "medic/v1/technician.grpc.pb.h"
#include "tests/sim/fleet.h"
#include "tests/support/http_receiver.h"
#include "tests/support/percentile.h"
#include "tests/support/process.h"

namespace {

using Clock = std::chrono::steady_clock;
using medic::common::StrCat;
using medic::test::Percentile;
using medic::v1::AgentMessage;
using medic::v1::CollectorMessage;

// ---- The bare sink: the agent protocol with no storage behind it. A welcome for the hello,
// then an ack for the highest sequence read, written as soon as the previous write is done.
class SinkStream final : public grpc::ServerBidiReactor<AgentMessage, CollectorMessage> {
 public:
  SinkStream() { StartRead(&in_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    {
      std::lock_guard lock(mu_);
      if (in_.has_hello()) {
        epoch_ = in_.hello().epoch();
        welcome_ = true;
      }
      if (in_.sequence() > to_ack_) to_ack_ = in_.sequence();
    }
    WriteNext();
    StartRead(&in_);
  }
  void OnWriteDone(bool ok) override {
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      if (!ok) return;
    }
    WriteNext();
  }
  void OnDone() override {
    // gRPC calls OnDone once, after every other callback returned.
    delete this;
  }

 private:
  void WriteNext() {
    std::lock_guard lock(mu_);
    if (writing_) return;
    if (welcome_) {
      welcome_ = false;
      out_.Clear();
      out_.mutable_welcome()->set_collector_version("sink");
    } else if (to_ack_ > acked_) {
      acked_ = to_ack_;
      out_.Clear();
      out_.mutable_ack()->set_epoch(epoch_);
      out_.mutable_ack()->set_sequence(acked_);
    } else {
      return;
    }
    writing_ = true;
    StartWrite(&out_);
  }

  AgentMessage in_;
  std::mutex mu_;
  CollectorMessage out_;
  bool writing_ = false;
  bool welcome_ = false;
  uint64_t epoch_ = 0;
  uint64_t to_ack_ = 0;
  uint64_t acked_ = 0;
};

class Sink final : public medic::v1::AgentService::CallbackService {
  grpc::ServerBidiReactor<AgentMessage, CollectorMessage>* Connect(
      grpc::CallbackServerContext*) override {
    return new SinkStream;
  }
};

int ServeSink() {
  Sink sink;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&sink);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    std::fprintf(stderr, "sink: cannot listen on 127.0.0.1\n");
    return 1;
  }
  std::printf("sink listening on 127.0.0.1:%d\n", port);
  std::fflush(stdout);
  server->Wait();
  return 0;
}

// ---- Measuring a child process through /proc.
double CpuSeconds(pid_t pid) {
  std::ifstream in(StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string f;
  double utime = 0, stime = 0;
  for (int i = 3; fields >> f; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stod(f);
    if (i == 15) {
      stime = std::stod(f);
      break;
    }
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long StatusKiB(pid_t pid, const std::string& key) {
  std::ifstream in(StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  }
  return 0;
}

// A probe report the size of a real cpu + memory delta (a dozen observations).
medic::v1::ProbeReport SampleReport(int n) {
  medic::v1::ProbeReport r;
  r.set_probe("cpu");
  r.set_outcome(medic::v1::PROBE_OUTCOME_OK);
  const char* metrics[] = {"cpu.usage_pct",
                           "cpu.iowait_pct",
                           "cpu.steal_pct",
                           "load.1m",
                           "load.5m",
                           "load.15m",
                           "mem.available_bytes",
                           "mem.used_pct",
                           "swap.used_pct",
                           "mem.pressure_some_avg10",
                           "cpu.ctxt_per_s",
                           "cpu.procs_running"};
  for (const char* m : metrics) {
    auto* o = r.add_observations();
    o->set_metric(m);
    o->set_value(n % 97 + 0.25);
    o->set_unit("pct");
  }
  return r;
}

std::vector<std::unique_ptr<medic::sim::SimAgent>> ConnectFleet(int n, const std::string& address,
                                                                const std::string& prefix,
                                                                int fan_site_count,
                                                                double* connect_s) {
  medic::sim::FleetGroup fan, rest;
  fan.prefix = prefix;
  fan.site = "fan";
  fan.subnet = "10.1.0.0/16";
  fan.dns = {"10.1.0.53"};
  rest = fan;
  rest.site = "hq";
  std::vector<std::unique_ptr<medic::sim::SimAgent>> agents;
  const auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    agents.push_back(std::make_unique<medic::sim::SimAgent>(
        StrCat(prefix, "-", i), i < fan_site_count ? fan : rest, address, 1));
    agents.back()->Connect();
  }
  // A connection refused while thousands are opened at once (the listen backlog overflows) ends
  // that agent's stream: it connects again, as a real agent would after its backoff.
  while (Clock::now() - start < std::chrono::seconds(120)) {
    int waiting = 0;
    for (auto& a : agents) {
      if (a->acked() >= 1) continue;
      ++waiting;
      a->Connect();  // a no-op while its stream is open
    }
    if (waiting == 0) break;
    absl::SleepFor(absl::Milliseconds(500));
  }
  *connect_s = std::chrono::duration<double>(Clock::now() - start).count();
  const auto missing =
      std::count_if(agents.begin(), agents.end(), [](const auto& a) { return a->acked() < 1; });
  if (missing > 0) {
    std::fprintf(stderr, "%ld of %d agents did not get their snapshot acknowledged by %s\n",
                 static_cast<long>(missing), n, address.c_str());
    agents.clear();
  }
  return agents;
}

void DisconnectFleet(std::vector<std::unique_ptr<medic::sim::SimAgent>>& agents) {
  for (auto& a : agents) a->Disconnect();
  for (auto& a : agents) a->WaitClosed(absl::Seconds(2));
  agents.clear();
}

// Reports acknowledged per second with `conns` agents keeping `window` reports in flight each.
double Throughput(const std::string& address, int conns, int seconds, const std::string& prefix) {
  double connect_s = 0;
  auto agents = ConnectFleet(conns, address, prefix, 0, &connect_s);
  if (agents.empty()) return 0;
  constexpr uint64_t kWindow = 4;
  const medic::v1::ProbeReport report = SampleReport(1);
  auto acked = [&] {
    uint64_t sum = 0;
    for (auto& a : agents) sum += a->acked();
    return sum;
  };
  auto pump = [&](Clock::time_point until) {
    while (Clock::now() < until) {
      bool sent = false;
      for (auto& a : agents) {
        if (a->sent() - a->acked() < kWindow) {
          a->Report(report);
          sent = true;
        }
      }
      if (!sent) absl::SleepFor(absl::Microseconds(200));
    }
  };
  pump(Clock::now() + std::chrono::seconds(2));  // warm-up: the pipes fill
  const uint64_t a0 = acked();
  const auto t0 = Clock::now();
  pump(t0 + std::chrono::seconds(seconds));
  const uint64_t a1 = acked();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  DisconnectFleet(agents);
  return static_cast<double>(a1 - a0) / s;
}

std::string CollectorYaml(const std::string& dir, const std::string& webhook) {
  // Limits raised so that the benchmark's agents, all from 127.0.0.1 and reporting flat out,
  // are measured rather than refused; offline_after longer than the run.
  return StrCat("listen: 127.0.0.1:0\nhttp_listen: \"\"\ndb: ", dir, "/collector.db\n",
                "log_level: LOG_LEVEL_WARNING\noffline_after: 600s\n",
                "limits:\n  max_streams_per_peer: 20000\n  records_per_second: 100000\n",
                "  record_burst: 100000\n",
                webhook.empty() ? "" : StrCat("outbound:\n  webhook_url: ", webhook, "\n"));
}

std::unique_ptr<medic::test::Process> StartChild(std::vector<std::string> argv,
                                                 const std::string& dir, const std::string& name,
                                                 std::string* address) {
  auto p = std::make_unique<medic::test::Process>(std::move(argv), dir, name);
  if (!p->WaitForStdout("listening on", absl::Seconds(20))) {
    std::fprintf(stderr, "%s did not start:\n%s\n", name.c_str(), p->Describe().c_str());
    return nullptr;
  }
  const std::string out = p->Stdout();
  const size_t at = out.find("listening on ") + 13;
  *address = out.substr(at, out.find_first_of(" \n", at) - at);
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "sink") return ServeSink();
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: medic_bench_collector COLLECTOR_BIN [AGENTS] [DURATION_S] [CONNS] "
                 "[SECONDS]\n");
    return 2;
  }
  const std::string collector_bin = argv[1];
  const int agents_n = argc > 2 ? std::atoi(argv[2]) : 10000;
  const int duration_s = argc > 3 ? std::atoi(argv[3]) : 60;
  const int conns = argc > 4 ? std::atoi(argv[4]) : 1000;
  const int seconds = argc > 5 ? std::atoi(argv[5]) : 10;
  const std::string self = "/proc/self/exe";
  char self_path[4096] = {};
  if (readlink(self.c_str(), self_path, sizeof(self_path) - 1) <= 0) return 1;
  medic::common::InitLogging("bench", medic::v1::LOG_LEVEL_ERROR);
  medic::test::TempDir dir;
  int failures = 0;

  // 1. Throughput: the sink, then the collector.
  double sink_rps = 0, collector_rps = 0;
  {
    std::string address;
    auto sink = StartChild({self_path, "sink"}, dir.path(), "sink", &address);
    if (sink == nullptr) return 1;
    sink_rps = Throughput(address, conns, seconds, "sink");
  }
  {
    medic::test::TempDir cdir;
    medic::test::WriteFile(cdir.File("collector.yaml"), CollectorYaml(cdir.path(), ""));
    std::string address;
    auto collector =
        StartChild({collector_bin, "--insecure", "--config", cdir.File("collector.yaml")},
                   cdir.path(), "collector", &address);
    if (collector == nullptr) return 1;
    collector_rps = Throughput(address, conns, seconds, "thr");
  }
  const double ratio = sink_rps > 0 ? collector_rps / sink_rps : 0;
  std::printf("ingest over %d connections, %d s, reports of 12 observations:\n", conns, seconds);
  std::printf("  bare gRPC sink        %8.0f reports/s\n", sink_rps);
  std::printf("  collector (SQLite)    %8.0f reports/s, durable\n", collector_rps);
  std::printf("  collector / sink      %8.2f (target >= 0.70): %s\n", ratio,
              ratio >= 0.7 ? "PASS" : "MISS");
  std::fflush(stdout);
  if (sink_rps == 0 || collector_rps == 0) ++failures;

  // 2.-4. A fleet connected to a fresh collector with a webhook to a local receiver.
  medic::test::HttpReceiver receiver;
  medic::test::TempDir cdir;
  medic::test::WriteFile(cdir.File("collector.yaml"),
                         CollectorYaml(cdir.path(), receiver.Url("/hook")));
  std::string address;
  auto collector =
      StartChild({collector_bin, "--insecure", "--config", cdir.File("collector.yaml")},
                 cdir.path(), "collector", &address);
  if (collector == nullptr) return 1;
  const pid_t pid = collector->pid();
  absl::SleepFor(absl::Seconds(1));
  const long rss_base = StatusKiB(pid, "VmRSS");
  double connect_s = 0;
  constexpr int kFanOut = 1000;
  auto agents = ConnectFleet(agents_n, address, "ws", std::min(kFanOut, agents_n), &connect_s);
  if (agents.empty()) return 1;
  std::printf("%d agents connected to a fresh collector in %.1f s (every snapshot acknowledged)\n",
              agents_n, connect_s);
  std::fflush(stdout);

  // Reports every `interval`, spread evenly; a latency sample per report: send to ack.
  const absl::Duration interval = absl::Seconds(10);
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<double> latency_ms;
  uint64_t reports_sent = 0, reports_unacked = 0;
  std::thread reporter([&] {
    struct Pending {
      size_t agent;
      uint64_t sequence;
      Clock::time_point at;
    };
    std::vector<Pending> pending;
    const medic::v1::ProbeReport report = SampleReport(2);
    const auto start = Clock::now();
    const auto step = absl::ToChronoNanoseconds(interval) / agents.size();
    size_t next = 0;
    uint64_t round = 0;
    while (!stop) {
      const auto now = Clock::now();
      while (start + step * (round * agents.size() + next) <= now) {
        agents[next]->Report(report);
        pending.push_back({next, agents[next]->sent(), Clock::now()});
        ++reports_sent;
        if (++next == agents.size()) next = 0, ++round;
      }
      const auto checked = Clock::now();
      std::vector<double> done;
      std::erase_if(pending, [&](const Pending& p) {
        if (agents[p.agent]->acked() < p.sequence) return false;
        done.push_back(std::chrono::duration<double, std::milli>(checked - p.at).count());
        return true;
      });
      {
        std::lock_guard lock(mu);
        latency_ms.insert(latency_ms.end(), done.begin(), done.end());
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    // What is still in flight when the load stops gets up to 5 s to be acknowledged.
    const auto drain_until = Clock::now() + std::chrono::seconds(5);
    while (!pending.empty() && Clock::now() < drain_until) {
      std::erase_if(pending,
                    [&](const Pending& p) { return agents[p.agent]->acked() >= p.sequence; });
      absl::SleepFor(absl::Milliseconds(10));
    }
    reports_unacked = pending.size();
  });

  // Warm-up: one full round of reports, then the measured window.
  absl::SleepFor(interval);
  {
    std::lock_guard lock(mu);
    latency_ms.clear();
  }
  const double cpu0 = CpuSeconds(pid);
  const auto t0 = Clock::now();

  // 3. Faults during the window, spread over it.
  std::vector<double> ticket_ms;
  int lost = 0;
  const int trials = std::max(10, duration_s * 2);
  const auto trial_gap = std::chrono::milliseconds(duration_s * 1000 / trials);
  for (int t = 0; t < trials; ++t) {
    const auto trial_start = Clock::now();
    medic::v1::Finding f;
    f.set_code("disk.space_low");
    f.set_resource(StrCat("/bench/", t));
    f.set_severity(medic::v1::SEVERITY_WARNING);
    f.set_probe("filesystems");
    auto& a = agents[static_cast<size_t>(t) * 7919 % agents.size()];
    const auto raised = Clock::now();
    a->Raise(f);
    bool found = false;
    while (!found && Clock::now() - raised < std::chrono::seconds(20)) {
      for (const auto& c : receiver.Calls()) {
        if (c.at >= raised && c.body.find(f.resource()) != std::string::npos &&
            c.body.find("\"event\":\"create\"") != std::string::npos) {
          ticket_ms.push_back(std::chrono::duration<double, std::milli>(c.at - raised).count());
          found = true;
          break;
        }
      }
      if (!found) absl::SleepFor(absl::Milliseconds(2));
    }
    if (!found) ++lost;
    std::this_thread::sleep_until(trial_start + trial_gap);
  }
  std::this_thread::sleep_until(t0 + std::chrono::seconds(duration_s));
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = CpuSeconds(pid) - cpu0;
  const long rss = StatusKiB(pid, "VmRSS");
  std::vector<double> latencies;
  {
    std::lock_guard lock(mu);
    latencies = latency_ms;
  }

  // 4. Fan-out under the same load.
  std::vector<double> fanout_s;
  int fan_answered_min = kFanOut;
  {
    auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    auto stub = medic::v1::TechnicianService::NewStub(channel);
    for (int round = 0; round < 3; ++round) {
      medic::v1::RunDiagnosticRequest request;
      request.mutable_selector()->set_site("fan");
      request.set_check(medic::v1::DIAGNOSTIC_CHECK_DNS);
      (*request.mutable_params())["name"] = "intranet.corp";
      *request.mutable_deadline() = medic::common::ToProtoDuration(absl::Seconds(30));
      grpc::ClientContext context;
      const auto start = Clock::now();
      auto reader = stub->RunDiagnostic(&context, request);
      medic::v1::DiagnosticResult result;
      int answered = 0;
      while (reader->Read(&result)) ++answered;
      const double s = std::chrono::duration<double>(Clock::now() - start).count();
      grpc::Status status = reader->Finish();
      if (!status.ok()) {
        std::fprintf(stderr, "fan-out failed: %s\n", status.error_message().c_str());
        ++failures;
        break;
      }
      fan_answered_min = std::min(fan_answered_min, answered);
      fanout_s.push_back(s);
    }
  }
  stop = true;
  reporter.join();

  const int fan_n = std::min(kFanOut, agents_n);
  std::printf("%d agents reporting every %s, %.0f s measured:\n", agents_n,
              medic::common::HumanDuration(interval).c_str(), wall);
  const double per_agent = static_cast<double>(rss - rss_base) / agents_n;
  std::printf(
      "  collector RSS         %ld MiB (%ld MiB before the agents): %.1f KiB per agent "
      "(target <= 64): %s\n",
      rss / 1024, rss_base / 1024, per_agent, per_agent <= 64 ? "PASS" : "MISS");
  std::printf("  collector CPU         %.2f cores (%.0f%% of this machine's %u)\n", cpu / wall,
              100 * cpu / wall / std::thread::hardware_concurrency(),
              std::thread::hardware_concurrency());
  std::printf(
      "  report -> stored      p50 %.1f ms, p99 %.1f ms, max %.1f ms (n=%zu, %lu still "
      "unacknowledged 5 s after the load stopped)\n",
      Percentile(latencies, 0.5), Percentile(latencies, 0.99), Percentile(latencies, 1.0),
      latencies.size(), static_cast<unsigned long>(reports_unacked));
  std::printf(
      "  fault -> ticket       p50 %.1f ms, p99 %.1f ms, max %.1f ms (n=%zu, %d lost; "
      "finding sent to webhook received)\n",
      Percentile(ticket_ms, 0.5), Percentile(ticket_ms, 0.99), Percentile(ticket_ms, 1.0),
      ticket_ms.size(), lost);
  std::printf(
      "  dns fan-out to %d    median %.3f s, worst %.3f s (fewest answers in a round: "
      "%d)\n",
      fan_n, Percentile(fanout_s, 0.5), Percentile(fanout_s, 1.0), fan_answered_min);
  std::fflush(stdout);
  (void)reports_sent;
  DisconnectFleet(agents);
  collector->Stop(SIGTERM);
  return failures == 0 && lost == 0 ? 0 : 1;
}
