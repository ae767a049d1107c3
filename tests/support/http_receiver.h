#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace medic::test {

// A local HTTP server for outbound tests, on 127.0.0.1 and a free port. It answers a share
// of calls with 503 (spread evenly over the calls, starting at `seed`, so a run is
// repeatable), records every
// call, and plays a Jira-style helpdesk under /jira: POST /jira/rest/api/2/issue answers
// 201 {"key": "MEDIC-<n>"}. `always_status`, when set, is the answer to every call.
class HttpReceiver {
 public:
  struct Call {
    std::string method, target, idempotency_key, body;
    int status = 0;                            // what the receiver answered
    std::chrono::steady_clock::time_point at;  // when the request was read
  };

  explicit HttpReceiver(double fail_fraction = 0, int always_status = 0, unsigned seed = 0);
  ~HttpReceiver();
  HttpReceiver(const HttpReceiver&) = delete;
  HttpReceiver& operator=(const HttpReceiver&) = delete;

  int port() const { return port_; }
  std::string Url(const std::string& path) const;
  std::vector<Call> Calls() const;
  // Calls answered 2xx, by idempotency key: how many times each was accepted.
  std::map<std::string, int> Accepted(const std::string& target_prefix) const;

 private:
  void Serve();
  void Handle(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  double fail_fraction_;
  int always_status_;
  unsigned state_;
  int next_issue_ = 1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Call> calls_;
};

}  // namespace medic::test
