#pragma once

// Drives a real headless Chromium over the Chrome DevTools Protocol (a WebSocket, on
// Boost.Beast): navigate, evaluate JavaScript in the page, take screenshots. For the web
// console's browser test; Debian's chromium is all it needs (no driver binary, no npm).

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "tests/support/process.h"

namespace medic::test {

class Browser {
 public:
  // Starts /usr/bin/chromium headless with a fresh profile under `dir` and connects to its
  // page. Fails, saying why, when chromium is missing or does not come up within 20 s.
  static absl::StatusOr<std::unique_ptr<Browser>> Start(const std::string& dir);
  ~Browser();

  absl::Status Navigate(std::string_view url);
  // Evaluates `expression` in the page (awaiting a promise) and returns its value as JSON
  // (google.protobuf.Value). A thrown exception is an error with its text.
  absl::StatusOr<google::protobuf::Value> Evaluate(std::string_view expression);
  // Evaluates `expression` until it is true; DeadlineExceeded after `timeout`, naming it.
  absl::Status WaitFor(std::string_view expression, absl::Duration timeout);
  // The page as PNG at `path`.
  absl::Status Screenshot(const std::string& path);

 private:
  struct Connection;
  Browser() = default;
  absl::StatusOr<google::protobuf::Struct> Call(std::string_view method, std::string_view params);

  std::unique_ptr<Process> process_;
  std::unique_ptr<Connection> connection_;
  int next_id_ = 1;
};

}  // namespace medic::test
