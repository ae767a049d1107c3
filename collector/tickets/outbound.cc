#include "collector/tickets/outbound.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_join.h"
#include "boost/asio/ssl.hpp"
#include "collector/tickets/http_client.h"
#include "common/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "spdlog/spdlog.h"

namespace medic::collector::tickets {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr int kBatch = 64;
constexpr absl::Duration kPoll = absl::Milliseconds(200);

absl::Duration Or(const google::protobuf::Duration& d, absl::Duration fallback) {
  const absl::Duration v = common::FromProtoDuration(d);
  return v > absl::ZeroDuration() ? v : fallback;
}

Value Text(std::string s) {
  Value v;
  v.set_string_value(std::move(s));
  return v;
}

Value Object(std::initializer_list<std::pair<const char*, Value>> fields) {
  Value v;
  for (const auto& [k, f] : fields) (*v.mutable_struct_value()->mutable_fields())[k] = f;
  return v;
}

std::string Json(const Value& v) {
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(v, &out);
  return out;
}

}  // namespace

std::string HelpdeskBody(const medic::v1::Ticket& t, std::string_view kind) {
  const std::string description = common::StrCat(
      t.diagnosis(), "\n\nAffected hosts (", t.hosts_size(), "): ", absl::StrJoin(t.hosts(), ", "),
      "\n\nWhat to do:\n- ", absl::StrJoin(t.runbook(), "\n- "), "\n\nMedic ticket ", t.ticket_id(),
      " (", t.code(), ")");
  if (kind == "create") {
    Value labels;
    *labels.mutable_list_value()->add_values() = Text("medic");
    *labels.mutable_list_value()->add_values() = Text(t.code());
    return Json(
        Object({{"fields",
                 Object({{"project", Object({{"key", Text("MEDIC")}})},
                         {"issuetype", Object({{"name", Text("Incident")}})},
                         {"summary", Text(t.title())},
                         {"description", Text(description)},
                         {"priority", Object({{"name", Text(common::StrCat("P", t.priority()))}})},
                         {"labels", labels}})}}));
  }
  if (kind == "update") {
    return Json(Object(
        {{"fields", Object({{"summary", Text(t.title())}, {"description", Text(description)}})}}));
  }
  const std::string last = t.history().empty() ? "" : t.history(t.history_size() - 1).what();
  return Json(Object({{"transition", Object({{"name", Text(kind == "close" ? "Done" : "Reopen")}})},
                      {"comment", Text(last)}}));
}

OutboxSender::OutboxSender(Store& store, const common::Clock& clock,
                           medic::v1::OutboundConfig config)
    : store_(store),
      clock_(clock),
      config_(std::move(config)),
      timeout_(Or(config_.timeout(), absl::Seconds(5))),
      initial_backoff_(Or(config_.initial_backoff(), absl::Seconds(1))),
      max_backoff_(Or(config_.max_backoff(), absl::Minutes(5))) {
  // The collector checked the file at start (ValidateCollectorConfig).
  if (!config_.ca_file().empty()) {
    absl::StatusOr<std::string> pem = ReadCaFile(config_.ca_file());
    if (pem.ok()) {
      ca_pem_ = *std::move(pem);
    } else {
      ca_error_ = std::string(pem.status().message());  // never the system's CAs in its place
    }
  }
}

absl::StatusOr<std::string> ReadCaFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::InvalidArgumentError(
        common::StrCat("outbound.ca_file: cannot read '", path, "': ", std::strerror(errno)));
  }
  std::string pem;
  char chunk[4096];
  for (size_t n; (n = std::fread(chunk, 1, sizeof chunk, file)) > 0;) pem.append(chunk, n);
  std::fclose(file);
  // As HttpCall will load it: a file that does not load now would fail every delivery.
  boost::asio::ssl::context context(boost::asio::ssl::context::tls_client);
  boost::system::error_code error;
  context.add_certificate_authority(boost::asio::buffer(pem), error);
  if (error || pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return absl::InvalidArgumentError(
        common::StrCat("outbound.ca_file: '", path, "' holds no PEM certificate",
                       error ? common::StrCat(" (", error.message(), ")") : std::string()));
  }
  return pem;
}

OutboxSender::~OutboxSender() { Stop(); }

void OutboxSender::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void OutboxSender::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void OutboxSender::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void OutboxSender::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    woken_ = false;
    lock.unlock();
    const int tried = DeliverDue();
    lock.lock();
    // A full batch means more may be due at once.
    if (tried < kBatch) {
      cv_.wait_for(lock, absl::ToChronoMilliseconds(kPoll), [this] { return stopping_ || woken_; });
    }
  }
}

int OutboxSender::DeliverDue() {
  auto due = store_.DueOutbox(clock_.Now(), kBatch);
  if (!due.ok()) {
    spdlog::error("outbox: cannot read it: {}", due.status().message());
    return 0;
  }
  for (const auto& item : *due) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    const Outcome outcome = Deliver(item);
    absl::Status stored;
    switch (outcome.kind) {
      case Outcome::kDelivered:
        stored = store_.OutboxDelivered(item.id, clock_.Now(), outcome.external_ref);
        spdlog::debug("outbox: {} {} delivered", item.event.target, item.event.idempotency_key);
        break;
      case Outcome::kRetry: {
        const double factor = std::pow(2.0, std::min(item.attempts, 20));
        const absl::Duration backoff = std::min(initial_backoff_ * factor, max_backoff_);
        stored = store_.OutboxRetry(item.id, clock_.Now() + backoff, outcome.error);
        spdlog::warn("outbox: {} {} failed ({}); trying again in {}", item.event.target,
                     item.event.idempotency_key, outcome.error, common::HumanDuration(backoff));
        break;
      }
      case Outcome::kGiveUp:
        stored = store_.OutboxGiveUp(item.id, outcome.error);
        spdlog::error("outbox: {} refused {} for good: {}", item.event.target,
                      item.event.idempotency_key, outcome.error);
        break;
    }
    if (!stored.ok()) spdlog::error("outbox: cannot record a delivery: {}", stored.message());
  }
  return static_cast<int>(due->size());
}

OutboxSender::Outcome OutboxSender::Classify(const absl::StatusOr<HttpResponse>& response,
                                             std::string_view what) {
  if (!response.ok()) return {Outcome::kRetry, std::string(response.status().message()), ""};
  const int status = response->status;
  if (status >= 200 && status < 300) return {Outcome::kDelivered, "", ""};
  const std::string error =
      common::StrCat(what, " answered HTTP ", status, ": ", response->body.substr(0, 200));
  // 4xx: the request itself is wrong; sending it again cannot help (408/429 are the
  // exceptions: the server asks to come back).
  if (status >= 400 && status < 500 && status != 408 && status != 429) {
    return {Outcome::kGiveUp, error, ""};
  }
  return {Outcome::kRetry, error, ""};
}

OutboxSender::Outcome OutboxSender::Deliver(const Store::OutboxItem& item) {
  const std::map<std::string, std::string> headers = {
      {"Idempotency-Key", item.event.idempotency_key}};
  if (!ca_error_.empty()) return {Outcome::kRetry, ca_error_, ""};
  if (item.event.target == "webhook") {
    if (config_.webhook_url().empty()) return {Outcome::kRetry, "no webhook_url configured", ""};
    return Classify(
        HttpCall("POST", config_.webhook_url(), item.event.payload, headers, timeout_, ca_pem_),
        config_.webhook_url());
  }
  if (item.event.target != "helpdesk" || config_.helpdesk_url().empty()) {
    return {Outcome::kRetry, common::StrCat("no URL configured for ", item.event.target), ""};
  }
  std::string base = config_.helpdesk_url();
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (item.event.kind == "create") {
    const std::string url = common::StrCat(base, "/rest/api/2/issue");
    auto response = HttpCall("POST", url, item.event.payload, headers, timeout_, ca_pem_);
    Outcome outcome = Classify(response, url);
    if (outcome.kind == Outcome::kDelivered) {
      Struct body;
      if (google::protobuf::util::JsonStringToMessage(response->body, &body).ok() &&
          body.fields().contains("key")) {
        outcome.external_ref = body.fields().at("key").string_value();
      }
      if (outcome.external_ref.empty()) outcome.external_ref = "(created; no key in the answer)";
    }
    return outcome;
  }
  auto ticket = store_.GetTicket(item.event.ticket_id);
  if (!ticket.ok()) return {Outcome::kRetry, std::string(ticket.status().message()), ""};
  const std::string& key = ticket->external_ref();
  if (key.empty() || key.starts_with("(")) {
    return {Outcome::kGiveUp,
            common::StrCat("ticket ", item.event.ticket_id,
                           " has no helpdesk issue (its create was refused or had no key)"),
            ""};
  }
  if (item.event.kind == "update") {
    const std::string url = common::StrCat(base, "/rest/api/2/issue/", key);
    return Classify(HttpCall("PUT", url, item.event.payload, headers, timeout_, ca_pem_), url);
  }
  const std::string url = common::StrCat(base, "/rest/api/2/issue/", key, "/transitions");
  return Classify(HttpCall("POST", url, item.event.payload, headers, timeout_, ca_pem_), url);
}

}  // namespace medic::collector::tickets
