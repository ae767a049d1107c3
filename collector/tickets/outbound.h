#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "collector/store/store.h"
#include "common/time/clock.h"
#include "medic/v1/config.pb.h"

namespace medic::collector::tickets {

// Delivers the outbox: ticket events to the generic webhook (POST of the event JSON with an
// Idempotency-Key header) and to a Jira-style helpdesk (POST /rest/api/2/issue on create, PUT
// /rest/api/2/issue/{key} on update, POST …/{key}/transitions on close and reopen). At least
// once: an event is marked delivered only after a 2xx; 5xx, timeouts and refused connections
// are retried with doubling backoff; a 4xx is never retried (the event is given up and
// logged). Events of one ticket go out in order. Runs on a thread of its own; what is not
// delivered stays in the store and goes out after a restart.
class OutboxSender {
 public:
  OutboxSender(Store& store, const common::Clock& clock, medic::v1::OutboundConfig config);
  ~OutboxSender();

  void Start();
  // Stops after the call in flight. Safe to call more than once.
  void Stop();
  // New events were queued: look now rather than at the next poll.
  void Wake();

  // Delivers what is due now, once; returns how many events were tried. For tests.
  int DeliverDue();

 private:
  struct Outcome {
    enum Kind { kDelivered, kRetry, kGiveUp } kind;
    std::string error;
    std::string external_ref;
  };
  Outcome Deliver(const Store::OutboxItem& item);
  Outcome Classify(const absl::StatusOr<struct HttpResponse>& response, std::string_view what);
  void Loop();

  Store& store_;
  const common::Clock& clock_;
  const medic::v1::OutboundConfig config_;
  const absl::Duration timeout_, initial_backoff_, max_backoff_;
  std::string ca_pem_;    // of config_.ca_file(); empty: the system's CAs
  std::string ca_error_;  // ca_file could not be read: every delivery is retried with this

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// The CA certificates of outbound.ca_file, PEM. InvalidArgument naming the file when it
// cannot be read or holds no certificate.
absl::StatusOr<std::string> ReadCaFile(const std::string& path);

// The Jira-style request body for a ticket event (create, update, close, reopen).
std::string HelpdeskBody(const medic::v1::Ticket& ticket, std::string_view kind);

}  // namespace medic::collector::tickets
