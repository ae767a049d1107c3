// The fault engine when a whole site goes dark: N machines stop sending heartbeats at once
// (their last ones spread over a 10 s report interval, as a fleet's are), the engine turns them
// into host.offline outage incidents, then they all come back and the incidents resolve. Prints
// the engine's CPU time for each phase and N, and the ratio to the previous N: about 2 when the
// work grows linearly, about 4 when it grows with N².
//
//   medic_bench_mass_offline [LAYOUT=all] [N...=1000 2000 4000 8000]
//
// Layouts (topology as agents report it):
//   subnet  every machine on one site and one /16 subnet: one subnet incident
//   fan     scripts/bench/collector's fleet: 10% on site "fan", 90% on site "hq", one subnet,
//           so the fan site's machines first get host incidents the subnet incident then absorbs
//   site    one site of /24 subnets of 250 machines each: one site incident
//   bare    no topology (agents that never reported it): one host incident each
//   branch  branch offices of 50 machines, each its own site and /24 subnet, all losing power
//           while one machine per office stays up (on a UPS): one subnet incident per office,
//           each decided at the end of the window
//   slow    as subnet, but the machines drop out one after another over 10 minutes (a site
//           losing power floor by floor): too few are out when a window ends for a shared
//           cause, so each gets a host incident
//
// The engine is driven as the collector's engine thread drives it (a Tick every 200 ms) on a
// fake clock, so the figures are the engine's own work, without gRPC or the store.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "collector/engine/engine.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"

namespace medic::bench {
namespace {

using collector::engine::ChangeKind;
using collector::engine::Engine;
using collector::engine::EngineOptions;
using common::StrCat;

constexpr absl::Duration kTick = absl::Milliseconds(200);
constexpr absl::Duration kReportInterval = absl::Seconds(10);

struct Phase {
  double seconds = 0;     // CPU time in the engine (wall time; the driver is single-threaded)
  double worst_tick = 0;  // the longest single call, seconds: how long the engine thread stalls
  int resolved = 0;
};

class Fleet {
 public:
  Fleet(std::string layout, int n) : layout_(std::move(layout)), n_(n), stays_up_(n, false) {
    EngineOptions options;  // the collector's defaults: offline_after 45 s, window 2 min, ...
    engine_ = std::make_unique<Engine>(clock_, options);
    for (int i = 0; i < n_; ++i) {
      const std::string host = StrCat("machine-", i);
      hosts_.push_back(host);
      engine_->SetName(host, StrCat("ws-", i));
      medic::v1::Topology t;
      if (layout_ == "subnet" || layout_ == "fan" || layout_ == "slow") {
        t.set_site(layout_ == "fan" && i < n_ / 10 ? "fan" : "hq");
        t.add_subnets("10.1.0.0/16");
        t.add_gateways("10.1.0.1");
      } else if (layout_ == "branch") {
        t.set_site(StrCat("branch-", i / 50));
        t.add_subnets(StrCat("10.", 2 + i / 12500, ".", (i / 50) % 250, ".0/24"));
        t.add_gateways(StrCat("10.", 2 + i / 12500, ".", (i / 50) % 250, ".1"));
        stays_up_[i] = i % 50 == 0;
      } else if (layout_ == "site") {
        t.set_site("hq");
        t.add_subnets(StrCat("10.", 2 + i / 62500, ".", (i / 250) % 250, ".0/24"));
        t.add_gateways(StrCat("10.", 2 + i / 62500, ".", (i / 250) % 250, ".1"));
      }
      if (layout_ != "bare") {
        t.add_dns_servers("10.1.0.53");
        engine_->SetTopology(host, t, {});
      }
    }
  }

  // Every machine reports once within one report interval, then they all fall silent; runs
  // until every one is in an incident that has opened (offline_after + window and a margin).
  Phase GoDark() {
    Phase phase;
    // Machine i sends its last report at i/N of `spread`.
    const absl::Duration spread = layout_ == "slow" ? absl::Minutes(10) : kReportInterval;
    Run(phase, spread, /*reporting=*/true, spread);
    Run(phase, engine_->options().offline_after + engine_->options().window + absl::Seconds(10),
        /*reporting=*/false);
    return phase;
  }

  // They all come back within one report interval and keep reporting; runs until their
  // incidents have resolved.
  Phase ComeBack() {
    Phase phase;
    Run(phase, kReportInterval + engine_->options().resolve_after + absl::Seconds(10),
        /*reporting=*/true);
    return phase;
  }

  int OpenIncidents() const { return static_cast<int>(engine_->Incidents(false).size()); }

 private:
  template <typename F>
  void Timed(Phase& phase, F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    phase.seconds += s;
    phase.worst_tick = std::max(phase.worst_tick, s);
  }
  void TickOnce(Phase& phase) {
    std::vector<collector::engine::IncidentChange> changes;
    Timed(phase, [&] { changes = engine_->Tick(); });
    for (const auto& c : changes) {
      phase.resolved += c.kind == ChangeKind::kResolved;
    }
  }
  // Advances the clock by `d` in engine ticks. While `reporting`, machine i reports every
  // report interval, at i/N of it, as a fleet's heartbeats spread; after its first report, no
  // more once i/N of `stop_spread` has passed. Machines that stay up report all along.
  void Run(Phase& phase, absl::Duration d, bool reporting,
           absl::Duration stop_spread = absl::InfiniteDuration()) {
    const absl::Time start = clock_.Now();
    const absl::Time end = start + d;
    int64_t sent = 0;  // reports sent since start
    while (clock_.Now() < end) {
      clock_.Advance(kTick);
      while (start + kReportInterval * (sent + 1) / n_ <= clock_.Now()) {
        const int i = static_cast<int>(sent % n_);
        if (stays_up_[i] ||
            (reporting && (clock_.Now() - start < stop_spread * i / n_ || sent < n_))) {
          Timed(phase, [&] { engine_->Seen(hosts_[i]); });
        }
        ++sent;
      }
      TickOnce(phase);
    }
  }

  common::FakeClock clock_;
  std::string layout_;
  int n_;
  std::unique_ptr<Engine> engine_;
  std::vector<std::string> hosts_;
  std::vector<bool> stays_up_;  // reports all along
};

int Main(int argc, char** argv) {
  std::vector<std::string> layouts = {"subnet", "fan", "site", "branch", "bare", "slow"};
  if (argc > 1 && std::string(argv[1]) != "all") layouts = {argv[1]};
  std::vector<int> sizes;
  for (int i = 2; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {1000, 2000, 4000, 8000};
  std::printf("%-7s %6s  %-38s  %-38s\n", "layout", "N", "go dark: engine s (x prev) worst tick",
              "come back: engine s (x prev) worst tick");
  for (const std::string& layout : layouts) {
    double prev_dark = 0, prev_back = 0;
    for (int n : sizes) {
      Fleet fleet(layout, n);
      const Phase dark = fleet.GoDark();
      const int open = fleet.OpenIncidents();
      const Phase back = fleet.ComeBack();
      auto ratio = [](double now, double prev) {
        return prev > 0 ? StrCat("x", static_cast<int>(now / prev * 10) / 10.0) : std::string("");
      };
      std::printf("%-7s %6d  %8.3f %-6s %8.4f s %5d open  %8.3f %-6s %8.4f s %5d resolved\n",
                  layout.c_str(), n, dark.seconds, ratio(dark.seconds, prev_dark).c_str(),
                  dark.worst_tick, open, back.seconds, ratio(back.seconds, prev_back).c_str(),
                  back.worst_tick, back.resolved);

      std::fflush(stdout);
      if (fleet.OpenIncidents() != 0) {
        std::fprintf(stderr, "%s N=%d: %d incidents still open after everyone came back\n",
                     layout.c_str(), n, fleet.OpenIncidents());
        return 1;
      }
      prev_dark = dark.seconds;
      prev_back = back.seconds;
    }
  }
  return 0;
}

}  // namespace
}  // namespace medic::bench

int main(int argc, char** argv) { return medic::bench::Main(argc, argv); }
