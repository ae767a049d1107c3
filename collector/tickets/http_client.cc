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
  try {
    boost::asio::io_context io;
    tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(absl::ToChronoMilliseconds(timeout));
    auto endpoints = resolver.resolve(parsed->host, parsed->port);
    stream.connect(endpoints);
    http::request<http::string_body> request{http::string_to_verb(std::string(method)),
                                             parsed->target, 11};
    request.set(http::field::host, parsed->host);
    request.set(http::field::user_agent, "medic-collector/" MEDIC_VERSION);
    request.set(http::field::content_type, "application/json");
    for (const auto& [k, v] : headers) request.set(k, v);
    request.body() = std::string(body);
    request.prepare_payload();
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    return HttpResponse{static_cast<int>(response.result_int()), response.body()};
  } catch (const beast::system_error& e) {
    if (e.code() == beast::error::timeout) {
      return absl::DeadlineExceededError(
          common::StrCat(method, " ", url, ": no answer within ", absl::FormatDuration(timeout)));
    }
    return absl::UnavailableError(common::StrCat(method, " ", url, ": ", e.code().message()));
  }
}

}  // namespace medic::collector::tickets
