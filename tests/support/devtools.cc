#include "tests/support/devtools.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <fstream>
#include <regex>

#include "absl/strings/escaping.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/websocket.hpp"
#include "common/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace medic::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr char kChromium[] = "/usr/bin/chromium";

absl::StatusOr<google::protobuf::Struct> ParseObject(const std::string& json) {
  google::protobuf::Struct out;
  auto s = google::protobuf::util::JsonStringToMessage(json, &out);
  if (!s.ok())
    return absl::InternalError(common::StrCat("not JSON from chromium: ", json.substr(0, 200)));
  return out;
}

std::string Quote(std::string_view text) {
  google::protobuf::Value v;
  v.set_string_value(std::string(text));
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(v, &out);
  return out;
}

}  // namespace

struct Browser::Connection {
  asio::io_context io;
  beast::websocket::stream<tcp::socket> ws{io};
};

absl::StatusOr<std::unique_ptr<Browser>> Browser::Start(const std::string& dir) {
  if (access(kChromium, X_OK) != 0) {
    return absl::FailedPreconditionError(
        "chromium is not installed (/usr/bin/chromium): scripts/test installs it "
        "(MEDIC_PACKAGES in scripts/lib.sh)");
  }
  std::unique_ptr<Browser> browser(new Browser);
  browser->process_ = std::make_unique<Process>(
      std::vector<std::string>{kChromium, "--headless", "--no-sandbox", "--disable-gpu",
                               "--disable-background-networking", "--disable-component-update",
                               "--disable-sync", "--no-first-run", "--disable-extensions",
                               "--window-size=1280,1000", "--remote-debugging-address=127.0.0.1",
                               "--remote-debugging-port=0", "--user-data-dir=" + dir + "/profile",
                               "about:blank"},
      dir, "chromium");
  if (!browser->process_->WaitForStderr("DevTools listening on", absl::Seconds(20))) {
    return absl::UnavailableError(
        common::StrCat("chromium did not start:\n", browser->process_->Describe()));
  }
  std::smatch m;
  const std::string err = browser->process_->Stderr();
  if (!std::regex_search(err, m, std::regex(R"(ws://127\.0\.0\.1:(\d+)/)"))) {
    return absl::UnavailableError(common::StrCat("no DevTools address in: ", err));
  }
  const std::string port = m[1];
  auto connection = std::make_unique<Connection>();
  try {
    tcp::resolver resolver(connection->io);
    const auto endpoints = resolver.resolve("127.0.0.1", port);
    // The page's WebSocket address, from the target list.
    std::string page_path;
    for (int attempt = 0; attempt < 50 && page_path.empty(); ++attempt) {
      tcp::socket socket(connection->io);
      asio::connect(socket, endpoints);
      http::request<http::empty_body> request(http::verb::get, "/json/list", 11);
      request.set(http::field::host, "127.0.0.1:" + port);
      http::write(socket, request);
      beast::flat_buffer buffer;
      http::response<http::string_body> response;
      http::read(socket, buffer, response);
      std::smatch page;
      const std::string& body = response.body();
      if (std::regex_search(
              body, page,
              std::regex(
                  R"re("type": "page",[^}]*"webSocketDebuggerUrl": "ws://[^/]+(/devtools/page/[^"]+)")re"))) {
        page_path = page[1];
      } else {
        absl::SleepFor(absl::Milliseconds(100));
      }
    }
    if (page_path.empty()) return absl::UnavailableError("chromium shows no page to drive");
    asio::connect(connection->ws.next_layer(), endpoints);
    // Reads that hang (a wedged browser) fail after 30 s instead of holding the test.
    timeval timeout{30, 0};
    setsockopt(connection->ws.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout,
               sizeof(timeout));
    connection->ws.read_message_max(64 << 20);
    connection->ws.handshake("127.0.0.1:" + port, page_path);
  } catch (const std::exception& e) {
    return absl::UnavailableError(common::StrCat("cannot talk to chromium: ", e.what()));
  }
  browser->connection_ = std::move(connection);
  return browser;
}

Browser::~Browser() {
  if (connection_ != nullptr) {
    beast::error_code ignored;
    connection_->ws.next_layer().close(ignored);
  }
  if (process_ != nullptr) process_->Stop(SIGTERM, absl::Seconds(5));
}

absl::StatusOr<google::protobuf::Struct> Browser::Call(std::string_view method,
                                                       std::string_view params) {
  const int id = next_id_++;
  const std::string message =
      common::StrCat("{\"id\":", id, ",\"method\":\"", method, "\",\"params\":", params, "}");
  try {
    connection_->ws.write(asio::buffer(message));
    while (true) {
      beast::flat_buffer buffer;
      connection_->ws.read(buffer);
      auto parsed = ParseObject(beast::buffers_to_string(buffer.data()));
      if (!parsed.ok()) return parsed.status();
      auto it = parsed->fields().find("id");
      if (it == parsed->fields().end() || it->second.number_value() != id) continue;  // events
      auto error = parsed->fields().find("error");
      if (error != parsed->fields().end()) {
        std::string text;
        (void)google::protobuf::util::MessageToJsonString(error->second, &text);
        return absl::InternalError(common::StrCat(method, " failed: ", text));
      }
      return parsed->fields().at("result").struct_value();
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(common::StrCat("chromium: ", method, ": ", e.what()));
  }
}

absl::Status Browser::Navigate(std::string_view url) {
  return Call("Page.navigate", common::StrCat("{\"url\":", Quote(url), "}")).status();
}

absl::StatusOr<google::protobuf::Value> Browser::Evaluate(std::string_view expression) {
  auto result =
      Call("Runtime.evaluate", common::StrCat("{\"expression\":", Quote(expression),
                                              ",\"returnByValue\":true,\"awaitPromise\":true}"));
  if (!result.ok()) return result.status();
  auto exception = result->fields().find("exceptionDetails");
  if (exception != result->fields().end()) {
    std::string text;
    (void)google::protobuf::util::MessageToJsonString(exception->second, &text);
    return absl::InvalidArgumentError(common::StrCat("the page threw: ", text.substr(0, 500)));
  }
  const auto& value = result->fields().at("result").struct_value().fields();
  auto v = value.find("value");
  if (v == value.end()) return google::protobuf::Value();  // undefined
  return v->second;
}

absl::Status Browser::WaitFor(std::string_view expression, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string last;
  while (absl::Now() < deadline) {
    auto v = Evaluate(expression);
    if (v.ok() && v->bool_value()) return absl::OkStatus();
    last = v.ok() ? "false" : std::string(v.status().message());
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(common::StrCat("waited ", absl::FormatDuration(timeout),
                                                    " for ", expression, " (", last, ")"));
}

absl::Status Browser::Screenshot(const std::string& path) {
  auto result = Call("Page.captureScreenshot", R"({"format":"png","captureBeyondViewport":true})");
  if (!result.ok()) return result.status();
  std::string png;
  if (!absl::Base64Unescape(result->fields().at("data").string_value(), &png)) {
    return absl::InternalError("the screenshot is not base64");
  }
  std::ofstream out(path, std::ios::binary);
  out << png;
  return out ? absl::OkStatus() : absl::InternalError(common::StrCat("cannot write ", path));
}

}  // namespace medic::test
