#pragma once

// The JSON API: /api/v1/<Method> is the proto JSON mapping of TechnicianService, forwarded as
// a generic call over a gRPC channel (the collector's in-process channel to its own service).
// Methods are found in the service's descriptor, so an rpc added to technician.proto appears
// here without code. HTTP-independent: web_server.cc does the HTTP.

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/status.h"

namespace medic::collector::web {

// The HTTP status for a gRPC status code, as Google's and grpc-gateway's JSON APIs map them
// (NOT_FOUND 404, UNIMPLEMENTED 501, UNAUTHENTICATED 401, UNAVAILABLE 503, …).
int HttpStatusFor(grpc::StatusCode code);
// "NOT_FOUND" for grpc::StatusCode::NOT_FOUND.
std::string_view StatusCodeName(grpc::StatusCode code);
// The error body every failed API call answers with:
//   {"error":{"code":"NOT_FOUND","status":404,"message":"no machine named 'x' has reported"}}
std::string ErrorJson(grpc::StatusCode code, std::string_view message);
// `text` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view text);

// A server-streaming call's receiver. OnMessage and OnDone are called on gRPC threads, one
// at a time; after OnMessage the next message is read only when the receiver calls
// StreamCall::ReadNext (so a slow browser slows the stream instead of queueing without end).
class StreamReceiver {
 public:
  virtual ~StreamReceiver() = default;
  virtual void OnMessage(std::string json) = 0;
  // Last call. `status` is the call's end: OK when the service finished the stream.
  virtual void OnDone(const grpc::Status& status) = 0;
};

class Gateway;

// One server-streaming call in flight. Thread-safe.
class StreamCall {
 public:
  virtual ~StreamCall() = default;
  // Reads the next message; ignored once the call is done.
  virtual void ReadNext() = 0;
  // Ends the call (the browser went away); OnDone follows with CANCELLED.
  virtual void Cancel() = 0;
};

class Gateway {
 public:
  // `channel` reaches the service named `service` ("medic.v1.TechnicianService"), which must
  // be in the generated descriptor pool (a broken invariant otherwise: CHECK-fails).
  Gateway(std::shared_ptr<grpc::Channel> channel, std::string_view service);
  ~Gateway();

  // The method of that name ("ListMachines"), or nullptr.
  const google::protobuf::MethodDescriptor* Find(std::string_view name) const;

  // Builds the request from a JSON body (empty: all defaults) or, when `from_query` is
  // true, from URL query parameters (`host=ws-1&metrics=a&metrics=b&selector.site=hq`: a
  // field by its JSON or proto name, a dotted path into message fields, repeated fields by
  // repeating the parameter). InvalidArgument naming the field or the JSON error.
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> ParseRequest(
      const google::protobuf::MethodDescriptor& method, std::string_view body) const;
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> ParseQuery(
      const google::protobuf::MethodDescriptor& method,
      const std::vector<std::pair<std::string, std::string>>& query) const;

  // Calls a unary method; `done` gets the status and, when OK, the response as JSON, on a
  // gRPC thread. `authorization`, when not empty, goes along as the `authorization` metadata.
  void CallUnary(const google::protobuf::MethodDescriptor& method,
                 const google::protobuf::Message& request, std::string_view authorization,
                 std::function<void(grpc::Status, std::string)> done);

  // Starts a server-streaming call: `receiver` gets each message and then OnDone; it is kept
  // alive until OnDone has returned. The first message is read at once.
  std::shared_ptr<StreamCall> CallStreaming(const google::protobuf::MethodDescriptor& method,
                                            const google::protobuf::Message& request,
                                            std::string_view authorization,
                                            std::shared_ptr<StreamReceiver> receiver);

  // Cancels every call in flight, refuses new ones (UNAVAILABLE), and waits until all have
  // ended. For shutdown: afterwards no callback runs.
  void Shutdown();

  // JSON printing of responses: lowerCamelCase names, defaults included (a page reads
  // `openFindings: 0` instead of guessing).
  static std::string ToJson(const google::protobuf::Message& message);

 private:
  friend class StreamCallImpl;
  friend class UnaryCall;
  // Registers a call's context and how Shutdown cancels it; false when shutting down.
  bool Track(grpc::ClientContext* context, std::function<void()> cancel);
  // Forgets a finished call and drops `call` (the caller's reference to the object holding
  // `context`) under the lock, so the context never outlives this gateway's channel: were the
  // context the channel's last reference, destroying it on gRPC's callback thread would shut
  // down gRPC's shared callback queue from that queue's own thread (gRPC 1.51 aborts).
  void Untrack(grpc::ClientContext* context, std::shared_ptr<void> call);

  const google::protobuf::ServiceDescriptor* service_;
  grpc::GenericStub stub_;
  // Recursive: a call cancelled in Shutdown may end (and Untrack) on the cancelling thread.
  std::recursive_mutex mu_;
  std::condition_variable_any idle_cv_;
  std::map<grpc::ClientContext*, std::function<void()>> calls_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

// How long a unary call through the gateway may take.
inline constexpr absl::Duration kUnaryDeadline = absl::Seconds(30);

}  // namespace medic::collector::web
