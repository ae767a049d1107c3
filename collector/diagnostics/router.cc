#include "collector/diagnostics/router.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_format.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace medic::collector::diagnostics {
namespace {

using medic::v1::DiagnosticResult;

DiagnosticResult Outcome(const std::string& run_id, const std::string& hostname,
                         medic::v1::DiagnosticCheck check, medic::v1::DiagnosticOutcome outcome,
                         std::string summary, absl::Time now) {
  DiagnosticResult result;
  result.set_request_id(run_id);
  result.set_machine(hostname);
  result.set_check(check);
  result.set_outcome(outcome);
  *result.mutable_started_at() = common::ToProtoTime(now);
  result.set_summary(std::move(summary));
  return result;
}

// For a result that travels agent → replica B → database → this replica.
constexpr absl::Duration kReplicaGrace = absl::Seconds(1);

std::string AgentRequestId(const std::string& run_id, const std::string& machine_id) {
  return common::StrCat(run_id, "/", machine_id);
}

}  // namespace

Router::Router(Store& store, AgentLink& link, const common::Clock& clock, RouterOptions options)
    : store_(store), link_(link), clock_(clock), options_(options) {
  thread_ = std::thread([this] { Loop(); });
}

Router::~Router() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::string Router::NewRunId() {
  // Unique across restarts (queued runs outlive the process): the start time, then a counter.
  return absl::StrFormat("D-%x%02x", absl::ToUnixMillis(clock_.Now()) / 1000 % 0x1000000,
                         next_run_++ % 0x100);
}

absl::StatusOr<std::string> Router::Start(const medic::v1::RunDiagnosticRequest& request,
                                          const std::string& requested_by, ResultFn on_result,
                                          DoneFn on_done) {
  const auto& selector = request.selector();
  if (!selector.all() && selector.hosts().empty() && selector.site().empty() &&
      selector.subnet().empty()) {
    return absl::InvalidArgumentError(
        "say which machines: one or more hosts, a site, a subnet, or all");
  }
  if (request.check() == medic::v1::DIAGNOSTIC_CHECK_UNSPECIFIED) {
    return absl::InvalidArgumentError("no check given");
  }
  absl::Duration deadline = options_.default_deadline;
  if (request.has_deadline()) {
    deadline = common::FromProtoDuration(request.deadline());
    if (deadline <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("the deadline must be longer than 0");
    }
    deadline = std::min(deadline, options_.max_deadline);
  }
  const absl::Duration queue_for =
      std::min(common::FromProtoDuration(request.queue_for()), options_.max_queue_for);

  medic::v1::ListMachinesRequest list;
  if (!selector.all()) *list.mutable_selector() = selector;
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(std::vector<medic::v1::Machine> machines, store_.ListMachines(list, now));
  std::vector<std::string> unknown;
  for (const std::string& host : selector.hosts()) {
    if (std::none_of(machines.begin(), machines.end(), [&](const medic::v1::Machine& m) {
          return m.hostname() == host || m.machine_id() == host;
        })) {
      unknown.push_back(host);
    }
  }
  if (machines.empty()) {
    return absl::NotFoundError(
        unknown.empty() ? std::string("no machine matches that selection")
                        : common::StrCat("no machine named '", unknown.front(),
                                         "' has reported to this collector (see medic machines)"));
  }

  auto run = std::make_shared<Run>();
  run->check = request.check();
  run->on_result = std::move(on_result);
  run->on_done = std::move(on_done);
  run->outstanding = machines.size() + unknown.size();
  std::vector<DiagnosticResult> immediate;
  std::vector<std::pair<std::string, medic::v1::CollectorMessage>> sends;
  {
    std::lock_guard lock(mu_);
    run->id = NewRunId();
    runs_[run->id] = run;
    for (const medic::v1::Machine& m : machines) {
      medic::v1::CollectorMessage message;
      medic::v1::DiagnosticRequest& r = *message.mutable_diagnostic_request();
      r.set_request_id(AgentRequestId(run->id, m.machine_id()));
      r.set_check(request.check());
      *r.mutable_params() = request.params();
      *r.mutable_deadline() = common::ToProtoDuration(deadline);
      r.set_requested_by(requested_by);
      // Registered before it is sent: the answer may come back before SendTo returns.
      pending_[r.request_id()] = Pending{
          run, run->id, m.machine_id(), m.hostname(), now + deadline + options_.grace, false};
      sends.emplace_back(m.hostname(), std::move(message));
    }
  }
  cv_.notify_all();
  spdlog::info("diagnostic {} ({}) requested by {} for {} machine(s)", run->id,
               static_cast<int>(request.check()), requested_by, machines.size());
  for (size_t i = 0; i < machines.size(); ++i) {
    const medic::v1::Machine& m = machines[i];
    const std::string request_id = sends[i].second.diagnostic_request().request_id();
    medic::v1::DiagnosticRequest copy = sends[i].second.diagnostic_request();
    if (link_.SendTo(m.machine_id(), std::move(sends[i].second))) continue;
    {
      std::lock_guard lock(mu_);
      if (pending_.erase(request_id) == 0) continue;  // answered or timed out meanwhile
    }
    if (replicas_ && m.state() == medic::v1::MACHINE_STATE_ONLINE &&
        SendThroughReplica(run, m, copy, now, deadline)) {
      continue;
    }
    const std::string since =
        m.has_last_seen() ? common::StrCat(" (last seen ",
                                           absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                                                            common::FromProtoTime(m.last_seen()),
                                                            absl::UTCTimeZone()),
                                           ")")
                          : "";
    if (queue_for > absl::ZeroDuration()) {
      Store::QueuedDiagnostic q;
      q.run_id = run->id;
      q.machine_id = m.machine_id();
      q.hostname = m.hostname();
      q.request = std::move(copy);
      q.queued_until = now + queue_for;
      if (absl::Status s = store_.QueueDiagnostic(q); !s.ok()) {
        immediate.push_back(Outcome(
            run->id, m.hostname(), request.check(), medic::v1::DIAGNOSTIC_OUTCOME_OFFLINE,
            common::StrCat("not connected", since, "; could not queue the request: ", s.message()),
            now));
        continue;
      }
      immediate.push_back(Outcome(
          run->id, m.hostname(), request.check(), medic::v1::DIAGNOSTIC_OUTCOME_OFFLINE,
          common::StrCat("not connected", since, "; queued for ", common::HumanDuration(queue_for),
                         ": it runs when the machine reconnects (medic diagnose --results ",
                         run->id, ")"),
          now));
    } else {
      immediate.push_back(Outcome(run->id, m.hostname(), request.check(),
                                  medic::v1::DIAGNOSTIC_OUTCOME_OFFLINE,
                                  common::StrCat("not connected", since), now));
    }
  }
  for (const std::string& host : unknown) {
    immediate.push_back(Outcome(run->id, host, request.check(),
                                medic::v1::DIAGNOSTIC_OUTCOME_OFFLINE,
                                "no machine of this name has reported to this collector", now));
  }
  const std::string id = run->id;
  for (DiagnosticResult& r : immediate) Deliver(run, std::move(r));
  return id;
}

bool Router::SendThroughReplica(const std::shared_ptr<Run>& run, const medic::v1::Machine& m,
                                const medic::v1::DiagnosticRequest& request, absl::Time now,
                                absl::Duration deadline) {
  Store::QueuedDiagnostic q;
  q.run_id = run->id;
  q.machine_id = m.machine_id();
  q.hostname = m.hostname();
  q.request = request;
  q.queued_until = now + deadline;
  {
    // Registered first: the other replica may answer before QueueDiagnostic returns.
    std::lock_guard lock(mu_);
    Pending p{run,
              run->id,
              m.machine_id(),
              m.hostname(),
              now + deadline + options_.grace + kReplicaGrace,
              false};
    p.remote = true;
    pending_[request.request_id()] = std::move(p);
  }
  if (absl::Status s = store_.QueueDiagnostic(q); !s.ok()) {
    spdlog::warn("could not hand diagnostic {} for {} to its replica: {}", run->id, m.hostname(),
                 s.message());
    std::lock_guard lock(mu_);
    return pending_.erase(request.request_id()) == 0;  // 0: answered meanwhile
  }
  cv_.notify_all();
  return true;
}

void Router::OnQueuedResult(const std::string& run_id, const std::string& machine_id) {
  const std::string request_id = AgentRequestId(run_id, machine_id);
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(request_id);
    if (it == pending_.end() || !it->second.remote) return;  // not waited for here
  }
  auto queued = store_.QueuedRun(run_id);
  if (!queued.ok()) {
    spdlog::warn("could not read the result of diagnostic {} from {}: {}", run_id, machine_id,
                 queued.status().message());
    return;
  }
  for (const Store::QueuedDiagnostic& q : *queued) {
    if (q.machine_id != machine_id || !q.result) continue;
    Pending pending;
    {
      std::lock_guard lock(mu_);
      auto it = pending_.find(request_id);
      if (it == pending_.end()) return;  // timed out meanwhile
      pending = std::move(it->second);
      pending_.erase(it);
    }
    if (pending.run != nullptr) Deliver(pending.run, *q.result);
    return;
  }
}

void Router::Deliver(const std::shared_ptr<Run>& run, DiagnosticResult result) {
  ResultFn on_result;
  DoneFn on_done;
  {
    std::lock_guard lock(mu_);
    run->results.push_back(result);
    on_result = run->on_result;
    if (run->outstanding > 0 && --run->outstanding == 0) {
      on_done = std::move(run->on_done);
      run->on_result = nullptr;
      finished_.push_back(run->id);
      while (finished_.size() > options_.kept_runs) {
        runs_.erase(finished_.front());
        finished_.pop_front();
      }
    }
  }
  if (on_result) on_result(result);
  if (on_done) on_done();
}

void Router::Cancel(const std::string& run_id) {
  std::lock_guard lock(mu_);
  if (auto it = runs_.find(run_id); it != runs_.end()) {
    it->second->on_result = nullptr;
    it->second->on_done = nullptr;
  }
}

void Router::OnHello(const std::string& machine_id, const medic::v1::Hello&) {
  {
    std::lock_guard lock(mu_);
    connected_.push_back(machine_id);
  }
  cv_.notify_all();
}

void Router::OnRecord(const std::string& machine_id, const medic::v1::AgentMessage& record) {
  if (!record.has_diagnostic_result()) return;
  DiagnosticResult result = record.diagnostic_result();
  Pending pending;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(result.request_id());
    if (it == pending_.end() || it->second.machine_id != machine_id) {
      spdlog::debug("a diagnostic result from {} for {} that nobody waits for (late or resent)",
                    machine_id, result.request_id());
      return;
    }
    pending = std::move(it->second);
    pending_.erase(it);
  }
  result.set_request_id(pending.run_id);
  result.set_machine(pending.hostname);
  if (pending.queued) {
    if (absl::Status s = store_.SaveQueuedResult(pending.run_id, machine_id, result); !s.ok()) {
      spdlog::warn("could not keep the result of queued diagnostic {} from {}: {}", pending.run_id,
                   pending.hostname, s.message());
    }
  }
  if (pending.run != nullptr) Deliver(pending.run, std::move(result));
}

void Router::SendQueued(const std::string& machine_id) {
  const absl::Time now = clock_.Now();
  auto queued = store_.TakeQueuedDiagnostics(machine_id, now);
  if (!queued.ok()) {
    spdlog::warn("could not read the diagnostics queued for {}: {}", machine_id,
                 queued.status().message());
    return;
  }
  for (Store::QueuedDiagnostic& q : *queued) {
    const absl::Duration deadline = common::FromProtoDuration(q.request.deadline());
    {
      std::lock_guard lock(mu_);
      pending_[q.request.request_id()] = Pending{
          nullptr, q.run_id, q.machine_id, q.hostname, now + deadline + options_.grace, true};
    }
    spdlog::info("{} reconnected: running diagnostic {} queued for it", q.hostname, q.run_id);
    medic::v1::CollectorMessage message;
    *message.mutable_diagnostic_request() = q.request;
    if (!link_.SendTo(machine_id, std::move(message))) {
      {
        std::lock_guard lock(mu_);
        pending_.erase(q.request.request_id());
      }
      q.sent = false;  // gone again: keep it for the next connection
      if (absl::Status s = store_.QueueDiagnostic(q); !s.ok()) {
        spdlog::warn("could not queue diagnostic {} for {} again: {}", q.run_id, q.hostname,
                     s.message());
      }
    }
  }
  cv_.notify_all();
}

void Router::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    while (!connected_.empty()) {
      std::string machine_id = std::move(connected_.front());
      connected_.pop_front();
      lock.unlock();
      SendQueued(machine_id);
      lock.lock();
    }
    const absl::Time now = clock_.Now();
    absl::Time next = absl::InfiniteFuture();
    std::vector<Pending> expired;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline <= now) {
        expired.push_back(std::move(it->second));
        it = pending_.erase(it);
      } else {
        next = std::min(next, it->second.deadline);
        ++it;
      }
    }
    if (!expired.empty()) {
      lock.unlock();
      for (Pending& p : expired) {
        std::shared_ptr<Run> run = p.run;
        DiagnosticResult result =
            Outcome(p.run_id, p.hostname,
                    run != nullptr ? run->check : medic::v1::DIAGNOSTIC_CHECK_UNSPECIFIED,
                    medic::v1::DIAGNOSTIC_OUTCOME_TIMED_OUT,
                    "connected, but did not answer within the deadline", now);
        if (p.queued) {
          if (absl::Status s = store_.SaveQueuedResult(p.run_id, p.machine_id, result); !s.ok()) {
            spdlog::warn("could not keep a timed-out queued diagnostic {}: {}", p.run_id,
                         s.message());
          }
        }
        if (run != nullptr) Deliver(run, std::move(result));
      }
      lock.lock();
      continue;
    }
    if (!connected_.empty()) continue;
    // The real clock: deadlines are wall time from Start (tests use a short deadline).
    if (next == absl::InfiniteFuture()) {
      cv_.wait(lock);
    } else {
      cv_.wait_for(lock, absl::ToChronoMilliseconds(next - now + absl::Milliseconds(1)));
    }
  }
}

absl::StatusOr<medic::v1::GetDiagnosticResultsResponse> Router::GetResults(
    const std::string& run_id) {
  std::vector<DiagnosticResult> live;
  bool known = false;
  {
    std::lock_guard lock(mu_);
    if (auto it = runs_.find(run_id); it != runs_.end()) {
      known = true;
      live = it->second->results;
    }
  }
  auto queued = store_.QueuedRun(run_id);
  if (!queued.ok() && queued.status().code() != absl::StatusCode::kUnimplemented) {
    return queued.status();
  }
  const absl::Time now = clock_.Now();
  medic::v1::GetDiagnosticResultsResponse response;
  std::set<std::string> from_queue;
  if (queued.ok()) {
    for (const Store::QueuedDiagnostic& q : *queued) {
      known = true;
      from_queue.insert(q.hostname);
      if (q.result) {
        *response.add_results() = *q.result;
      } else if (q.queued_until > now || q.sent) {
        response.add_waiting(q.hostname);
        *response.mutable_queued_until() = common::ToProtoTime(q.queued_until);
      } else {
        *response.add_results() = Outcome(
            run_id, q.hostname, q.request.check(), medic::v1::DIAGNOSTIC_OUTCOME_OFFLINE,
            common::StrCat(
                "did not reconnect before the request expired (",
                absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", q.queued_until, absl::UTCTimeZone()),
                ")"),
            q.queued_until);
      }
    }
  }
  for (DiagnosticResult& r : live) {
    if (!from_queue.contains(r.machine())) *response.add_results() = std::move(r);
  }
  if (!known) {
    return absl::NotFoundError(common::StrCat(
        "no diagnostic run ", run_id,
        " is known here (results of runs that were not queued are kept only while the collector "
        "runs, for the last 200 runs)"));
  }
  return response;
}

}  // namespace medic::collector::diagnostics
