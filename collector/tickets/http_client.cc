#include "collector/tickets/http_client.h"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>

#include "common/strings/str_cat.h"

namespace medic::collector::tickets {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

struct Url {
  bool tls = false;
  std::string authority;  // host[:port] as the URL has it: the Host header
  std::string host, port, target;
};

absl::StatusOr<Url> ParseUrl(std::string_view url) {
  Url out;
  std::string_view rest;
  if (url.starts_with("https://")) {
    out.tls = true;
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return absl::InvalidArgumentError(
        common::StrCat("'", url, "' is not an http:// or https:// URL"));
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  out.authority = std::string(authority);
  out.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  const size_t colon = authority.rfind(':');
  out.host = std::string(authority.substr(0, colon));
  out.port = colon != std::string_view::npos ? std::string(authority.substr(colon + 1))
             : out.tls                       ? "443"
                                             : "80";
  if (out.host.empty())
    return absl::InvalidArgumentError(common::StrCat("'", url, "' has no host"));
  return out;
}

// Writes the request and reads the response on `stream` (plain or TLS), then `finish`.
template <class Stream, class Finish>
void Exchange(Stream& stream, http::request<http::string_body>& request, beast::flat_buffer& buffer,
              http::response<http::string_body>& response, Finish& finish) {
  http::async_write(stream, request, [&](beast::error_code e, size_t) {
    if (e) return finish(e);
    http::async_read(stream, buffer, response, [&](beast::error_code e, size_t) { finish(e); });
  });
}

}  // namespace

absl::StatusOr<HttpResponse> HttpCall(std::string_view method, std::string_view url,
                                      std::string_view body,
                                      const std::map<std::string, std::string>& headers,
                                      absl::Duration timeout, const std::string& ca_pem) {
  absl::StatusOr<Url> parsed = ParseUrl(url);
  if (!parsed.ok()) return parsed.status();
  // Asynchronous steps run for at most `timeout` in all: Beast's own timeouts apply to
  // asynchronous calls only, and a receiver that accepts and never answers must not hold the
  // outbox (or the collector's shutdown) for good.
  boost::asio::io_context io;
  tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  // For https: the server's certificate must chain to `ca_pem` (or the system's CAs) and name
  // the URL's host; TLS 1.2 or later.
  std::optional<ssl::context> context;
  std::optional<ssl::stream<beast::tcp_stream&>> tls;
  if (parsed->tls) {
    context.emplace(ssl::context::tls_client);
    context->set_options(ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    boost::system::error_code e;
    if (ca_pem.empty()) {
      context->set_default_verify_paths(e);
    } else {
      context->add_certificate_authority(boost::asio::buffer(ca_pem), e);
    }
    if (e) {
      return absl::InvalidArgumentError(
          common::StrCat(method, " ", url, ": the CA certificates are not usable: ", e.message()));
    }
    context->set_verify_mode(ssl::verify_peer);
    tls.emplace(stream, *context);
    tls->set_verify_callback(ssl::host_name_verification(parsed->host));
    // SNI, so a server with several names picks the right certificate (names only: RFC 6066
    // leaves IP addresses out).
    boost::system::error_code not_ip;
    boost::asio::ip::make_address(parsed->host, not_ip);
    if (not_ip) SSL_set_tlsext_host_name(tls->native_handle(), parsed->host.c_str());
  }
  http::request<http::string_body> request{http::string_to_verb(std::string(method)),
                                           parsed->target, 11};
  // As browsers send it: the URL's host and port, the port only when the URL names one.
  request.set(http::field::host, parsed->authority);
  request.set(http::field::user_agent, "medic-collector/" MEDIC_VERSION);
  request.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : headers) request.set(k, v);
  request.body() = std::string(body);
  request.prepare_payload();
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  beast::error_code failure;
  bool done = false;
  auto finish = [&](beast::error_code e) {
    failure = e;
    done = true;
  };
  resolver.async_resolve(
      parsed->host, parsed->port, [&](beast::error_code e, tcp::resolver::results_type results) {
        if (e) return finish(e);
        stream.async_connect(results, [&](beast::error_code e, const tcp::endpoint&) {
          if (e) return finish(e);
          if (!tls.has_value()) return Exchange(stream, request, buffer, response, finish);
          tls->async_handshake(ssl::stream_base::client, [&](beast::error_code e) {
            if (e) return finish(e);
            Exchange(*tls, request, buffer, response, finish);
          });
        });
      });
  io.run_for(absl::ToChronoMilliseconds(timeout));
  if (!done) {
    return absl::DeadlineExceededError(
        common::StrCat(method, " ", url, ": no answer within ", absl::FormatDuration(timeout)));
  }
  if (failure) {
    return absl::UnavailableError(common::StrCat(method, " ", url, ": ", failure.message()));
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return HttpResponse{static_cast<int>(response.result_int()), response.body()};
}

}  // namespace medic::collector::tickets
