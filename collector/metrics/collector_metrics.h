#pragma once

// What the collector exposes on /metrics (Prometheus text format). One object per collector;
// the parts of the collector that measure something get a pointer to their family.
//
// Measured where it happens: records received, ingest and commit latency (ingest/), and
// diagnostic latency — whoever runs diagnostics observes into `diagnostic_latency` with the
// check's name and how it ended:
//   metrics.diagnostic_latency->Get({"dns", "ok"}).Observe(seconds);
// Read from the store at each scrape: connected agents, machines by state, standing findings
// by code, open incidents and tickets by scope, outbox depth.

#include <cstdint>
#include <functional>

#include "collector/store/store.h"
#include "common/metrics/metrics.h"

namespace medic::collector {

struct CollectorMetrics {
  // Defines every family in `registry` (not owned; outlives this).
  explicit CollectorMetrics(common::metrics::Registry& registry);

  // Adds the scrape-time collector reading `store` and `connected_streams` (agent streams
  // open now). Both must outlive the registry's last Expose().
  void CollectFrom(Store& store, std::function<int64_t()> connected_streams);

  common::metrics::Registry& registry;
  common::metrics::CounterFamily* records_received;        // kind
  common::metrics::HistogramFamily* ingest_latency;        // kind; seconds
  common::metrics::HistogramFamily* store_commit_latency;  // seconds
  common::metrics::HistogramFamily* diagnostic_latency;    // check, outcome; seconds
  common::metrics::GaugeFamily* connected_agents;
  common::metrics::GaugeFamily* machines;           // state
  common::metrics::GaugeFamily* findings_standing;  // code
  common::metrics::GaugeFamily* incidents_open;     // scope
  common::metrics::GaugeFamily* tickets_open;       // scope, state
  common::metrics::GaugeFamily* outbox_depth;
  common::metrics::CounterFamily* scrape_errors;  // what
};

}  // namespace medic::collector
