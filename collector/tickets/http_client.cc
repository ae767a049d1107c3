#include "collector/tickets/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/strings/str_cat.h"

namespace medic::collector::tickets {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

struct Url {
  std::string host, port, target;
};

absl::StatusOr<Url> ParseUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) {
    return absl::InvalidArgumentError(
        common::StrCat("'", url, "' is not an http:// URL (https is not supported yet)"));
  }
  std::string_view rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  Url out;
  out.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  const size_t colon = authority.rfind(':');
  out.host = std::string(authority.substr(0, colon));
  out.port = colon == std::string_view::npos ? "80" : std::string(authority.substr(colon + 1));
  if (out.host.empty())
    return absl::InvalidArgumentError(common::StrCat("'", url, "' has no host"));
  return out;
}

}  // namespace

absl::StatusOr<HttpResponse> HttpCall(std::string_view method, std::string_view url,
                                      std::string_view body,
                                      const std::map<std::string, std::string>& headers,
                                      absl::Duration timeout) {
  absl::StatusOr<Url> parsed = ParseUrl(url);
  if (!parsed.ok()) return parsed.status();
  // Asynchronous steps run for at most `timeout` in all: Beast's own timeouts apply to
  // asynchronous calls only, and a receiver that accepts and never answers must not hold the
  // outbox (or the collector's shutdown) for good.
  boost::asio::io_context io;
  tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  http::request<http::string_body> request{http::string_to_verb(std::string(method)),
                                           parsed->target, 11};
  // As browsers send it: with the port unless it is http's own (RFC 9110, 7.2).
  request.set(http::field::host, parsed->port == "80"
                                     ? parsed->host
                                     : common::StrCat(parsed->host, ":", parsed->port));
  request.set(http::field::user_agent, "medic-collector/" MEDIC_VERSION);
  request.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : headers) request.set(k, v);
  request.body() = std::string(body);
  request.prepare_payload();
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  beast::error_code failure;
  bool done = false;
  const auto finish = [&](beast::error_code e) {
    failure = e;
    done = true;
  };
  resolver.async_resolve(
      parsed->host, parsed->port, [&](beast::error_code e, tcp::resolver::results_type results) {
        if (e) return finish(e);
        stream.async_connect(results, [&](beast::error_code e, const tcp::endpoint&) {
          if (e) return finish(e);
          http::async_write(stream, request, [&](beast::error_code e, size_t) {
            if (e) return finish(e);
            http::async_read(stream, buffer, response,
                             [&](beast::error_code e, size_t) { finish(e); });
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
