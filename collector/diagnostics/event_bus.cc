#include "collector/diagnostics/event_bus.h"

#include <algorithm>

#include "spdlog/spdlog.h"

namespace medic::collector::diagnostics {

void EventBus::Subscribe(std::shared_ptr<Watcher> watcher) {
  std::lock_guard lock(mu_);
  watchers_.push_back(std::move(watcher));
}

void EventBus::Unsubscribe(const Watcher* watcher) {
  std::lock_guard lock(mu_);
  std::erase_if(watchers_, [&](const auto& w) { return w.get() == watcher; });
}

size_t EventBus::watchers() const {
  std::lock_guard lock(mu_);
  return watchers_.size();
}

void EventBus::Publish(const medic::v1::Event& event) {
  std::vector<std::shared_ptr<Watcher>> watchers;
  {
    std::lock_guard lock(mu_);
    if (watchers_.empty()) return;
    watchers = watchers_;
  }
  for (const auto& w : watchers) {
    if (!w->Take(event)) {
      spdlog::warn("a watcher fell too far behind the fleet's events; dropped it");
      Unsubscribe(w.get());
    }
  }
}

std::string EventBus::HostnameOf(const std::string& machine_id) {
  std::lock_guard lock(mu_);
  auto it = hostnames_.find(machine_id);
  return it == hostnames_.end() ? machine_id : it->second;
}

void EventBus::OnHello(const std::string& machine_id, const medic::v1::Hello& hello) {
  {
    std::lock_guard lock(mu_);
    hostnames_[machine_id] = hello.hostname();
  }
  medic::v1::Event event;
  *event.mutable_at() = common::ToProtoTime(clock_.Now());
  event.set_host(hello.hostname());
  medic::v1::Machine& m = *event.mutable_machine();
  m.set_machine_id(machine_id);
  m.set_hostname(hello.hostname());
  m.set_agent_version(hello.agent_version());
  m.set_state(medic::v1::MACHINE_STATE_ONLINE);
  Publish(event);
}

void EventBus::OnGone(const std::string& machine_id) {
  medic::v1::Event event;
  *event.mutable_at() = common::ToProtoTime(clock_.Now());
  event.set_host(HostnameOf(machine_id));
  medic::v1::Machine& m = *event.mutable_machine();
  m.set_machine_id(machine_id);
  m.set_hostname(event.host());
  m.set_state(medic::v1::MACHINE_STATE_OFFLINE);
  Publish(event);
}

void EventBus::OnRecord(const std::string& machine_id, const medic::v1::AgentMessage& record) {
  if (!record.has_delta() || record.delta().findings().empty()) return;
  {
    std::lock_guard lock(mu_);
    if (watchers_.empty()) return;
  }
  const std::string host = HostnameOf(machine_id);
  for (const medic::v1::FindingEvent& change : record.delta().findings()) {
    medic::v1::Event event;
    *event.mutable_at() = common::ToProtoTime(clock_.Now());
    event.set_host(host);
    *event.mutable_finding() = change;
    Publish(event);
  }
}

void EventBus::IncidentTee::Apply(const std::vector<engine::IncidentChange>& changes) {
  next_.Apply(changes);
  if (bus_.watchers() == 0) return;
  for (const engine::IncidentChange& change : changes) {
    medic::v1::Event event;
    *event.mutable_at() = common::ToProtoTime(bus_.clock_.Now());
    *event.mutable_incident() = change.incident;
    bus_.Publish(event);
    if (auto ticket = store_.GetTicket(change.incident.incident_id()); ticket.ok()) {
      medic::v1::Event t;
      *t.mutable_at() = event.at();
      *t.mutable_ticket() = std::move(*ticket);
      bus_.Publish(t);
    }
  }
}

}  // namespace medic::collector::diagnostics
