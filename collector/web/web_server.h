#pragma once

// The collector's HTTP side on Boost.Beast: the web console's pages, the JSON API
// (/api/v1/<Method>, see gateway.h; server-streaming methods as server-sent events) and
// /metrics. Runs on its own io_context threads, never on gRPC's.

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics/metrics.h"
#include "grpcpp/channel.h"

namespace medic::collector::web {

struct WebOptions {
  std::string listen;                               // HOST:PORT; port 0 picks a free one
  size_t max_body_bytes = 64 * 1024;                // larger requests get 413
  size_t max_header_bytes = 16 * 1024;              // larger headers get 431
  absl::Duration read_timeout = absl::Seconds(15);  // for a whole request; then the socket closes
  absl::Duration keepalive_every = absl::Seconds(15);  // SSE comment line, finds dead browsers
  int threads = 2;
  // Serve only requests addressed to a loopback name (Host: 127.0.0.1, [::1], localhost). Set
  // in --insecure mode, where every caller is admin: a page of another site that points its
  // own name at 127.0.0.1 (DNS rebinding) would otherwise drive the console as that site.
  bool loopback_hosts_only = false;
  // When set (PEM), the console is HTTPS only, TLS 1.2 or later, with this certificate chain
  // and key; plain HTTP to it is redirected (308) to the same address over https.
  std::string tls_cert_pem;
  std::string tls_key_pem;
};

class WebServer {
 public:
  // Listens on `options.listen` and serves. `channel` reaches the TechnicianService (the
  // collector's in-process channel); `registry` (not owned, may be null: no /metrics) must
  // outlive the server. Unavailable, naming the address, when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<WebServer>> Start(
      const WebOptions& options, std::shared_ptr<grpc::Channel> channel,
      const common::metrics::Registry* registry);
  ~WebServer();

  // "127.0.0.1:7080", with the real port.
  const std::string& address() const { return address_; }
  // "https://10.0.0.5:7080/" or, without TLS, "http://127.0.0.1:7080/".
  std::string url() const;

  // Ends API calls in flight (streams get CANCELLED), closes the connections and joins the
  // threads. Call before the gRPC server shuts down. Safe to call more than once.
  void Stop();

  struct Impl;  // the io_context, acceptor and gateway; sessions in web_server.cc use it

 private:
  explicit WebServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string address_;
  std::vector<std::thread> threads_;
};

}  // namespace medic::collector::web
