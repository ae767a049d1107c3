// The outbox sender against a local HTTP receiver: retried on 5xx, never on 4xx, in order,
// and the helpdesk's issue key kept on the ticket.
#include "collector/tickets/outbound.h"

#include <gtest/gtest.h>

#include "collector/store/store.h"
#include "tests/support/http_receiver.h"

namespace medic::collector::tickets {
namespace {

class OutboundTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenSqliteStore(":memory:", {});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ticket_.set_ticket_id("MED-1");
    ticket_.set_incident_id("I-1");
    ticket_.set_title("DNS server 10.0.0.53 is failing for 3 hosts");
  }

  // Queues one event for `target` and returns its key.
  void Queue(std::string target, std::string kind, int n) {
    Store::OutboxEvent e;
    e.idempotency_key = "MED-1/" + std::to_string(n) + "/" + kind;
    e.ticket_id = "MED-1";
    e.kind = kind;
    e.target = target;
    e.payload = target == "helpdesk" ? HelpdeskBody(ticket_, kind) : "{\"event\":\"" + kind + "\"}";
    ASSERT_TRUE(store_->SaveTicket(ticket_, {e}).ok());
  }

  medic::v1::OutboundConfig Config(const test::HttpReceiver& r) {
    medic::v1::OutboundConfig c;
    c.set_webhook_url(r.Url("/hook"));
    c.set_helpdesk_url(r.Url("/jira"));
    *c.mutable_initial_backoff() = common::ToProtoDuration(absl::Seconds(1));
    *c.mutable_timeout() = common::ToProtoDuration(absl::Seconds(2));
    return c;
  }

  common::FakeClock clock_;
  std::unique_ptr<Store> store_;
  medic::v1::Ticket ticket_;
};

TEST_F(OutboundTest, ClientErrorIsNeverRetried) {
  test::HttpReceiver receiver(0, /*always_status=*/400);
  OutboxSender sender(*store_, clock_, Config(receiver));
  Queue("webhook", "create", 1);
  EXPECT_EQ(sender.DeliverDue(), 1);
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(sender.DeliverDue(), 0);
  EXPECT_EQ(receiver.Calls().size(), 1u);
  EXPECT_EQ(*store_->OutboxPending(), 0);
}

TEST_F(OutboundTest, ServerErrorIsRetriedWithBackoffUntilDelivered) {
  test::HttpReceiver receiver(0, /*always_status=*/503);
  OutboxSender sender(*store_, clock_, Config(receiver));
  Queue("webhook", "create", 1);
  EXPECT_EQ(sender.DeliverDue(), 1);
  EXPECT_EQ(sender.DeliverDue(), 0) << "not before the backoff";
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(sender.DeliverDue(), 1);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(sender.DeliverDue(), 0) << "the backoff doubled";
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(sender.DeliverDue(), 1);
  EXPECT_EQ(receiver.Calls().size(), 3u);
  EXPECT_EQ(*store_->OutboxPending(), 1);
}

TEST_F(OutboundTest, UnreachableReceiverIsRetried) {
  medic::v1::OutboundConfig c;
  c.set_webhook_url("http://127.0.0.1:1/hook");  // nothing listens on port 1
  OutboxSender sender(*store_, clock_, c);
  Queue("webhook", "create", 1);
  EXPECT_EQ(sender.DeliverDue(), 1);
  EXPECT_EQ(*store_->OutboxPending(), 1);
}

TEST_F(OutboundTest, HelpdeskGetsCreateThenUpdateThenCloseOnItsIssue) {
  test::HttpReceiver receiver;
  OutboxSender sender(*store_, clock_, Config(receiver));
  Queue("helpdesk", "create", 1);
  Queue("helpdesk", "update", 2);
  Queue("helpdesk", "close", 3);
  // One event per ticket and target at a time, oldest first.
  EXPECT_EQ(sender.DeliverDue(), 1);
  EXPECT_EQ(sender.DeliverDue(), 1);
  EXPECT_EQ(sender.DeliverDue(), 1);
  const auto calls = receiver.Calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].method, "POST");
  EXPECT_EQ(calls[0].target, "/jira/rest/api/2/issue");
  EXPECT_NE(calls[0].body.find("\"summary\":\"DNS server 10.0.0.53 is failing for 3 hosts\""),
            std::string::npos)
      << calls[0].body;
  EXPECT_EQ(calls[1].method, "PUT");
  EXPECT_EQ(calls[1].target, "/jira/rest/api/2/issue/MEDIC-1");
  EXPECT_EQ(calls[2].target, "/jira/rest/api/2/issue/MEDIC-1/transitions");
  EXPECT_EQ(calls[2].idempotency_key, "MED-1/3/close");
  EXPECT_EQ(store_->GetTicket("MED-1")->external_ref(), "MEDIC-1");
}

}  // namespace
}  // namespace medic::collector::tickets

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collector/tickets/http_client.h"

namespace medic::collector::tickets {
namespace {

// A receiver that accepts the connection and never answers must cost the outbox its timeout,
// not hold it (and the collector's shutdown) for good.
TEST(HttpCallTest, SilentReceiverTimesOut) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(listener, 4), 0);  // the kernel completes the handshake; nobody reads
  socklen_t length = sizeof(address);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/hook";

  const absl::StatusOr<HttpResponse> response =
      HttpCall("POST", url, "{}", {}, absl::Milliseconds(300));
  ::close(listener);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded) << response.status();
  EXPECT_EQ(std::string(response.status().message()), "POST " + url + ": no answer within 300ms");
}

}  // namespace
}  // namespace medic::collector::tickets
