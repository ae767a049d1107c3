#include "tests/sim/fleet.h"

#include <condition_variable>
#include <deque>

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
// the call has started, so the hello and snapshot given at construction go first whatever
// other threads send meanwhile; reads take the welcome, acks and diagnostic requests.
//
// Owned by its SimAgent alone, which destroys it on its own thread once OnDone has run. It
// must never own itself: the last Stream (its ClientContext holds the channel) destroyed on a
// gRPC callback thread after the agent is gone destroys the channel there, and gRPC 1.51 then
// shuts down its shared callback queue from that queue's own thread and aborts
// (grpc_cq_internal_unref: prior > 0).
class Stream final : public grpc::ClientBidiReactor<AgentMessage, CollectorMessage> {
 public:
  Stream(SimAgent* agent, std::vector<AgentMessage> first)
      : agent_(agent),
        queue_(std::make_move_iterator(first.begin()), std::make_move_iterator(first.end())) {}

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
    if (in_.has_diagnostic_request()) agent_->Answer(in_.diagnostic_request());
    if (in_.has_ack()) {
      uint64_t seen = agent_->acked_.load();
      while (in_.ack().sequence() > seen &&
             !agent_->acked_.compare_exchange_weak(seen, in_.ack().sequence())) {
      }
    }
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
    // Notified under the lock: a waiter that sees done_ may destroy this at once.
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

SimAgent::SimAgent(std::string hostname, const FleetGroup& group, std::string collector,
                   uint64_t epoch)
    : hostname_(std::move(hostname)),
      group_(group),
      collector_(std::move(collector)),
      epoch_(epoch) {
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
  std::vector<AgentMessage> first;
  std::shared_ptr<Stream> stream;
  {
    std::lock_guard lock(mu_);
    dark_ = false;
    AgentMessage hello;
    *hello.mutable_sent_at() = common::ToProtoTime(absl::Now());
    auto* h = hello.mutable_hello();
    h->set_machine_id(common::StrCat("sim-", hostname_));
    h->set_hostname(hostname_);
    h->set_agent_version("medic-sim");
    h->set_epoch(epoch_);
    h->set_last_sequence(sequence_);
    for (const auto& l : group_.labels) h->add_labels(l);
    first.push_back(std::move(hello));
    AgentMessage snapshot;
    snapshot.set_sequence(++sequence_);
    *snapshot.mutable_sent_at() = common::ToProtoTime(absl::Now());
    auto* s = snapshot.mutable_snapshot();
    *s->mutable_taken_at() = snapshot.sent_at();
    *s->mutable_topology() = TopologyLocked();
    for (const auto& [key, f] : standing_) *s->add_findings() = f;
    first.push_back(std::move(snapshot));
    stream = std::make_shared<Stream>(this, std::move(first));
    stream_ = stream;
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

void SimAgent::Send(AgentMessage message, bool sequenced) {
  std::shared_ptr<Stream> stream;
  {
    std::lock_guard lock(mu_);
    // Dark: what stands is sent with the next snapshot.
    if (dark_ || stream_ == nullptr) return;
    if (sequenced) message.set_sequence(++sequence_);
    stream = stream_;
  }
  *message.mutable_sent_at() = common::ToProtoTime(absl::Now());
  stream->Write(std::move(message));
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
