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

// One plain-HTTP request (http://HOST:PORT/path) with a deadline over the whole exchange,
// on Boost.Beast. Unavailable (naming the URL) when the host cannot be resolved or reached,
// DeadlineExceeded after `timeout`, InvalidArgument for a URL that is not http://.
// Any HTTP status is a response, not an error.
absl::StatusOr<HttpResponse> HttpCall(std::string_view method, std::string_view url,
                                      std::string_view body,
                                      const std::map<std::string, std::string>& headers,
                                      absl::Duration timeout);

}  // namespace medic::collector::tickets
