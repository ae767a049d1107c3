#include "collector/metrics/collector_metrics.h"

#include <map>

#include "absl/time/clock.h"
#include "common/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace medic::collector {
namespace {

using common::metrics::LatencyBuckets;

// "SCOPE_SUBNET" -> "subnet": the label values people type in PromQL.
template <typename Enum>
std::string Word(const google::protobuf::EnumDescriptor* type, Enum value,
                 std::string_view prefix) {
  const auto* v = type->FindValueByNumber(static_cast<int>(value));
  std::string name = v != nullptr ? v->name() : "unknown";
  if (name.starts_with(prefix)) name = name.substr(prefix.size());
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace

CollectorMetrics::CollectorMetrics(common::metrics::Registry& r)
    : registry(r),
      records_received(&r.AddCounter("medic_records_received_total",
                                     "Agent records stored, by kind (snapshot, delta, topology).",
                                     {"kind"})),
      ingest_latency(&r.AddHistogram(
          "medic_ingest_latency_seconds",
          "From a record's arrival at the collector to its acknowledgement to the agent.", {"kind"},
          LatencyBuckets())),
      store_commit_latency(&r.AddHistogram("medic_store_commit_seconds",
                                           "Time to commit one agent record to the store.", {},
                                           LatencyBuckets())),
      diagnostic_latency(
          &r.AddHistogram("medic_diagnostic_latency_seconds",
                          "From a live diagnostic request to its result, by check and outcome.",
                          {"check", "outcome"}, LatencyBuckets())),
      connected_agents(&r.AddGauge("medic_connected_agents", "Agent streams open now.", {})),
      machines(&r.AddGauge("medic_machines", "Known machines by state.", {"state"})),
      findings_standing(
          &r.AddGauge("medic_findings_standing", "Findings standing now, by code.", {"code"})),
      incidents_open(
          &r.AddGauge("medic_incidents_open", "Incidents not resolved, by scope.", {"scope"})),
      tickets_open(&r.AddGauge("medic_tickets_open",
                               "Tickets open or acknowledged, by scope and state.",
                               {"scope", "state"})),
      outbox_depth(&r.AddGauge("medic_outbox_depth",
                               "Ticket events waiting for delivery to a webhook or helpdesk.", {})),
      scrape_errors(&r.AddCounter("medic_metrics_store_errors_total",
                                  "Scrapes that could not read part of the store.", {"what"})) {}

void CollectorMetrics::CollectFrom(Store& store, std::function<int64_t()> connected_streams) {
  registry.AddCollector([this, &store, connected_streams = std::move(connected_streams)] {
    connected_agents->Get({}).Set(static_cast<double>(connected_streams()));
    auto fail = [this](std::string_view what, const absl::Status& s) {
      scrape_errors->Get({std::string(what)}).Increment();
      spdlog::warn("/metrics: could not read {}: {}", what, s.message());
    };
    if (auto list = store.ListMachines({}, absl::Now()); list.ok()) {
      std::map<std::string, int> by_state;
      for (const auto& m : *list) {
        ++by_state[Word(medic::v1::MachineState_descriptor(), m.state(), "MACHINE_STATE_")];
      }
      machines->Clear();
      for (const auto& [state, n] : by_state) machines->Get({state}).Set(n);
    } else {
      fail("machines", list.status());
    }
    if (auto known = store.KnownMachines(); known.ok()) {
      std::map<std::string, int> by_code;
      for (const auto& m : *known) {
        for (const auto& f : m.standing) ++by_code[f.code()];
      }
      findings_standing->Clear();
      for (const auto& [code, n] : by_code) findings_standing->Get({code}).Set(n);
    } else {
      fail("findings", known.status());
    }
    if (auto incidents = store.ListIncidents(false); incidents.ok()) {
      std::map<std::string, int> by_scope;
      for (const auto& i : *incidents) {
        ++by_scope[Word(medic::v1::Scope_descriptor(), i.scope(), "SCOPE_")];
      }
      incidents_open->Clear();
      for (const auto& [scope, n] : by_scope) incidents_open->Get({scope}).Set(n);
    } else {
      fail("incidents", incidents.status());
    }
    std::map<std::pair<std::string, std::string>, int> tickets;
    bool tickets_ok = true;
    for (auto state : {medic::v1::TICKET_STATE_OPEN, medic::v1::TICKET_STATE_ACKNOWLEDGED}) {
      auto list = store.ListTickets(state);
      if (!list.ok()) {
        fail("tickets", list.status());
        tickets_ok = false;
        break;
      }
      for (const auto& t : *list) {
        ++tickets[{Word(medic::v1::Scope_descriptor(), t.scope(), "SCOPE_"),
                   Word(medic::v1::TicketState_descriptor(), state, "TICKET_STATE_")}];
      }
    }
    if (tickets_ok) {
      tickets_open->Clear();
      for (const auto& [key, n] : tickets) tickets_open->Get({key.first, key.second}).Set(n);
    }
    if (auto pending = store.OutboxPending(); pending.ok()) {
      outbox_depth->Get({}).Set(static_cast<double>(*pending));
    } else {
      fail("outbox", pending.status());
    }
  });
}

}  // namespace medic::collector
