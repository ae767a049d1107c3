#include "tests/sim/fleet.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <thread>

#include "common/strings/str_cat.h"
#include "common/time/clock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace medic::sim {

using medic::v1::AgentMessage;
using medic::v1::CollectorMessage;

// One connection's stream. Writes are queued (one in flight at a time) and start only once
// the call has started, so the hello given at construction goes first whatever other threads
// send meanwhile; reads take the welcome, acks and diagnostic requests, and tell the agent.
//
// Owned by its SimAgent alone, which destroys it on its own thread (or the Reconnector's)
// once OnDone has run. It must never own itself: the last Stream (its ClientContext holds the
// channel) destroyed on a gRPC callback thread after the agent is gone destroys the channel
// there, and gRPC 1.51 then shuts down its shared callback queue from that queue's own thread
// and aborts (grpc_cq_internal_unref: prior > 0).
class Stream final : public grpc::ClientBidiReactor<AgentMessage, CollectorMessage> {
 public:
  Stream(SimAgent* agent, uint64_t generation, AgentMessage hello)
      : agent_(agent), generation_(generation) {
    queue_.push_back(std::move(hello));
  }

  uint64_t generation() const { return generation_; }

  void Start() {
    agent_->stub_->async()->Connect(&context_, this);
    StartRead(&in_);
    StartCall();
    {
      std::lock_guard lock(mu_);
      started_ = true;
    }
    WriteNext();
  }

  void Write(AgentMessage message) {
    {
      std::lock_guard lock(mu_);
      if (done_) return;
      queue_.push_back(std::move(message));
    }
    WriteNext();
  }

  void Cancel() { context_.TryCancel(); }
  bool done() {
    std::lock_guard lock(mu_);
    return done_;
  }

  void WaitDone(absl::Duration timeout) {
    std::unique_lock lock(mu_);
    if (timeout == absl::InfiniteDuration()) {
      cv_.wait(lock, [this] { return done_; });
    } else {
      cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [this] { return done_; });
    }
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (in_.has_welcome()) agent_->OnWelcome(this, in_.welcome().resume_after());
    if (in_.has_ack()) agent_->OnAck(in_.ack().epoch(), in_.ack().sequence());
    if (in_.has_diagnostic_request()) agent_->Answer(in_.diagnostic_request());
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

  void OnDone(const grpc::Status&) override {
    // The agent first (it is alive: its destructor waits for done_), then done_, notified under
    // the lock: a waiter that sees it may destroy this at once.
    agent_->OnStreamEnded(this);
    std::lock_guard lock(mu_);
    done_ = true;
    cv_.notify_all();
  }

 private:
  void WriteNext() {
    std::lock_guard lock(mu_);
    if (!started_ || writing_ || done_ || queue_.empty()) return;
    out_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    StartWrite(&out_);
  }

  SimAgent* const agent_;
  const uint64_t generation_;
  grpc::ClientContext context_;
  CollectorMessage in_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<AgentMessage> queue_;
  AgentMessage out_;
  bool started_ = false;  // StartCall has run: StartWrite is allowed
  bool writing_ = false;
  bool done_ = false;
};

// Reopens simulated agents' streams when their backoff has passed, on one thread of its own
// for the whole fleet: never on a gRPC callback thread, where the old stream must not be
// destroyed (see Stream). Leaked on purpose: its thread runs until the process exits.
class Reconnector {
 public:
  static Reconnector& Get() {
    static Reconnector* const reconnector = new Reconnector;
    return *reconnector;
  }

  void Schedule(SimAgent* agent, uint64_t generation, absl::Time at) {
    std::lock_guard lock(mu_);
    due_.emplace(at, std::make_pair(agent, generation));
    cv_.notify_one();
  }

  // Forgets `agent`'s reconnects, and waits for one that is running.
  void Cancel(SimAgent* agent) {
    std::unique_lock lock(mu_);
    std::erase_if(due_, [agent](const auto& entry) { return entry.second.first == agent; });
    cv_.wait(lock, [&] { return running_ != agent; });
  }

 private:
  Reconnector() {
    std::thread([this] { Run(); }).detach();
  }

  void Run() {
    std::unique_lock lock(mu_);
    while (true) {
      if (due_.empty()) {
        cv_.wait(lock);
        continue;
      }
      const absl::Time at = due_.begin()->first;
      const absl::Time now = absl::Now();
      if (at > now) {
        cv_.wait_for(lock, absl::ToChronoMicroseconds(at - now));
        continue;
      }
      const auto [agent, generation] = due_.begin()->second;
      due_.erase(due_.begin());
      running_ = agent;
      lock.unlock();
      agent->ReconnectAfterBackoff(generation);
      lock.lock();
      running_ = nullptr;
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<absl::Time, std::pair<SimAgent*, uint64_t>> due_ ABSL_GUARDED_BY(mu_);
  SimAgent* running_ ABSL_GUARDED_BY(mu_) = nullptr;
};

SimAgent::SimAgent(std::string hostname, const FleetGroup& group, std::string collector,
                   uint64_t epoch)
    : hostname_(std::move(hostname)),
      group_(group),
      collector_(std::move(collector)),
      epoch_(epoch),
      random_(std::random_device{}()) {
  grpc::ChannelArguments args;
  // A channel of its own: like a real agent, one TCP connection per machine.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (collector_.starts_with("ipv4:")) {
    // Spread over replicas: move to the next one within a second when one goes away.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  }
  channel_ = grpc::CreateCustomChannel(collector_, grpc::InsecureChannelCredentials(), args);
  stub_ = medic::v1::AgentService::NewStub(channel_);
}

SimAgent::~SimAgent() {
  {
    std::lock_guard lock(mu_);
    dark_ = true;  // no reconnect is scheduled from here on
  }
  Reconnector::Get().Cancel(this);
  // Cancels the stream, including one a reconnect running until now may have opened.
  Disconnect();
  // Unbounded: the stream's callbacks use this agent until OnDone, which a cancel brings soon.
  WaitClosed(absl::InfiniteDuration());
}

medic::v1::Topology SimAgent::TopologyLocked() const {
  medic::v1::Topology t;
  t.set_site(group_.site);
  if (!group_.subnet.empty()) t.add_subnets(group_.subnet);
  if (!group_.gateway.empty()) t.add_gateways(group_.gateway);
  for (const auto& d : group_.dns) t.add_dns_servers(d);
  for (const auto& p : group_.printers) t.add_printer_uris(p);
  t.set_os_build(group_.os);
  t.set_agent_version("medic-sim");
  return t;
}

void SimAgent::Connect() {
  std::shared_ptr<Stream> dropping;
  {
    std::lock_guard lock(mu_);
    if (stream_ != nullptr && !stream_->done()) {
      if (!dark_) return;  // connected already
      dropping = stream_;  // Disconnect's cancel is still on its way: let it finish first
    }
  }
  if (dropping != nullptr) dropping->WaitDone(absl::InfiniteDuration());
  std::shared_ptr<Stream> stream, old;
  {
    std::lock_guard lock(mu_);
    // Another thread connected meanwhile (and may have disconnected again).
    if (stream_ != nullptr && !stream_->done()) return;
    // Records are not made while dark, so what stands now goes as a snapshot; a dropped
    // stream lost nothing (what was not acknowledged goes again) and needs none.
    const bool snapshot = stream_ == nullptr || dark_;
    dark_ = false;
    stream = NewStreamLocked(snapshot, &old);
  }
  stream->Start();
}

std::shared_ptr<Stream> SimAgent::NewStreamLocked(bool snapshot, std::shared_ptr<Stream>* old) {
  if (snapshot) {
    AgentMessage record;
    *record.mutable_sent_at() = common::ToProtoTime(absl::Now());
    auto* s = record.mutable_snapshot();
    *s->mutable_taken_at() = record.sent_at();
    *s->mutable_topology() = TopologyLocked();
    for (const auto& [key, f] : standing_) *s->add_findings() = f;
    welcomed_ = false;  // kept only: it is written after the welcome, with the rest
    KeepLocked(std::move(record));
  }
  AgentMessage hello;
  *hello.mutable_sent_at() = common::ToProtoTime(absl::Now());
  auto* h = hello.mutable_hello();
  h->set_machine_id(common::StrCat("sim-", hostname_));
  h->set_hostname(hostname_);
  h->set_agent_version("medic-sim");
  h->set_epoch(epoch_);
  h->set_last_sequence(sequence_);
  for (const auto& l : group_.labels) h->add_labels(l);
  // As the agent does: it reconnects on its own schedule, so gRPC's own connection backoff
  // must not fail the attempt without trying.
  grpc::experimental::ChannelResetConnectionBackoff(channel_.get());
  *old = std::move(stream_);
  stream_ = std::make_shared<Stream>(this, ++generation_, std::move(hello));
  welcomed_ = false;
  log_.attempts.push_back(absl::Now());
  return stream_;
}

void SimAgent::KeepLocked(AgentMessage record) {
  if (unacked_.size() + 1 > max_unacked_) {
    // Room for the record and the gap that names what goes.
    medic::v1::Gap gap;
    std::vector<uint64_t> sequences;
    while (unacked_.size() + 2 > max_unacked_) {
      const AgentMessage& oldest = unacked_.front();
      if (oldest.has_gap()) {
        // An earlier gap that goes too: this one names what it named.
        const medic::v1::Gap& earlier = oldest.gap();
        sequences.insert(sequences.end(), earlier.sequences().begin(), earlier.sequences().end());
        gap.set_dropped_reports(gap.dropped_reports() + earlier.dropped_reports());
        gap.set_dropped_findings(gap.dropped_findings() + earlier.dropped_findings());
        gap.set_dropped_observations(gap.dropped_observations() + earlier.dropped_observations());
      } else if (oldest.has_snapshot()) {
        gap.set_dropped_reports(gap.dropped_reports() + 1);
      } else if (oldest.has_delta() && !oldest.delta().findings().empty()) {
        gap.set_dropped_findings(gap.dropped_findings() + 1);
      } else {
        gap.set_dropped_observations(gap.dropped_observations() + 1);
      }
      sequences.push_back(oldest.sequence());
      ++dropped_;
      unacked_.pop_front();
    }
    std::sort(sequences.begin(), sequences.end());
    *gap.mutable_sequences() = {sequences.begin(), sequences.end()};
    gap.set_epoch(epoch_);
    gap.set_from_sequence(gap.sequences(0));
    gap.set_to_sequence(gap.sequences(gap.sequences_size() - 1));
    gap.set_reason(common::StrCat("medic-sim keeps at most ", max_unacked_,
                                  " unacknowledged records per agent"));
    AgentMessage gap_record;
    *gap_record.mutable_gap() = std::move(gap);
    *gap_record.mutable_sent_at() = common::ToProtoTime(absl::Now());
    gap_record.set_sequence(++sequence_);
    unacked_.push_back(std::move(gap_record));
    if (welcomed_) stream_->Write(unacked_.back());
  }
  record.set_sequence(++sequence_);
  unacked_.push_back(std::move(record));
  // Written under mu_ so that records go out in sequence order whichever thread made them.
  if (welcomed_) stream_->Write(unacked_.back());
}

void SimAgent::AcknowledgeLocked(uint64_t sequence) {
  while (!unacked_.empty() && unacked_.front().sequence() <= sequence) unacked_.pop_front();
  uint64_t seen = acked_.load();
  while (sequence > seen && !acked_.compare_exchange_weak(seen, sequence)) {
  }
}

void SimAgent::OnWelcome(Stream* stream, uint64_t resume_after) {
  std::lock_guard lock(mu_);
  if (stream != stream_.get()) return;
  // What the collector committed counts as acknowledged; the rest goes again, in order.
  AcknowledgeLocked(resume_after);
  welcomed_ = true;
  failures_ = 0;
  log_.welcomes.push_back(absl::Now());
  for (const AgentMessage& record : unacked_) stream_->Write(record);
}

void SimAgent::OnAck(uint64_t epoch, uint64_t sequence) {
  if (epoch != 0 && epoch != epoch_) return;
  std::lock_guard lock(mu_);
  AcknowledgeLocked(sequence);
}

void SimAgent::OnStreamEnded(Stream* stream) {
  std::lock_guard lock(mu_);
  if (stream != stream_.get()) return;
  welcomed_ = false;
  log_.ends.push_back(absl::Now());
  if (dark_) return;  // Disconnect: stays dark
  ++failures_;
  const absl::Duration delay = agent::ReconnectDelay(backoff_, failures_, random_);
  Reconnector::Get().Schedule(this, stream->generation(), absl::Now() + delay);
}

void SimAgent::ReconnectAfterBackoff(uint64_t generation) {
  std::shared_ptr<Stream> ending;
  {
    std::lock_guard lock(mu_);
    if (dark_ || generation != generation_) return;  // disconnected, or reconnected already
    ending = stream_;
  }
  ending->WaitDone(absl::InfiniteDuration());  // its OnDone, which scheduled this, is finishing
  std::shared_ptr<Stream> stream, old;
  {
    std::lock_guard lock(mu_);
    if (dark_ || generation != generation_) return;
    stream = NewStreamLocked(/*snapshot=*/false, &old);
  }
  stream->Start();
}

void SimAgent::Disconnect() {
  std::shared_ptr<Stream> stream;
  {
    std::lock_guard lock(mu_);
    stream = stream_;
    dark_ = true;
  }
  if (stream != nullptr) stream->Cancel();
}

bool SimAgent::ReconnectIfDropped() {
  {
    std::lock_guard lock(mu_);
    if (dark_ || stream_ == nullptr || !stream_->done()) return false;
  }
  Connect();
  return true;
}

std::string SpreadTarget(const std::vector<std::string>& collectors, size_t index) {
  if (collectors.size() == 1) return collectors[0];
  std::string target = "ipv4:";
  for (size_t i = 0; i < collectors.size(); ++i) {
    if (i > 0) target += ",";
    target += collectors[(index + i) % collectors.size()];
  }
  return target;
}

void SimAgent::WaitClosed(absl::Duration timeout) {
  std::shared_ptr<Stream> stream;
  {
    std::lock_guard lock(mu_);
    stream = stream_;
  }
  if (stream != nullptr) stream->WaitDone(timeout);
}

bool SimAgent::connected() const {
  std::lock_guard lock(mu_);
  return stream_ != nullptr && !dark_ && !stream_->done();
}

uint64_t SimAgent::sent() const {
  std::lock_guard lock(mu_);
  return sequence_;
}

size_t SimAgent::unacked() const {
  std::lock_guard lock(mu_);
  return unacked_.size();
}

uint64_t SimAgent::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void SimAgent::set_backoff(agent::BackoffRule rule) {
  std::lock_guard lock(mu_);
  backoff_ = rule;
}

void SimAgent::set_max_unacked(size_t records) {
  std::lock_guard lock(mu_);
  max_unacked_ = std::max<size_t>(records, 2);
}

SimAgent::ConnectionLog SimAgent::connections() const {
  std::lock_guard lock(mu_);
  return log_;
}

void SimAgent::Send(AgentMessage message, bool sequenced) {
  std::lock_guard lock(mu_);
  // Dark: what stands is sent with the next snapshot.
  if (dark_ || stream_ == nullptr) return;
  *message.mutable_sent_at() = common::ToProtoTime(absl::Now());
  if (sequenced) {
    KeepLocked(std::move(message));
  } else {
    stream_->Write(std::move(message));  // dropped when the stream has ended
  }
}

void SimAgent::Answer(const medic::v1::DiagnosticRequest& request) {
  if (!answers_diagnostics_.load()) return;
  const absl::Time start = absl::Now();
  AgentMessage m;
  medic::v1::DiagnosticResult& r = *m.mutable_diagnostic_result();
  r.set_request_id(request.request_id());
  r.set_check(request.check());
  *r.mutable_started_at() = common::ToProtoTime(start);
  {
    std::lock_guard lock(mu_);
    switch (request.check()) {
      case medic::v1::DIAGNOSTIC_CHECK_HEALTH:
        for (const auto& [key, f] : standing_) *r.add_findings() = f;
        r.set_summary(common::StrCat("health: simulated; ", standing_.size(), " findings"));
        break;
      case medic::v1::DIAGNOSTIC_CHECK_DNS: {
        auto name = request.params().find("name");
        const std::string asked = name == request.params().end() ? "." : name->second;
        for (const std::string& server : group_.dns) {
          r.add_lines(common::StrCat(server, ": ", asked, " → 10.0.0.10 in 3 ms"));
        }
        r.set_summary(common::StrCat("dns ", asked, " on ", group_.dns.size(),
                                     " servers: nothing wrong found"));
        break;
      }
      default:
        r.set_summary("simulated: nothing wrong found");
        break;
    }
  }
  r.set_outcome(r.findings().empty() ? medic::v1::DIAGNOSTIC_OUTCOME_PASSED
                                     : medic::v1::DIAGNOSTIC_OUTCOME_FOUND);
  *r.mutable_took() = common::ToProtoDuration(absl::Now() - start);
  diagnostics_answered_.fetch_add(1);
  Send(std::move(m), true);
}

void SimAgent::Heartbeat(absl::Duration interval) {
  AgentMessage m;
  *m.mutable_heartbeat()->mutable_interval() = common::ToProtoDuration(interval);
  Send(std::move(m), false);
}

void SimAgent::Raise(const medic::v1::Finding& finding) {
  medic::v1::Finding f = finding;
  *f.mutable_raised_at() = common::ToProtoTime(absl::Now());
  if (f.summary().empty()) {
    f.set_summary(common::StrCat(f.code(), f.resource().empty() ? "" : " on ", f.resource(),
                                 " (simulated on ", hostname_, ")"));
  }
  {
    std::lock_guard lock(mu_);
    standing_[{f.code(), f.resource()}] = f;
  }
  AgentMessage m;
  *m.mutable_delta()->add_findings()->mutable_raised() = f;
  Send(std::move(m), true);
}

void SimAgent::Report(const medic::v1::ProbeReport& report) {
  AgentMessage m;
  medic::v1::ProbeReport* r = m.mutable_delta()->add_reports();
  *r = report;
  if (!r->has_collected_at()) *r->mutable_collected_at() = common::ToProtoTime(absl::Now());
  Send(std::move(m), true);
}

void SimAgent::Clear(const medic::v1::FindingCleared& clear) {
  {
    std::lock_guard lock(mu_);
    standing_.erase({clear.code(), clear.resource()});
  }
  AgentMessage m;
  medic::v1::FindingCleared c = clear;
  *c.mutable_cleared_at() = common::ToProtoTime(absl::Now());
  *m.mutable_delta()->add_findings()->mutable_cleared() = c;
  Send(std::move(m), true);
}

}  // namespace medic::sim
