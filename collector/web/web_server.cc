#include "collector/web/web_server.h"

#include <sys/socket.h>

#include <cerrno>
#include <deque>
#include <optional>

#include "absl/strings/numbers.h"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/core/detect_ssl.hpp"
#include "boost/beast/http.hpp"
#include "collector/web/assets.h"
#include "collector/web/gateway.h"
#include "common/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace medic::collector::web {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using PlainStream = beast::tcp_stream;
// asio's own TLS stream: Boost 1.74's beast::ssl_stream cannot take a buffered handshake in
// C++20 (its completion-token constraint names the wrong signature).
using TlsStream = ssl::stream<beast::tcp_stream>;

constexpr std::string_view kApiPrefix = "/api/v1/";
// A stream that has sent nothing yet gets its 200 and SSE header after this: a stream that
// fails at once (UNIMPLEMENTED, NOT_FOUND) answers with a plain HTTP error instead.
constexpr auto kStreamHeaderDelay = std::chrono::milliseconds(300);
// For the TLS handshake, or for the first bytes that tell TLS from plain HTTP.
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);

std::string Decode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size()) {
      const std::string hex(text.substr(i + 1, 2));
      char* end = nullptr;
      const long value = std::strtol(hex.c_str(), &end, 16);
      if (end == hex.c_str() + 2) {
        out += static_cast<char>(value);
        i += 2;
      } else {
        out += '%';
      }
    } else {
      out += text[i];
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ParseQueryString(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      out.emplace_back(Decode(pair.substr(0, eq)),
                       eq == std::string_view::npos ? "" : Decode(pair.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

bool IsReadOnlyName(std::string_view method) {
  return method.starts_with("Get") || method.starts_with("List") || method.starts_with("Watch");
}

// True for a Host header naming this machine's loopback: localhost, 127.x.x.x or [::1],
// with or without a port.
bool IsLoopbackName(std::string_view host) {
  if (host.starts_with("[::1]")) return host.size() == 5 || host[5] == ':';
  host = host.substr(0, host.find(':'));
  if (host == "localhost") return true;
  boost::system::error_code ec;
  const auto v4 = asio::ip::make_address_v4(std::string(host), ec);
  return !ec && v4.is_loopback();
}

}  // namespace

struct WebServer::Impl {
  WebOptions options;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  Gateway gateway;
  const common::metrics::Registry* registry;
  std::optional<ssl::context> tls;  // set: HTTPS, and plain HTTP gets a redirect to it
  std::atomic<bool> stopped{false};

  Impl(WebOptions o, std::shared_ptr<grpc::Channel> channel, const common::metrics::Registry* r)
      : options(std::move(o)),
        gateway(std::move(channel), "medic.v1.TechnicianService"),
        registry(r) {}

  void Accept();
  // TLS or not, from the connection's first bytes; `socket` is already on its strand.
  void Detect(tcp::socket socket);
};

namespace {

// One HTTP connection: requests one after another (keep-alive), or one SSE stream. `Stream` is
// PlainStream or TlsStream; `buffer` holds what was read before (by the TLS detection).
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>>, public StreamReceiver {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  template <class... StreamArgs>
  Session(WebServer::Impl& server, beast::flat_buffer buffer, StreamArgs&&... stream_args)
      : stream_(std::forward<StreamArgs>(stream_args)...),
        server_(server),
        timer_(stream_.get_executor()),
        buffer_(std::move(buffer)) {}

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->Begin(); });
  }

  // --- StreamReceiver: on gRPC threads; everything moves to this connection's strand. ---
  void OnMessage(std::string json) override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this(), json = std::move(json)] {
      self->SendEvent("", json, /*then_read_next=*/true);
    });
  }
  void OnDone(const grpc::Status& status) override {
    asio::post(stream_.get_executor(),
               [self = this->shared_from_this(), status] { self->StreamEnded(status); });
  }

 private:
  using Response = http::response<http::string_body>;

  beast::tcp_stream& Socket() { return beast::get_lowest_layer(stream_); }

  void Begin() {
    if constexpr (kTls) {
      Socket().expires_after(kHandshakeTimeout);
      stream_.async_handshake(ssl::stream_base::server, buffer_.data(),
                              [self = this->shared_from_this()](beast::error_code ec, size_t used) {
                                if (ec) {
                                  spdlog::debug("web console: TLS handshake failed: {}",
                                                ec.message());
                                  return self->Close();
                                }
                                self->buffer_.consume(used);
                                self->secured_ = true;
                                self->ReadRequest();
                              });
    } else {
      ReadRequest();
    }
  }

  void ReadRequest() {
    parser_.emplace();
    parser_->body_limit(server_.options.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(server_.options.max_header_bytes));
    Socket().expires_after(absl::ToChronoMilliseconds(server_.options.read_timeout));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == ssl::error::stream_truncated) {  // a TLS client gone without close_notify
      return Close();
    }
    if (ec == http::error::body_limit) {
      return SendError(413, "PAYLOAD_TOO_LARGE",
                       common::StrCat("the request body is larger than ",
                                      server_.options.max_body_bytes, " bytes"),
                       false);
    }
    if (ec == http::error::header_limit) {
      return SendError(431, "HEADERS_TOO_LARGE",
                       common::StrCat("the request headers are larger than ",
                                      server_.options.max_header_bytes, " bytes"),
                       false);
    }
    if (ec)
      return SendError(400, "BAD_REQUEST", common::StrCat("bad HTTP request: ", ec.message()),
                       false);
    request_ = parser_->release();
    keep_alive_ = request_.keep_alive();
    Route();
  }

  void Route() {
    if (!kTls && server_.tls.has_value()) return RedirectToHttps();
    if (server_.options.loopback_hosts_only) {
      const std::string_view host(request_[http::field::host].data(),
                                  request_[http::field::host].size());
      if (!IsLoopbackName(host)) {
        return SendError(
            403, "FORBIDDEN",
            common::StrCat("this console runs in --insecure test mode and answers only to "
                           "loopback names, not to Host '",
                           host, "'; open it at 127.0.0.1 or localhost"),
            false);
      }
    }
    const std::string_view target(request_.target().data(), request_.target().size());
    const size_t q = target.find('?');
    const std::string_view path = target.substr(0, q);
    const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
    if (path.starts_with(kApiPrefix)) return Api(path.substr(kApiPrefix.size()), query);
    if (request_.method() != http::verb::get && request_.method() != http::verb::head) {
      return SendError(405, "METHOD_NOT_ALLOWED", "only GET is allowed here", keep_alive_);
    }
    if (path == "/metrics" && server_.registry != nullptr) {
      return Send(200, "text/plain; version=0.0.4; charset=utf-8", server_.registry->Expose());
    }
    if (path == "/healthz") return Send(200, "text/plain; charset=utf-8", "ok\n");
    const Asset* asset = FindAsset(path == "/" ? "/index.html" : path);
    if (asset == nullptr) {
      return SendError(404, "NOT_FOUND", common::StrCat("nothing at ", path), keep_alive_);
    }
    Send(200, asset->content_type, std::string(asset->data, asset->size));
  }

  // Plain HTTP to a console that serves HTTPS: the same address over https, and nothing else
  // (a technician's token must not cross the network in clear).
  void RedirectToHttps() {
    const std::string_view host(request_[http::field::host].data(),
                                request_[http::field::host].size());
    if (host.empty()) {
      return SendError(400, "HTTPS_REQUIRED", "this console is served over HTTPS only", false);
    }
    // Only a path goes after the client's own Host: never an absolute or odd target.
    std::string_view target(request_.target().data(), request_.target().size());
    if (!target.starts_with('/') || target.starts_with("//")) target = "/";
    const std::string location = common::StrCat("https://", host, target);
    Response response{http::status::permanent_redirect, request_.version()};
    response.set(http::field::location, location);
    Finish(std::move(response), "application/json",
           common::StrCat(
               "{\"error\":{\"code\":\"HTTPS_REQUIRED\",\"status\":308,\"message\":",
               JsonQuote(common::StrCat("this console is served over HTTPS: ", location)), "}}"),
           false);
  }

  void Api(std::string_view name, std::string_view query) {
    const google::protobuf::MethodDescriptor* method = server_.gateway.Find(name);
    if (method == nullptr) {
      return SendError(
          404, "NOT_FOUND",
          common::StrCat("no API method '", name, "': see /api/v1/ methods in TechnicianService"),
          keep_alive_);
    }
    method_name_ = method->name();
    absl::StatusOr<std::unique_ptr<google::protobuf::Message>> parsed;
    if (request_.method() == http::verb::get) {
      if (!IsReadOnlyName(method->name())) {
        return SendError(
            405, "METHOD_NOT_ALLOWED",
            common::StrCat(method->name(), " changes things: use POST with a JSON body"),
            keep_alive_);
      }
      parsed = server_.gateway.ParseQuery(*method, ParseQueryString(query));
    } else if (request_.method() == http::verb::post) {
      // A JSON content type keeps plain HTML forms of other sites from posting here.
      const std::string_view type(request_[http::field::content_type].data(),
                                  request_[http::field::content_type].size());
      if (!type.starts_with("application/json")) {
        return SendError(415, "UNSUPPORTED_MEDIA_TYPE",
                         "send the request as Content-Type: application/json", keep_alive_);
      }
      parsed = server_.gateway.ParseRequest(*method, request_.body());
    } else {
      return SendError(405, "METHOD_NOT_ALLOWED", "use GET or POST", keep_alive_);
    }
    if (!parsed.ok()) {
      return SendError(400, "INVALID_ARGUMENT", std::string(parsed.status().message()),
                       keep_alive_);
    }
    if (method->client_streaming()) {
      return SendError(501, "UNIMPLEMENTED", "client-streaming methods have no HTTP form",
                       keep_alive_);
    }
    const std::string authorization(request_[http::field::authorization]);
    if (method->server_streaming()) {
      timer_.expires_after(kStreamHeaderDelay);
      timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
        if (!ec) self->SendStreamHeader();
      });
      WatchForHangUp();
      call_ =
          server_.gateway.CallStreaming(*method, **parsed, authorization, this->shared_from_this());
      return;
    }
    server_.gateway.CallUnary(
        *method, **parsed, authorization,
        [self = this->shared_from_this()](grpc::Status status, std::string json) {
          asio::post(self->stream_.get_executor(),
                     [self, status = std::move(status), json = std::move(json)] {
                       if (status.ok()) {
                         self->Send(200, "application/json", json);
                       } else {
                         self->SendGrpcError(status, self->keep_alive_);
                       }
                     });
        });
  }

  void SendGrpcError(const grpc::Status& status, bool keep_alive) {
    Response response{static_cast<http::status>(HttpStatusFor(status.error_code())),
                      request_.version()};
    Finish(std::move(response), "application/json", ErrorJson(status.error_code(), Explain(status)),
           keep_alive);
  }

  // gRPC's own UNIMPLEMENTED (a method this collector does not serve yet) has no message.
  std::string Explain(const grpc::Status& status) const {
    if (!status.error_message().empty()) return status.error_message();
    if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      return common::StrCat(method_name_, " is not available on this collector");
    }
    return common::StrCat(method_name_, " failed (", StatusCodeName(status.error_code()), ")");
  }

  void SendError(int code, std::string_view name, std::string_view message, bool keep_alive) {
    Response response{static_cast<http::status>(code),
                      request_.version() ? request_.version() : 11};
    Finish(std::move(response), "application/json",
           common::StrCat("{\"error\":{\"code\":\"", name, "\",\"status\":", code,
                          ",\"message\":", JsonQuote(message), "}}"),
           keep_alive);
  }

  void Send(int code, std::string_view content_type, std::string body) {
    Response response{static_cast<http::status>(code), request_.version()};
    Finish(std::move(response), content_type, std::move(body), keep_alive_);
  }

  void Finish(Response response, std::string_view content_type, std::string body, bool keep_alive) {
    if (closed_) return;  // e.g. a unary answer arriving after the browser hung up
    response.set(http::field::server, "medic-collector");
    response.set(http::field::content_type, content_type);
    response.set(http::field::cache_control, "no-store");
    response.set("X-Content-Type-Options", "nosniff");
    response.set("Content-Security-Policy",
                 "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    response.keep_alive(keep_alive);
    const bool head = request_.method() == http::verb::head;
    response.body() = std::move(body);
    response.prepare_payload();
    if (head) response.body().clear();
    auto shared = std::make_shared<Response>(std::move(response));
    Socket().expires_after(std::chrono::seconds(30));
    http::async_write(
        stream_, *shared,
        [self = this->shared_from_this(), shared, keep_alive](beast::error_code ec, size_t) {
          if (ec || !keep_alive) return self->Close();
          self->ReadRequest();
        });
  }

  // --- Server-sent events ---

  // While streaming nothing more is read from the browser: a read that ends means it hung up.
  // The wait can also end with nothing to read (a readiness event left from bytes the request's
  // own read already took): that is no hang-up, and the watch goes on.
  void WatchForHangUp() {
    Socket().expires_never();
    Socket().socket().async_wait(
        tcp::socket::wait_read, [self = this->shared_from_this()](beast::error_code ec) {
          if (!ec && !self->closed_) {
            char byte;
            const ssize_t n =
                ::recv(self->Socket().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return self->WatchForHangUp();
          }
          if (self->call_ != nullptr) self->call_->Cancel();
        });
  }

  void SendStreamHeader() {
    if (header_sent_ || closed_) return;
    header_sent_ = true;
    Write(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n: stream open\n\n",
        false);
    ScheduleKeepalive();
  }

  void ScheduleKeepalive() {
    timer_.expires_after(absl::ToChronoMilliseconds(server_.options.keepalive_every));
    timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->ended_) return;
      self->Write(": keepalive\n\n", false);
      self->ScheduleKeepalive();
    });
  }

  void SendEvent(std::string_view event, std::string_view json, bool then_read_next) {
    SendStreamHeader();
    std::string text;
    if (!event.empty()) text = common::StrCat("event: ", event, "\n");
    // The proto JSON printer writes no raw newlines, so the message is one data line.
    text += common::StrCat("data: ", json, "\n\n");
    Write(std::move(text), then_read_next);
  }

  void StreamEnded(const grpc::Status& status) {
    ended_ = true;
    if (!header_sent_) {
      timer_.cancel();
      keep_alive_ = false;
      if (!status.ok()) return SendGrpcError(status, false);
      SendStreamHeader();
    }
    if (status.ok()) {
      SendEvent("end", "{}", false);
    } else {
      SendEvent("error", ErrorJson(status.error_code(), Explain(status)), false);
    }
    close_after_writes_ = true;
    if (!writing_) Close();
  }

  // Writes one at a time, in order; `read_next` asks the stream for its next message once
  // this one is out (flow control: a slow browser slows the stream).
  void Write(std::string text, bool read_next) {
    if (closed_) return;  // nothing more goes out, least of all beside a TLS shutdown
    writes_.push_back({std::move(text), read_next});
    if (!writing_) WriteNext();
  }

  void WriteNext() {
    if (writes_.empty()) {
      writing_ = false;
      if (close_after_writes_) Close();
      return;
    }
    writing_ = true;
    Socket().expires_after(std::chrono::seconds(30));
    asio::async_write(stream_, asio::buffer(writes_.front().text),
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        const bool read_next = self->writes_.front().read_next;
                        self->writes_.pop_front();
                        if (ec) {
                          if (self->call_ != nullptr) self->call_->Cancel();
                          self->writes_.clear();
                          self->writing_ = false;
                          return self->Close();
                        }
                        if (read_next && self->call_ != nullptr) self->call_->ReadNext();
                        self->WriteNext();
                      });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    // Ends the stream's hold on this session once gRPC says OnDone.
    if (call_ != nullptr && !ended_) call_->Cancel();
    if constexpr (kTls) {
      // close_notify first: a stream's body ends with the connection, and without it a
      // strict client cannot tell the end from a cut. The peer gets 2 s to answer.
      if (secured_) {
        Socket().expires_after(std::chrono::seconds(2));
        stream_.async_shutdown(
            [self = this->shared_from_this()](beast::error_code) { self->CloseSocket(); });
        return;
      }
    }
    CloseSocket();
  }

  void CloseSocket() {
    beast::error_code ignored;
    Socket().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Socket().close();
  }

  struct PendingWrite {
    std::string text;
    bool read_next;
  };

  Stream stream_;
  WebServer::Impl& server_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> request_;
  bool keep_alive_ = false;
  std::string method_name_;
  std::shared_ptr<StreamCall> call_;
  std::deque<PendingWrite> writes_;
  bool writing_ = false;
  bool header_sent_ = false;
  bool ended_ = false;
  bool close_after_writes_ = false;
  bool closed_ = false;
  bool secured_ = false;  // the TLS handshake is done
};

}  // namespace

void WebServer::Impl::Accept() {
  acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
    if (stopped) return;
    if (ec) {
      spdlog::debug("web console: accept failed: {}", ec.message());
    } else if (tls.has_value()) {
      Detect(std::move(socket));
    } else {
      std::make_shared<Session<PlainStream>>(*this, beast::flat_buffer(), std::move(socket))
          ->Start();
    }
    Accept();
  });
}

void WebServer::Impl::Detect(tcp::socket socket) {
  struct Detecting {
    PlainStream stream;
    beast::flat_buffer buffer;
  };
  auto detecting = std::make_shared<Detecting>(Detecting{PlainStream(std::move(socket)), {}});
  detecting->stream.expires_after(kHandshakeTimeout);
  beast::async_detect_ssl(
      detecting->stream, detecting->buffer, [this, detecting](beast::error_code ec, bool is_tls) {
        if (ec) return;  // closed or silent: the stream closes with `detecting`
        detecting->stream.expires_never();
        if (is_tls) {
          std::make_shared<Session<TlsStream>>(*this, std::move(detecting->buffer),
                                               std::move(detecting->stream), *tls)
              ->Start();
        } else {
          std::make_shared<Session<PlainStream>>(*this, std::move(detecting->buffer),
                                                 std::move(detecting->stream))
              ->Start();
        }
      });
}

WebServer::WebServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<WebServer>> WebServer::Start(
    const WebOptions& options, std::shared_ptr<grpc::Channel> channel,
    const common::metrics::Registry* registry) {
  const size_t colon = options.listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(common::StrCat("http_listen: '", options.listen,
                                                     "' is not HOST:PORT (e.g. 127.0.0.1:7080)"));
  }
  std::string host = options.listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port = 0;
  if (!absl::SimpleAtoi(options.listen.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        common::StrCat("http_listen: '", options.listen, "' has no valid port"));
  }
  auto impl = std::make_unique<Impl>(options, std::move(channel), registry);
  if (!options.tls_cert_pem.empty()) {
    auto& tls = impl->tls.emplace(ssl::context::tls_server);
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                    ssl::context::single_dh_use);
    boost::system::error_code tls_ec;
    tls.use_certificate_chain(asio::buffer(options.tls_cert_pem), tls_ec);
    if (!tls_ec) {
      tls.use_private_key(asio::buffer(options.tls_key_pem), ssl::context::pem, tls_ec);
    }
    if (tls_ec) {
      return absl::InvalidArgumentError(common::StrCat(
          "the web console's TLS certificate or key is not usable: ", tls_ec.message()));
    }
  }
  beast::error_code ec;
  const auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) {
    return absl::InvalidArgumentError(common::StrCat(
        "http_listen: '", host, "' is not an IP address (use 127.0.0.1 or 0.0.0.0)"));
  }
  const tcp::endpoint endpoint(address, static_cast<uint16_t>(port));
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        common::StrCat("cannot serve the web console on ", options.listen, ": ", ec.message(),
                       " — choose another address with http_listen (or \"\" to turn it off)"));
  }
  const uint16_t bound = impl->acceptor.local_endpoint().port();
  std::unique_ptr<WebServer> server(new WebServer(std::move(impl)));
  server->address_ = common::StrCat(options.listen.substr(0, colon), ":", bound);
  server->impl_->Accept();
  for (int i = 0; i < std::max(1, options.threads); ++i) {
    server->threads_.emplace_back([io = &server->impl_->io] { io->run(); });
  }
  return server;
}

std::string WebServer::url() const {
  return common::StrCat(impl_->tls.has_value() ? "https://" : "http://", address_, "/");
}

WebServer::~WebServer() { Stop(); }

void WebServer::Stop() {
  if (impl_->stopped.exchange(true)) return;
  // Calls first: their callbacks post into the io_context, which must still run them.
  impl_->gateway.Shutdown();
  asio::post(impl_->io, [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
  });
  impl_->io.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

}  // namespace medic::collector::web
