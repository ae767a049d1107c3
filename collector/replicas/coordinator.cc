#include "collector/replicas/coordinator.h"

#include <poll.h>

#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_split.h"
#include "common/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace medic::collector {
namespace {

// pg_try_advisory_lock key of the correlation leader ("medic-lead" would not fit; "leader").
constexpr int64_t kLeaderLock = 0x6c6561646572;
// How often a follower tries for the lock.
constexpr absl::Duration kTryEvery = absl::Seconds(1);

// A text[] literal: {"a","b"} with quotes and backslashes escaped.
std::string TextArray(const std::set<std::string>& values) {
  std::string out = "{";
  for (const std::string& v : values) {
    if (out.size() > 1) out += ",";
    out += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

}  // namespace

Coordinator::Coordinator(std::string uri, std::string replica, Hooks hooks,
                         absl::Duration seen_every)
    : uri_(std::move(uri)),
      where_(DescribePostgresTarget(uri_)),
      replica_(std::move(replica)),
      hooks_(std::move(hooks)),
      seen_every_(seen_every) {}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Start(std::string uri,
                                                                std::string replica, Hooks hooks,
                                                                absl::Duration seen_every) {
  std::unique_ptr<Coordinator> c(
      new Coordinator(std::move(uri), std::move(replica), std::move(hooks), seen_every));
  if (!c->Connect()) {
    return absl::UnavailableError(
        common::StrCat("cannot connect to PostgreSQL at ", c->where_, " for the replicas' lock"));
  }
  c->thread_ = std::thread([p = c.get()] { p->Loop(); });
  return c;
}

Coordinator::~Coordinator() { Stop(); }

void Coordinator::Stop() {
  if (stopping_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  if (leading_) StepDown("stopping");
  conn_.reset();  // closing the session releases the lock
}

bool Coordinator::Connect() {
  conn_.reset();
  PGconn* conn = PQconnectdb(uri_.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    PQfinish(conn);
    spdlog::error("replica {}: cannot connect to PostgreSQL at {}: {}", replica_, where_, message);
    return false;
  }
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  conn_ = std::make_unique<PgConnection>(conn, where_);
  // Every replica may hold a machine's stream, or wait for a result.
  if (absl::Status s =
          conn_->ExecScript("LISTEN medic_diagnostic; LISTEN medic_result; LISTEN medic_policy;");
      !s.ok()) {
    spdlog::error("replica {}: {}", replica_, s.message());
    conn_.reset();
    return false;
  }
  return true;
}

void Coordinator::StepDown(const std::string& why) {
  leading_ = false;
  if (why == "stopping") {
    spdlog::info("replica {} stops leading correlation (stopping)", replica_);
  } else {
    spdlog::error("replica {} stops leading correlation: {}", replica_, why);
  }
  hooks_.follow();
}

void Coordinator::Loop() {
  absl::Time next_try = absl::InfinitePast();
  absl::Time next_seen = absl::InfinitePast();
  absl::Time seen_since = absl::Now();
  while (!stopping_) {
    if (conn_ == nullptr || conn_->Lost()) {
      if (leading_) {
        StepDown(common::StrCat("lost the connection to PostgreSQL at ", where_,
                                " that held the leader lock"));
      }
      if (!Connect()) {
        for (int i = 0; i < 10 && !stopping_; ++i) absl::SleepFor(absl::Milliseconds(100));
        continue;
      }
    }
    const absl::Time now = absl::Now();
    if (!leading_ && now >= next_try) {
      next_try = now + kTryEvery;
      auto won = conn_->Exec("SELECT pg_try_advisory_lock($1)", PgParams().Add(kLeaderLock));
      if (!won.ok()) {
        spdlog::warn("replica {}: {}", replica_, won.status().message());
        continue;
      }
      if (won->Text(0, 0) == "t") {
        // Listen before the engine reads the store: a change committed in between is heard.
        if (absl::Status s = conn_->ExecScript("LISTEN medic_machine"); !s.ok()) continue;
        leading_ = true;
        seen_since = now;
        spdlog::info("replica {} leads correlation and tickets (lock on {})", replica_, where_);
        if (absl::Status s = hooks_.lead(); !s.ok()) {
          spdlog::error("replica {} could not take over correlation: {}", replica_, s.message());
          leading_ = false;
          hooks_.follow();
          (void)conn_->ExecScript("UNLISTEN medic_machine");
          (void)conn_->Exec("SELECT pg_advisory_unlock($1)", PgParams().Add(kLeaderLock));
        }
      }
    }

    pollfd fd{PQsocket(conn_->handle()), POLLIN, 0};
    (void)poll(&fd, 1,
               static_cast<int>(std::min<int64_t>(200, absl::ToInt64Milliseconds(seen_every_))));
    if (PQconsumeInput(conn_->handle()) == 0) continue;  // lost: handled at the top
    std::set<std::string> changed;
    std::vector<std::pair<std::string, std::string>> results;
    std::set<std::string> queued;
    bool policies = false;
    while (PGnotify* n = PQnotifies(conn_->handle())) {
      const std::string channel = n->relname;
      const std::string payload = n->extra;
      PQfreemem(n);
      if (channel == "medic_machine") {
        changed.insert(payload);
      } else if (channel == "medic_diagnostic") {
        queued.insert(payload);
      } else if (channel == "medic_policy") {
        policies = true;
      } else if (channel == "medic_result") {
        std::pair<std::string, std::string> parts =
            absl::StrSplit(payload, absl::MaxSplits(' ', 1));
        results.push_back(std::move(parts));
      }
    }
    for (const std::string& id : queued) hooks_.diagnostic_queued(id);
    for (const auto& [run, machine] : results) hooks_.result_kept(run, machine);
    if (policies) hooks_.policies_changed();
    if (!leading_) continue;

    if (!changed.empty()) {
      const std::string ids = TextArray(changed);
      auto machines = conn_->Exec(
          "SELECT machine_id, hostname, labels, topology FROM machines "
          "WHERE machine_id = ANY($1::text[])",
          PgParams().Add(ids));
      auto findings = conn_->Exec(
          "SELECT machine_id, finding FROM findings WHERE cleared_at_ms IS NULL AND "
          "machine_id = ANY($1::text[]) ORDER BY id",
          PgParams().Add(ids));
      if (!machines.ok() || !findings.ok()) {
        // Lost mid-way: the lock is gone with the connection; the next leader restores all.
        spdlog::warn("replica {}: {}", replica_,
                     (!machines.ok() ? machines.status() : findings.status()).message());
        continue;
      }
      std::vector<MachineState> states;
      std::map<std::string, size_t> index;
      for (int r = 0; r < machines->rows(); ++r) {
        MachineState& m = states.emplace_back();
        m.machine_id = machines->Text(r, 0);
        m.hostname = machines->Text(r, 1);
        for (absl::string_view l : absl::StrSplit(machines->Text(r, 2), ',', absl::SkipEmpty())) {
          m.labels.emplace_back(l);
        }
        m.topology.ParseFromString(machines->Blob(r, 3));
        index[m.machine_id] = states.size() - 1;
      }
      for (int r = 0; r < findings->rows(); ++r) {
        auto it = index.find(findings->Text(r, 0));
        if (it == index.end()) continue;
        states[it->second].standing.emplace_back().ParseFromString(findings->Blob(r, 1));
      }
      hooks_.changed(states);
    }
    if (now >= next_seen) {
      next_seen = now + seen_every_;
      // A little overlap: a heartbeat committed just before the last look is not missed.
      auto seen = conn_->Exec("SELECT machine_id FROM machines WHERE last_seen_ms >= $1",
                              PgParams().Add(absl::ToUnixMillis(seen_since - absl::Seconds(1))));
      if (!seen.ok()) continue;
      seen_since = now;
      std::vector<std::string> ids;
      for (int r = 0; r < seen->rows(); ++r) ids.push_back(seen->Text(r, 0));
      if (!ids.empty()) hooks_.seen(ids);
    }
  }
}

}  // namespace medic::collector
