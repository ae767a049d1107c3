#include "tests/support/http_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>

namespace medic::test {

namespace beast = boost::beast;
namespace http = beast::http;

HttpReceiver::HttpReceiver(double fail_fraction, int always_status, unsigned seed)
    : fail_fraction_(fail_fraction), always_status_(always_status), state_(seed % 10) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0) {
    std::abort();
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

HttpReceiver::~HttpReceiver() {
  stopping_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::string HttpReceiver::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<HttpReceiver::Call> HttpReceiver::Calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

std::map<std::string, int> HttpReceiver::Accepted(const std::string& target_prefix) const {
  std::map<std::string, int> out;
  std::lock_guard lock(mu_);
  for (const auto& c : calls_) {
    if (c.status >= 200 && c.status < 300 && c.target.starts_with(target_prefix)) {
      ++out[c.idempotency_key];
    }
  }
  return out;
}

void HttpReceiver::Serve() {
  // One connection at a time is enough: the collector sends one call at a time.
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) Handle(fd);
  }
}

void HttpReceiver::Handle(int fd) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  beast::error_code ec;
  socket.assign(boost::asio::ip::tcp::v4(), fd, ec);
  if (ec) return;
  beast::flat_buffer buffer;
  http::request<http::string_body> request;
  http::read(socket, buffer, request, ec);
  if (ec) return;
  Call call;
  call.method = std::string(request.method_string());
  call.target = std::string(request.target());
  call.idempotency_key = std::string(request["Idempotency-Key"]);
  call.body = request.body();
  call.at = std::chrono::steady_clock::now();
  http::response<http::string_body> response;
  response.version(11);
  {
    std::lock_guard lock(mu_);
    // Spread evenly and repeatably: with fail_fraction 0.3, calls 1, 5 and 8 of every ten
    // fail (the first call always does).
    const double roll = static_cast<double>((state_++ * 3) % 10) / 10.0;
    if (always_status_ != 0) {
      call.status = always_status_;
    } else if (roll < fail_fraction_) {
      call.status = 503;
    } else if (call.method == "POST" && call.target == "/jira/rest/api/2/issue") {
      call.status = 201;
      response.body() = "{\"id\":\"" + std::to_string(10000 + next_issue_) + "\",\"key\":\"MEDIC-" +
                        std::to_string(next_issue_) + "\"}";
      ++next_issue_;
    } else {
      call.status = call.method == "PUT" || call.target.ends_with("/transitions") ? 204 : 200;
    }
    calls_.push_back(call);
  }
  response.result(call.status);
  response.set(http::field::content_type, "application/json");
  response.prepare_payload();
  http::write(socket, response, ec);
  socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
}

}  // namespace medic::test
