#include "collector/web/gateway.h"

#include "common/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/client_callback.h"
#include "spdlog/spdlog.h"

namespace medic::collector::web {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::MethodDescriptor;

std::unique_ptr<Message> NewMessage(const google::protobuf::Descriptor* type) {
  const Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type);
  return std::unique_ptr<Message>(prototype->New());
}

grpc::ByteBuffer Serialize(const Message& message) {
  const std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// The response bytes as JSON, or INTERNAL when they do not parse as the method's type.
grpc::Status ResponseJson(const grpc::ByteBuffer& buffer, const google::protobuf::Descriptor* type,
                          std::string* json) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "bad response");
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  std::unique_ptr<Message> message = NewMessage(type);
  if (!message->ParseFromString(bytes)) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        common::StrCat("the service's answer is not a ", type->full_name()));
  }
  *json = Gateway::ToJson(*message);
  return grpc::Status::OK;
}

void Prepare(grpc::ClientContext& context, std::string_view authorization) {
  if (!authorization.empty()) context.AddMetadata("authorization", std::string(authorization));
}

// Query parameters gathered into a tree that mirrors the request message, then written as
// the JSON the proto parser reads, so both ways in share one set of rules.
struct QueryNode {
  std::map<std::string, QueryNode> children;
  std::vector<std::string> values;  // JSON literals
  bool repeated = false;
  bool leaf = false;

  void Write(std::string& out) const {
    if (!leaf) {
      out += '{';
      bool first = true;
      for (const auto& [name, child] : children) {
        if (!first) out += ',';
        first = false;
        out += JsonQuote(name);
        out += ':';
        child.Write(out);
      }
      out += '}';
    } else if (repeated) {
      out += '[';
      for (size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + values[i];
      out += ']';
    } else {
      out += values.back();
    }
  }
};

const FieldDescriptor* FieldNamed(const google::protobuf::Descriptor& type, std::string_view name) {
  const std::string n(name);
  if (const FieldDescriptor* f = type.FindFieldByName(n)) return f;
  return type.FindFieldByLowercaseName(n) ? type.FindFieldByLowercaseName(n)
                                          : type.FindFieldByCamelcaseName(n);
}

}  // namespace

int HttpStatusFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::CANCELLED:
      return 499;
    case grpc::StatusCode::INVALID_ARGUMENT:
      return 400;
    case grpc::StatusCode::FAILED_PRECONDITION:
      return 400;
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
      return 409;
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    default:
      return 500;  // UNKNOWN, INTERNAL, DATA_LOSS
  }
}

std::string_view StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

std::string JsonQuote(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::string ErrorJson(grpc::StatusCode code, std::string_view message) {
  return common::StrCat("{\"error\":{\"code\":\"", StatusCodeName(code),
                        "\",\"status\":", HttpStatusFor(code), ",\"message\":", JsonQuote(message),
                        "}}");
}

std::string Gateway::ToJson(const Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

Gateway::Gateway(std::shared_ptr<grpc::Channel> channel, std::string_view service)
    : service_(google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          std::string(service))),
      stub_(std::move(channel)) {
  if (service_ == nullptr) {
    spdlog::critical("web gateway: service {} is not linked into this program", service);
    std::abort();
  }
}

Gateway::~Gateway() { Shutdown(); }

const MethodDescriptor* Gateway::Find(std::string_view name) const {
  return service_->FindMethodByName(std::string(name));
}

absl::StatusOr<std::unique_ptr<Message>> Gateway::ParseRequest(const MethodDescriptor& method,
                                                               std::string_view body) const {
  std::unique_ptr<Message> request = NewMessage(method.input_type());
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return request;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(body.data(), body.size()), request.get());
  if (!status.ok()) {
    return absl::InvalidArgumentError(common::StrCat("the body is not a ",
                                                     method.input_type()->name(),
                                                     " in JSON: ", status.message().as_string()));
  }
  return request;
}

absl::StatusOr<std::unique_ptr<Message>> Gateway::ParseQuery(
    const MethodDescriptor& method,
    const std::vector<std::pair<std::string, std::string>>& query) const {
  QueryNode root;
  for (const auto& [key, value] : query) {
    const google::protobuf::Descriptor* type = method.input_type();
    QueryNode* node = &root;
    std::string_view rest = key;
    while (true) {
      const size_t dot = rest.find('.');
      const std::string_view part = rest.substr(0, dot);
      if (type == nullptr) {
        return absl::InvalidArgumentError(
            common::StrCat("query parameter '", key, "': '", part, "' is below a plain value"));
      }
      const FieldDescriptor* field = FieldNamed(*type, part);
      if (field == nullptr) {
        return absl::InvalidArgumentError(common::StrCat(
            "query parameter '", key, "': ", type->name(), " has no field '", part, "'"));
      }
      node = &node->children[field->json_name()];
      if (field->is_map()) {
        // params.name=value: the next part is the map's key.
        if (dot == std::string_view::npos) {
          return absl::InvalidArgumentError(
              common::StrCat("query parameter '", key, "': give a key: ", part, ".KEY=VALUE"));
        }
        node = &node->children[std::string(rest.substr(dot + 1))];
        node->leaf = true;
        node->values.push_back(JsonQuote(value));
        break;
      }
      const bool well_known = field->message_type() != nullptr &&
                              field->message_type()->file()->package() == "google.protobuf";
      if (dot == std::string_view::npos || field->message_type() == nullptr || well_known) {
        if (dot != std::string_view::npos) {
          return absl::InvalidArgumentError(
              common::StrCat("query parameter '", key, "': ", field->name(), " has no fields"));
        }
        node->leaf = true;
        node->repeated = field->is_repeated();
        // The JSON parser takes numbers and enums as strings too; only bools need a literal.
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_BOOL) {
          const bool valid = value == "true" || value == "false";
          node->values.push_back(valid ? value : JsonQuote(value));
        } else {
          node->values.push_back(JsonQuote(value));
        }
        break;
      }
      type = field->message_type();
      rest = rest.substr(dot + 1);
    }
  }
  std::string json;
  root.Write(json);
  return ParseRequest(method, json);
}

bool Gateway::Track(grpc::ClientContext* context, std::function<void()> cancel) {
  std::lock_guard lock(mu_);
  if (shutting_down_) return false;
  calls_.emplace(context, std::move(cancel));
  return true;
}

void Gateway::Untrack(grpc::ClientContext* context, std::shared_ptr<void> call) {
  std::lock_guard lock(mu_);
  calls_.erase(context);
  call.reset();
  if (calls_.empty()) idle_cv_.notify_all();
}

void Gateway::Shutdown() {
  std::unique_lock lock(mu_);
  shutting_down_ = true;
  std::vector<grpc::ClientContext*> calls;
  for (const auto& [context, cancel] : calls_) calls.push_back(context);
  for (grpc::ClientContext* context : calls) {
    const auto it = calls_.find(context);
    if (it == calls_.end()) continue;  // ended meanwhile
    // A copy: the call may end, and be forgotten, inside its own cancel.
    const std::function<void()> cancel = it->second;
    cancel();
  }
  idle_cv_.wait(lock, [this] { return calls_.empty(); });
}

// One unary call: owns its context and buffers until the callback has run.
class UnaryCall {
 public:
  UnaryCall(Gateway& gateway, const MethodDescriptor& method, const Message& request,
            std::string_view authorization, std::function<void(grpc::Status, std::string)> done)
      : gateway_(gateway), method_(method), request_(Serialize(request)), done_(std::move(done)) {
    Prepare(context_, authorization);
    context_.set_deadline(absl::ToChronoTime(absl::Now() + kUnaryDeadline));
  }

  static void Start(std::unique_ptr<UnaryCall> call) {
    if (!call->gateway_.Track(&call->context_,
                              [context = &call->context_] { context->TryCancel(); })) {
      call->done_(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the collector is shutting down"),
                  "");
      return;
    }
    UnaryCall* raw = call.release();
    raw->gateway_.stub_.UnaryCall(
        &raw->context_,
        common::StrCat("/", raw->method_.service()->full_name(), "/", raw->method_.name()),
        grpc::StubOptions(), &raw->request_, &raw->response_, [raw](grpc::Status status) {
          std::unique_ptr<UnaryCall> self(raw);
          std::string json;
          if (status.ok())
            status = ResponseJson(self->response_, self->method_.output_type(), &json);
          self->done_(std::move(status), std::move(json));
          Gateway& gateway = self->gateway_;
          grpc::ClientContext* context = &self->context_;
          gateway.Untrack(context, std::move(self));
        });
  }

 private:
  Gateway& gateway_;
  const MethodDescriptor& method_;
  grpc::ClientContext context_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  std::function<void(grpc::Status, std::string)> done_;
};

void Gateway::CallUnary(const MethodDescriptor& method, const Message& request,
                        std::string_view authorization,
                        std::function<void(grpc::Status, std::string)> done) {
  UnaryCall::Start(
      std::make_unique<UnaryCall>(*this, method, request, authorization, std::move(done)));
}

// A server-streaming call as a generic bidi reactor: the request is the only write. Owned
// by itself (self_) until OnDone, and by whoever holds the shared_ptr.
//
// Reads are started from outside gRPC's reactions (ReadNext, on the web server's threads,
// once the last message is written), so the call holds itself open (AddHold) for as long as
// one may still be started. Without the hold gRPC may finish the call between a read that
// ended the stream and the next ReadNext, and StartRead on a finished call is undefined (it
// aborted under ASan: "pure virtual method called"). The hold goes when no read will follow:
// the stream ended, or it was cancelled with no read outstanding.
class StreamCallImpl final : public StreamCall,
                             public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamCallImpl(Gateway& gateway, const MethodDescriptor& method, const Message& request,
                 std::string_view authorization, std::shared_ptr<StreamReceiver> receiver)
      : gateway_(gateway),
        method_(method),
        request_(Serialize(request)),
        receiver_(std::move(receiver)) {
    Prepare(context_, authorization);
  }

  static std::shared_ptr<StreamCall> Start(std::shared_ptr<StreamCallImpl> call) {
    // Shutdown cancels a stream as its web session does: the hold goes with it.
    if (!call->gateway_.Track(&call->context_, [raw = call.get()] { raw->Cancel(); })) {
      call->receiver_->OnDone(
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "the collector is shutting down"));
      return call;
    }
    call->self_ = call;
    call->gateway_.stub_.PrepareBidiStreamingCall(
        &call->context_,
        common::StrCat("/", call->method_.service()->full_name(), "/", call->method_.name()),
        grpc::StubOptions(), call.get());
    call->StartWriteLast(&call->request_, grpc::WriteOptions());
    call->AddHold();
    call->held_ = true;
    call->reading_ = true;
    call->StartRead(&call->response_);
    call->StartCall();
    return call;
  }

  void ReadNext() override {
    std::lock_guard lock(mu_);
    if (!held_ || stopped_ || reading_) return;
    reading_ = true;
    StartRead(&response_);
  }

  void Cancel() override {
    bool release = false;
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
      release = TakeHoldLocked();
    }
    context_.TryCancel();
    if (release) RemoveHold();
  }

  void OnReadDone(bool ok) override {
    bool release = false;
    {
      std::lock_guard lock(mu_);
      reading_ = false;
      if (!ok) stopped_ = true;  // the stream ended; OnDone follows with its status
      if (stopped_) release = TakeHoldLocked();
    }
    if (release) RemoveHold();
    if (!ok || release) return;
    std::string json;
    grpc::Status parsed = ResponseJson(response_, method_.output_type(), &json);
    if (!parsed.ok()) {
      spdlog::warn("web gateway: {}: {}", method_.name(), parsed.error_message());
      Cancel();
      return;
    }
    receiver_->OnMessage(std::move(json));
  }

  void OnDone(const grpc::Status& status) override {
    receiver_->OnDone(status);
    receiver_.reset();
    // Last: may destroy this object (when nobody else holds it).
    gateway_.Untrack(&context_, std::move(self_));
  }

 private:
  Gateway& gateway_;
  const MethodDescriptor& method_;
  grpc::ClientContext context_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  std::shared_ptr<StreamReceiver> receiver_;
  std::shared_ptr<StreamCallImpl> self_;
  // True once, when the hold is held and no read is outstanding: the caller removes it.
  bool TakeHoldLocked() {
    if (!held_ || reading_) return false;
    held_ = false;
    return true;
  }

  std::mutex mu_;
  bool held_ = false;     // AddHold in force: reads may still be started
  bool stopped_ = false;  // the stream ended or was cancelled: no more reads
  bool reading_ = false;
};

std::shared_ptr<StreamCall> Gateway::CallStreaming(const MethodDescriptor& method,
                                                   const Message& request,
                                                   std::string_view authorization,
                                                   std::shared_ptr<StreamReceiver> receiver) {
  return StreamCallImpl::Start(
      std::make_shared<StreamCallImpl>(*this, method, request, authorization, std::move(receiver)));
}

}  // namespace medic::collector::web
