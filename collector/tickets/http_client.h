#pragma once

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace medic::collector::tickets {

struct HttpResponse {
  int status = 0;
  std::string body;
};

// One HTTP request (http:// or https://HOST[:PORT]/path) with a deadline over the whole
// exchange, on Boost.Beast. For https (TLS 1.2 or later) the server's certificate must chain
// to `ca_pem` (PEM; empty: the system's CAs) and name the URL's host. Unavailable (naming the
// URL) when the host cannot be resolved, reached or verified, DeadlineExceeded after
// `timeout`, InvalidArgument for a URL that is neither. Any HTTP status is a response, not an
// error.
absl::StatusOr<HttpResponse> HttpCall(std::string_view method, std::string_view url,
                                      std::string_view body,
                                      const std::map<std::string, std::string>& headers,
                                      absl::Duration timeout, const std::string& ca_pem = "");

}  // namespace medic::collector::tickets
