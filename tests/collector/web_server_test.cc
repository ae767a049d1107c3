// The console's HTTP side against a fake TechnicianService in an in-process gRPC server: the
// JSON gateway (methods from the descriptor, gRPC status -> HTTP status with the message,
// query parameters, the Authorization header as metadata), server-sent events for streams,
// limits, assets and /metrics; and HTTPS, as the console serves off loopback.

#include "collector/web/web_server.h"

#include <atomic>

#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/write.hpp"
#include "collector/tickets/http_client.h"
#include "collector/web/gateway.h"
#include "common/tls/pki.h"
#include "gmock/gmock.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "medic/v1/technician.grpc.pb.h"

namespace medic::collector::web {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using tickets::HttpCall;

// Answers from what the request said, so a test sees what reached the service.
class FakeTechnicians final : public medic::v1::TechnicianService::CallbackService {
 public:
  grpc::ServerUnaryReactor* ListMachines(grpc::CallbackServerContext* context,
                                         const medic::v1::ListMachinesRequest* request,
                                         medic::v1::ListMachinesResponse* response) override {
    auto* m = response->add_machines();
    m->set_hostname("ws-042");
    m->set_site(request->selector().site());
    for (const auto& h : request->selector().hosts()) m->add_labels(h);
    m->set_state(request->state());
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerUnaryReactor* GetMachineHealth(grpc::CallbackServerContext* context,
                                             const medic::v1::GetMachineHealthRequest* request,
                                             medic::v1::MachineHealth*) override {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 "no machine named '" + request->host() + "' has reported"));
    return reactor;
  }
  grpc::ServerUnaryReactor* GetTicket(grpc::CallbackServerContext* context,
                                      const medic::v1::GetTicketRequest* request,
                                      medic::v1::Ticket* response) override {
    auto* reactor = context->DefaultReactor();
    auto auth = context->client_metadata().find("authorization");
    if (auth == context->client_metadata().end()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no token given"));
      return reactor;
    }
    response->set_ticket_id(request->ticket_id());
    response->set_title(std::string(auth->second.data(), auth->second.size()));
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerUnaryReactor* UpdateTicket(grpc::CallbackServerContext* context,
                                         const medic::v1::UpdateTicketRequest* request,
                                         medic::v1::Ticket*) override {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                 request->ticket_id() + " is acknowledged already"));
    return reactor;
  }
  // Two events, then the end of the stream. With "authorization: Bearer hold-open", one event
  // and then nothing until the call is cancelled, which `cancelled` records.
  grpc::ServerWriteReactor<medic::v1::Event>* WatchEvents(
      grpc::CallbackServerContext* context, const medic::v1::WatchEventsRequest*) override {
    class Writer : public grpc::ServerWriteReactor<medic::v1::Event> {
     public:
      Writer(bool hold_open, std::atomic<bool>* cancelled)
          : hold_open_(hold_open), cancelled_(cancelled) {
        Next();
      }
      void OnWriteDone(bool ok) override {
        if (!ok) return Finish(grpc::Status::CANCELLED);
        Next();
      }
      void OnCancel() override {
        cancelled_->store(true);
        if (hold_open_) Finish(grpc::Status::CANCELLED);
      }
      void OnDone() override { delete this; }

     private:
      void Next() {
        if (hold_open_ && sent_ == 1) return;  // until cancelled
        if (sent_ == 2) return Finish(grpc::Status::OK);
        event_.set_host(sent_ == 0 ? "ws-1" : "ws-\"2\"\nnext");
        ++sent_;
        StartWrite(&event_);
      }
      const bool hold_open_;
      std::atomic<bool>* const cancelled_;
      medic::v1::Event event_;
      int sent_ = 0;
    };
    const auto auth = context->client_metadata().find("authorization");
    const bool hold_open =
        auth != context->client_metadata().end() && auth->second == "Bearer hold-open";
    return new Writer(hold_open, &cancelled);
  }
  std::atomic<bool> cancelled{false};
  // RunDiagnostic is left UNIMPLEMENTED, as on a collector without live diagnostics.
};

class WebServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    registry_.AddCounter("medic_test_total", "A test counter.", {}).Get({}).Increment(3);
    WebOptions options;
    options.listen = "127.0.0.1:0";
    options.max_body_bytes = 4096;
    auto web =
        WebServer::Start(options, server_->InProcessChannel(grpc::ChannelArguments()), &registry_);
    ASSERT_TRUE(web.ok()) << web.status();
    web_ = std::move(*web);
  }
  void TearDown() override {
    if (web_ != nullptr) web_->Stop();
    server_->Shutdown();
  }

  tickets::HttpResponse Call(std::string_view method, std::string_view path,
                             std::string_view body = "",
                             std::map<std::string, std::string> headers = {
                                 {"Content-Type", "application/json"}}) {
    auto r = HttpCall(method, "http://" + web_->address() + std::string(path), body, headers,
                      absl::Seconds(10));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : tickets::HttpResponse{};
  }

  FakeTechnicians service_;
  std::unique_ptr<grpc::Server> server_;
  common::metrics::Registry registry_;
  std::unique_ptr<WebServer> web_;
};

TEST_F(WebServerTest, UnaryPostIsTheProtoJsonMapping) {
  auto r = Call("POST", "/api/v1/ListMachines",
                R"({"selector": {"site": "hq"}, "state": "MACHINE_STATE_ONLINE"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(R"("hostname":"ws-042")"));
  EXPECT_THAT(r.body, HasSubstr(R"("site":"hq")"));
  EXPECT_THAT(r.body, HasSubstr(R"("state":"MACHINE_STATE_ONLINE")"));
  EXPECT_THAT(r.body, HasSubstr(R"("openFindings":0)")) << "defaults are printed";
}

TEST_F(WebServerTest, GetTakesQueryParameters) {
  auto r = Call("GET",
                "/api/v1/ListMachines?selector.site=h%20q&selector.hosts=a&selector.hosts=b"
                "&state=MACHINE_STATE_OFFLINE");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("site":"h q")"));
  EXPECT_THAT(r.body, HasSubstr(R"("labels":["a","b"])"));
  EXPECT_THAT(r.body, HasSubstr("MACHINE_STATE_OFFLINE"));
  auto unknown = Call("GET", "/api/v1/ListMachines?sight=hq");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_THAT(unknown.body, HasSubstr("ListMachinesRequest has no field 'sight'"));
}

TEST_F(WebServerTest, GrpcStatusBecomesHttpStatusWithTheMessage) {
  auto missing = Call("POST", "/api/v1/GetMachineHealth", R"({"host": "ws-9"})");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(
      missing.body,
      R"({"error":{"code":"NOT_FOUND","status":404,"message":"no machine named 'ws-9' has reported"}})");
  auto conflict = Call("POST", "/api/v1/UpdateTicket", R"({"ticketId": "MED-1"})");
  EXPECT_EQ(conflict.status, 400);
  EXPECT_THAT(conflict.body, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(conflict.body, HasSubstr("MED-1 is acknowledged already"));
  auto unauthenticated = Call("POST", "/api/v1/GetTicket", R"({"ticketId": "MED-1"})");
  EXPECT_EQ(unauthenticated.status, 401);
}

TEST_F(WebServerTest, AuthorizationHeaderReachesTheServiceAsMetadata) {
  auto r = Call("POST", "/api/v1/GetTicket", R"({"ticketId": "MED-7"})",
                {{"Content-Type", "application/json"}, {"Authorization", "Bearer s3cret"}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("title":"Bearer s3cret")"));
}

TEST_F(WebServerTest, UnknownMethodIs404) {
  auto r = Call("POST", "/api/v1/DeleteEverything", "{}");
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("no API method 'DeleteEverything'"));
}

TEST_F(WebServerTest, BadRequestsAreRefusedWithAReason) {
  auto json = Call("POST", "/api/v1/ListMachines", R"({"selector": )");
  EXPECT_EQ(json.status, 400);
  EXPECT_THAT(json.body, HasSubstr("not a ListMachinesRequest in JSON"));
  auto field = Call("POST", "/api/v1/ListMachines", R"({"colour": "red"})");
  EXPECT_EQ(field.status, 400);
  auto form = Call("POST", "/api/v1/ListMachines", "{}", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(form.status, 415) << "a plain form from another site cannot post";
  auto get_change = Call("GET", "/api/v1/UpdateTicket?ticketId=MED-1");
  EXPECT_EQ(get_change.status, 405);
  EXPECT_THAT(get_change.body, HasSubstr("use POST"));
}

TEST(WebServerHostTest, InsecureModeAnswersOnlyToLoopbackNames) {
  // DNS rebinding: a page of evil.example points its name at 127.0.0.1 and calls the
  // console as "its own" site. In --insecure mode every caller is admin, so such a Host is
  // refused before anything else.
  FakeTechnicians service;
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  WebOptions options;
  options.listen = "127.0.0.1:0";
  options.loopback_hosts_only = true;
  auto web = WebServer::Start(options, server->InProcessChannel(grpc::ChannelArguments()), nullptr);
  ASSERT_TRUE(web.ok()) << web.status();
  const std::string port = (*web)->address().substr((*web)->address().rfind(':') + 1);
  const auto call = [&](const std::string& host) {
    auto r = HttpCall("POST", "http://" + (*web)->address() + "/api/v1/ListMachines", "{}",
                      {{"Content-Type", "application/json"}, {"Host", host}}, absl::Seconds(10));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : tickets::HttpResponse{};
  };
  for (const std::string host :
       {"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port, std::string("127.0.0.1")}) {
    EXPECT_EQ(call(host).status, 200) << host;
  }
  for (const std::string& host :
       std::vector<std::string>{"evil.example:" + port, "127.0.0.1.evil.example",
                                "localhost.evil.example", "10.0.0.1:" + port, "[::1]x", ""}) {
    const auto refused = call(host);
    EXPECT_EQ(refused.status, 403) << host;
    EXPECT_THAT(refused.body, HasSubstr("answers only to loopback names")) << host;
  }
  (*web)->Stop();
  server->Shutdown();
}

TEST_F(WebServerTest, OversizedBodyIs413) {
  const std::string big = R"({"host": ")" + std::string(5000, 'x') + R"("})";
  auto r = Call("POST", "/api/v1/GetMachineHealth", big);
  EXPECT_EQ(r.status, 413);
  EXPECT_THAT(r.body, HasSubstr("larger than 4096 bytes"));
}

TEST_F(WebServerTest, StreamsAreServerSentEvents) {
  auto r = Call("POST", "/api/v1/WatchEvents", "{}");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("data: {\"host\":\"ws-1\"}\n\n"));
  // One data line per message: the newline inside a value stays escaped.
  EXPECT_THAT(r.body, HasSubstr("data: {\"host\":\"ws-\\\"2\\\"\\nnext\"}\n\n"));
  EXPECT_THAT(r.body, HasSubstr("event: end\n"));
}

TEST_F(WebServerTest, AStreamRefusedAtOnceIsAPlainHttpError) {
  auto r = Call("POST", "/api/v1/RunDiagnostic", R"({"check": "DIAGNOSTIC_CHECK_DNS"})");
  EXPECT_EQ(r.status, 501);
  EXPECT_THAT(r.body, HasSubstr("RunDiagnostic is not available on this collector"));
}

TEST_F(WebServerTest, PagesAndMetrics) {
  auto index = Call("GET", "/");
  EXPECT_EQ(index.status, 200);
  EXPECT_THAT(index.body, HasSubstr("<script src=\"/app.js\""));
  EXPECT_EQ(Call("GET", "/app.js").status, 200);
  EXPECT_EQ(Call("GET", "/nothing-here").status, 404);
  EXPECT_EQ(Call("POST", "/metrics", "").status, 405);
  auto metrics = Call("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body, HasSubstr("# TYPE medic_test_total counter\nmedic_test_total 3\n"));
}

// A browser that closes the page mid-stream: its call is cancelled at once, not at the next
// keepalive write.
TEST_F(WebServerTest, ABrowserThatHangsUpCancelsItsStream) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  const std::string address = web_->address();
  const size_t colon = address.rfind(':');
  socket.connect({boost::asio::ip::make_address(address.substr(0, colon)),
                  static_cast<uint16_t>(std::stoi(address.substr(colon + 1)))});
  const std::string request =
      "POST /api/v1/WatchEvents HTTP/1.1\r\nHost: " + address +
      "\r\nContent-Type: application/json\r\nAuthorization: Bearer hold-open\r\n"
      "Content-Length: 2\r\n\r\n{}";
  boost::asio::write(socket, boost::asio::buffer(request));
  std::string received;
  char chunk[1024];
  while (received.find("data: ") == std::string::npos) {
    received.append(chunk, socket.read_some(boost::asio::buffer(chunk)));
  }
  EXPECT_THAT(received, HasSubstr("text/event-stream"));
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_FALSE(service_.cancelled) << "open while the browser is there";
  socket.close();
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!service_.cancelled && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_TRUE(service_.cancelled) << "the hang-up reached the service";
}

TEST_F(WebServerTest, AfterStopNothingAnswers) {
  web_->Stop();
  auto r = HttpCall("GET", "http://" + web_->address() + "/", "", {}, absl::Seconds(2));
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace medic::collector::web

namespace medic::collector::web {
namespace {

// A CA and a server certificate for 127.0.0.1 signed by it, as the collector makes them.
struct TestPki {
  std::string ca_pem, cert_pem, key_pem;
};

TestPki MakePki() {
  namespace tls = common::tls;
  TestPki pki;
  const absl::Time now = absl::Now();
  const std::string ca_key = *tls::GenerateKeyPem();
  pki.ca_pem =
      *tls::MakeCaCertificate(ca_key, "Medic test CA", now - absl::Hours(1), now + absl::Hours(24));
  pki.key_pem = *tls::GenerateKeyPem();
  tls::CertificateSpec spec;
  spec.common_name = "medic-collector";
  spec.names = {"127.0.0.1"};
  spec.server = true;
  spec.not_before = now - absl::Hours(1);
  spec.not_after = now + absl::Hours(24);
  pki.cert_pem = *tls::IssueCertificate(pki.ca_pem, ca_key, pki.key_pem, spec);
  return pki;
}

class WebServerTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    pki_ = MakePki();
  }
  void TearDown() override { server_->Shutdown(); }

  absl::StatusOr<std::unique_ptr<WebServer>> StartWeb(const std::string& cert_pem,
                                                      const std::string& key_pem) {
    WebOptions options;
    options.listen = "127.0.0.1:0";
    options.tls_cert_pem = cert_pem;
    options.tls_key_pem = key_pem;
    return WebServer::Start(options, server_->InProcessChannel(grpc::ChannelArguments()), nullptr);
  }

  FakeTechnicians service_;
  std::unique_ptr<grpc::Server> server_;
  TestPki pki_;
};

// Also HttpCall's https, which the outbox uses for helpdesks: it verifies the server against
// the CA it is given and the URL's host.
TEST_F(WebServerTlsTest, ServesHttpsWithItsCertificateAndSendsPlainHttpThere) {
  auto web = StartWeb(pki_.cert_pem, pki_.key_pem);
  ASSERT_TRUE(web.ok()) << web.status();
  const std::string address = (*web)->address();
  EXPECT_EQ((*web)->url(), "https://" + address + "/");
  const auto https = [&](std::string_view method, const std::string& url, const std::string& ca) {
    return HttpCall(method, url, "{}", {{"Content-Type", "application/json"}}, absl::Seconds(10),
                    ca);
  };

  auto page = https("GET", "https://" + address + "/", pki_.ca_pem);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->body, HasSubstr("<script src=\"/app.js\""));
  auto api = https("POST", "https://" + address + "/api/v1/ListMachines", pki_.ca_pem);
  ASSERT_TRUE(api.ok()) << api.status();
  EXPECT_EQ(api->status, 200);
  EXPECT_THAT(api->body, HasSubstr(R"("hostname":"ws-042")"));
  // A stream's body ends with the connection: over TLS that end is a close_notify, without
  // which the client could not tell it from a cut (and HttpCall would fail).
  auto events = https("POST", "https://" + address + "/api/v1/WatchEvents", pki_.ca_pem);
  ASSERT_TRUE(events.ok()) << events.status();
  EXPECT_THAT(events->body, HasSubstr("data: {\"host\":\"ws-1\"}\n\n"));
  EXPECT_THAT(events->body, HasSubstr("event: end\n"));

  // Plain HTTP on the same port carries no request through: it is sent to https.
  auto plain =
      HttpCall("POST", "http://" + address + "/api/v1/GetTicket", R"({"ticketId": "MED-7"})",
               {{"Content-Type", "application/json"}, {"Authorization", "Bearer s3cret"}},
               absl::Seconds(10));
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->status, 308);
  EXPECT_THAT(plain->body,
              HasSubstr("served over HTTPS: https://" + address + "/api/v1/GetTicket"));
  EXPECT_THAT(plain->body, Not(HasSubstr("s3cret")));

  // A client that trusts another CA, or asks for a name the certificate does not carry,
  // refuses the server.
  auto other_ca = https("GET", "https://" + address + "/", MakePki().ca_pem);
  EXPECT_EQ(other_ca.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(other_ca.status().message(), HasSubstr("certificate verify failed"));
  const std::string port = address.substr(address.rfind(':') + 1);
  auto other_name = https("GET", "https://localhost:" + port + "/", pki_.ca_pem);
  EXPECT_EQ(other_name.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(other_name.status().message(), HasSubstr("certificate verify failed"));
  (*web)->Stop();
}

TEST_F(WebServerTlsTest, AKeyThatIsNotPemIsRefusedAtStart) {
  auto web = StartWeb(pki_.cert_pem, "not a key");
  ASSERT_FALSE(web.ok());
  EXPECT_EQ(web.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(web.status().message(), HasSubstr("TLS certificate or key is not usable"));
}

}  // namespace
}  // namespace medic::collector::web
