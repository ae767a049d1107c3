// Hostile input against a real medic-collector over TCP: each attack is refused with the
// right status, nothing of it reaches the store (checked through the `medic` CLI), and a
// well-behaved agent connected beside it keeps reporting. Bytes that are not a valid message
// are sent through grpc::GenericStub, which sends whatever it is given.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "medic/v1/agent.grpc.pb.h"
#include "tests/support/process.h"

namespace medic::test {
namespace {

using medic::v1::AgentMessage;
using medic::v1::CollectorMessage;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kBin = MEDIC_BIN_DIR;
constexpr char kConnect[] = "/medic.v1.AgentService/Connect";

// Small limits, so each can be reached quickly.
constexpr char kCollectorConfig[] = R"(max_message_bytes: 1048576
limits:
  max_concurrent_streams: 2
  max_streams_per_peer: 4
  min_ping_interval: 1s
  max_ping_strikes: 1
  handshake_timeout: 1s
  records_per_second: 5
  record_burst: 40
)";

// The one place this file starts a collector.
std::unique_ptr<Process> StartCollector(const TempDir& dir, std::string* port) {
  WriteFile(dir.File("collector.yaml"), kCollectorConfig);
  auto collector = std::make_unique<Process>(
      std::vector<std::string>{kBin + "/medic-collector", "--insecure", "--config",
                               dir.File("collector.yaml"), "--listen", "127.0.0.1:0", "--db",
                               dir.File("collector.db")},
      dir.path(), "collector");
  if (!collector->WaitForStdout("listening on", absl::Seconds(20))) return nullptr;
  const std::string out = collector->Stdout();
  const size_t at = out.find("listening on ") + 13;
  const std::string address = out.substr(at, out.find(' ', at) - at);
  *port = address.substr(address.rfind(':') + 1);
  return collector;
}

std::shared_ptr<grpc::Channel> OwnChannel(const std::string& address,
                                          grpc::ChannelArguments args = {}) {
  // Each channel gets its own connection, so streams on different channels are on different
  // connections (gRPC otherwise shares one between channels to the same address).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

grpc::ByteBuffer Bytes(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// A plain TCP connection to the collector on loopback, with a 10 s receive timeout; -1 on
// failure.
int ConnectToLoopback(const std::string& port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(port)));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval wait{.tv_sec = 10, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// One HTTP/2 frame on stream 0 (RFC 9113 section 4.1).
std::string Http2Frame(uint8_t type, uint8_t flags, const std::string& payload) {
  const size_t n = payload.size();
  std::string frame = {static_cast<char>(n >> 16),
                       static_cast<char>(n >> 8),
                       static_cast<char>(n),
                       static_cast<char>(type),
                       static_cast<char>(flags),
                       0,
                       0,
                       0,
                       0};
  return frame + payload;
}

AgentMessage Hello(const std::string& id, const std::string& hostname) {
  AgentMessage m;
  m.mutable_hello()->set_machine_id(id);
  m.mutable_hello()->set_hostname(hostname);
  m.mutable_hello()->set_epoch(7);
  return m;
}

AgentMessage OsReport(uint64_t sequence, const std::string& os) {
  AgentMessage m;
  m.set_sequence(sequence);
  auto* r = m.mutable_delta()->add_reports();
  r->set_probe("os");
  r->mutable_os()->set_name(os);
  return m;
}

// One AgentService.Connect call that writes raw bytes, on a completion queue of its own.
class RawStream {
 public:
  RawStream(const std::shared_ptr<grpc::Channel>& channel,
            grpc_compression_algorithm compression = GRPC_COMPRESS_NONE,
            absl::Duration deadline = absl::Seconds(30))
      : stub_(channel) {
    context_.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(deadline));
    if (compression != GRPC_COMPRESS_NONE) context_.set_compression_algorithm(compression);
    call_ = stub_.PrepareCall(&context_, kConnect, &cq_);
    call_->StartCall(this);
    started_ = Next();
  }
  ~RawStream() {
    context_.TryCancel();
    if (!finished_) Finish();
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }

  bool started() const { return started_; }
  bool Write(const std::string& bytes) {
    call_->Write(Bytes(bytes), this);
    return Next();
  }
  bool Write(const AgentMessage& message) { return Write(message.SerializeAsString()); }
  // Reads one reply; false when the collector ended the stream.
  bool Read(CollectorMessage* reply) {
    grpc::ByteBuffer buffer;
    call_->Read(&buffer, this);
    if (!Next()) return false;
    std::vector<grpc::Slice> slices;
    if (!buffer.Dump(&slices).ok()) return false;
    std::string bytes;
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    return reply->ParseFromString(bytes);
  }
  // The status the collector ended the call with (reads what is left first).
  grpc::Status Finish() {
    finished_ = true;
    CollectorMessage ignored;
    while (Read(&ignored)) {
    }
    grpc::Status status;
    call_->Finish(&status, this);
    Next();
    return status;
  }

 private:
  bool Next() {
    void* tag;
    bool ok = false;
    return cq_.Next(&tag, &ok) && ok;
  }

  grpc::GenericStub stub_;
  grpc::CompletionQueue cq_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  bool started_ = false;
  bool finished_ = false;
};

// A well-behaved agent on its own connection from 127.0.0.1: each Report must be stored and
// acknowledged while attacks go on beside it.
class GoodAgent {
 public:
  explicit GoodAgent(const std::string& port)
      : stub_(medic::v1::AgentService::NewStub(OwnChannel("127.0.0.1:" + port))) {
    stream_ = stub_->Connect(&context_);
    CollectorMessage welcome;
    connected_ = stream_->Write(Hello("900d900d900d900d", "good-agent")) &&
                 stream_->Read(&welcome) && welcome.has_welcome();
  }
  ~GoodAgent() {
    context_.TryCancel();
    stream_->Finish();
  }
  bool connected() const { return connected_; }

  // Sends the next report and waits for its acknowledgement.
  ::testing::AssertionResult Report(const std::string& os) {
    const uint64_t sequence = ++sequence_;
    if (!stream_->Write(OsReport(sequence, os))) {
      return ::testing::AssertionFailure() << "the good agent's stream broke";
    }
    CollectorMessage ack;
    // Skip what else the collector sends (the central policy after the welcome).
    bool read = stream_->Read(&ack);
    while (read && !ack.has_ack()) read = stream_->Read(&ack);
    if (!read || ack.ack().sequence() != sequence) {
      return ::testing::AssertionFailure()
             << "the good agent got no ack for record " << sequence << ": " << ack.DebugString();
    }
    return ::testing::AssertionSuccess();
  }

 private:
  std::unique_ptr<medic::v1::AgentService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<AgentMessage, CollectorMessage>> stream_;
  bool connected_ = false;
  uint64_t sequence_ = 0;
};

class HostileInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    collector_ = StartCollector(dir_, &port_);
    ASSERT_NE(collector_, nullptr) << "the collector did not start";
    good_ = std::make_unique<GoodAgent>(port_);
    ASSERT_TRUE(good_->connected()) << collector_->Describe();
    ASSERT_TRUE(good_->Report("Debian 12 before"));
  }

  void TearDown() override {
    // The well-behaved agent kept reporting through the attack, and what it sent was stored.
    EXPECT_TRUE(good_->Report("Debian 12 after"));
    EXPECT_THAT(Health("good-agent"), HasSubstr("Debian 12 after"));
    good_.reset();
    if (HasFailure()) ADD_FAILURE() << collector_->Describe();
  }

  // Attackers connect from the same address as the good agent, on connections of their own.
  std::string Attacker() const { return "127.0.0.1:" + port_; }

  // What the store knows about a machine, through the CLI a technician uses.
  std::string Health(const std::string& host) {
    RunResult r = RunCommand({kBin + "/medic", "--insecure", "--collector", "127.0.0.1:" + port_,
                              "health", host, "--json"});
    return r.out + r.err;
  }
  std::string Machines() {
    RunResult r = RunCommand(
        {kBin + "/medic", "--insecure", "--collector", "127.0.0.1:" + port_, "machines", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  // A hostile stream that has been let in: a valid hello, answered with a welcome.
  std::unique_ptr<RawStream> LetIn(const std::string& hostname,
                                   grpc_compression_algorithm compression = GRPC_COMPRESS_NONE) {
    auto stream = std::make_unique<RawStream>(OwnChannel(Attacker()), compression);
    CollectorMessage welcome;
    EXPECT_TRUE(stream->Write(Hello("bad0bad0bad0" + hostname, hostname)));
    EXPECT_TRUE(stream->Read(&welcome) && welcome.has_welcome());
    return stream;
  }

  TempDir dir_;
  std::string port_;
  std::unique_ptr<Process> collector_;
  std::unique_ptr<GoodAgent> good_;
};

TEST_F(HostileInputTest, OversizedMessageIsRefused) {
  auto evil = LetIn("evil-big");
  evil->Write(OsReport(1, "MARKER-BIG" + std::string(2 << 20, 'x')));
  grpc::Status status = evil->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_THAT(Health("evil-big"), Not(HasSubstr("MARKER-BIG")));
}

TEST_F(HostileInputTest, CompressionBombIsRefusedAfterDecompression) {
  // 64 MiB of one letter gzips to about 64 KiB: under the 1 MiB limit on the wire, far over
  // it once decompressed.
  auto evil = LetIn("evil-bomb", GRPC_COMPRESS_GZIP);
  evil->Write(OsReport(1, "MARKER-BOMB" + std::string(64 << 20, 'x')));
  grpc::Status status = evil->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_THAT(Health("evil-bomb"), Not(HasSubstr("MARKER-BOMB")));
}

TEST_F(HostileInputTest, MalformedProtobufIsRefused) {
  auto evil = LetIn("evil-garbage");
  // A length-delimited field (delta) whose length runs past the end of the message.
  evil->Write(
      std::string("\x08\x01\x62\xff\xff\xff\x0f"
                  "MARKER-GARBAGE",
                  21));
  grpc::Status status = evil->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(Health("evil-garbage"), Not(HasSubstr("MARKER-GARBAGE")));
}

TEST_F(HostileInputTest, MalformedFirstMessageLeavesNoMachine) {
  RawStream evil(OwnChannel(Attacker()));
  evil.Write(std::string("\xff\xff\xff\xff", 4));
  grpc::Status status = evil.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(Machines(), Not(HasSubstr("evil")));
}

TEST_F(HostileInputTest, BogusEnumValueIsRefusedNamingTheField) {
  auto evil = LetIn("evil-enum");
  AgentMessage m = OsReport(1, "MARKER-ENUM");
  auto* finding = m.mutable_delta()->add_findings()->mutable_raised();
  finding->set_code("disk.space_low");
  finding->set_severity(static_cast<medic::v1::Severity>(99));
  evil->Write(m);
  grpc::Status status = evil->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("delta.findings[0].raised.severity"));
  EXPECT_THAT(status.error_message(), HasSubstr("99"));
  EXPECT_THAT(Health("evil-enum"), Not(HasSubstr("MARKER-ENUM")));
}

TEST_F(HostileInputTest, HugeRepeatedFieldIsRefused) {
  auto evil = LetIn("evil-many");
  AgentMessage m = OsReport(1, "MARKER-MANY");
  for (int i = 0; i < 20'000; ++i) m.mutable_delta()->add_reports()->set_probe("os");
  ASSERT_LT(m.ByteSizeLong(), 1u << 20);  // under the size limit: only the count is wrong
  evil->Write(m);
  grpc::Status status = evil->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("delta.reports: 20001 elements"));
  EXPECT_THAT(Health("evil-many"), Not(HasSubstr("MARKER-MANY")));
}

TEST_F(HostileInputTest, InvalidUtf8InAStringIsRefused) {
  auto evil = LetIn("evil-utf8");
  // Serialised by hand: protobuf would refuse to build it. delta{reports{probe:"os",
  // os{name:"MARKER-UTF8\xc3\x28"}}} at sequence 1.
  const std::string name = "MARKER-UTF8\xc3\x28";
  std::string os = "\x12" + std::string(1, static_cast<char>(name.size())) + name;
  std::string report =
      std::string("\x0a\x02os") + "\x6a" + std::string(1, static_cast<char>(os.size())) + os;
  std::string delta = "\x0a" + std::string(1, static_cast<char>(report.size())) + report;
  std::string message =
      std::string("\x08\x01") + "\x62" + std::string(1, static_cast<char>(delta.size())) + delta;
  {
    // The encoding is right: the same bytes with valid UTF-8 parse as the intended message.
    std::string valid = message;
    valid[valid.find("\xc3\x28")] = 'A';
    AgentMessage parsed;
    ASSERT_TRUE(parsed.ParseFromString(valid));
    ASSERT_EQ(parsed.delta().reports(0).os().name(), "MARKER-UTF8A(");
  }
  evil->Write(message);
  grpc::Status status = evil->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(Health("evil-utf8"), Not(HasSubstr("MARKER-UTF8")));
}

// The next acknowledgement on `stream`, past what else the collector sends (its policy).
template <typename Stream>
bool ReadAck(Stream& stream, CollectorMessage* ack) {
  bool read = stream.Read(ack);
  while (read && !ack->has_ack()) read = stream.Read(ack);
  return read;
}

TEST_F(HostileInputTest, ReplayedRecordIsNotStoredTwice) {
  auto evil = LetIn("replayer");
  CollectorMessage ack;
  ASSERT_TRUE(evil->Write(OsReport(1, "first")));
  ASSERT_TRUE(ReadAck(*evil, &ack));
  EXPECT_EQ(ack.ack().sequence(), 1u);
  // The same epoch and sequence again, on the same stream and on a new one: acknowledged (an
  // agent resends after a reconnect), never stored over what was committed.
  ASSERT_TRUE(evil->Write(OsReport(1, "REPLAYED")));
  ASSERT_TRUE(ReadAck(*evil, &ack));
  EXPECT_EQ(ack.ack().sequence(), 1u);
  evil.reset();
  auto again = LetIn("replayer");
  ASSERT_TRUE(again->Write(OsReport(1, "REPLAYED")));
  ASSERT_TRUE(ReadAck(*again, &ack));
  EXPECT_EQ(ack.ack().sequence(), 1u);
  const std::string health = Health("replayer");
  EXPECT_THAT(health, HasSubstr("first"));
  EXPECT_THAT(health, Not(HasSubstr("REPLAYED")));
}

TEST_F(HostileInputTest, RecordFloodIsSlowedToTheRateWithoutLosingAnything) {
  auto evil = LetIn("flooder");
  // 40 at once are allowed (record_burst), then 5 a second: the 20 after the burst take at
  // least 4 s however fast they are sent. Each is still stored and acknowledged; the stream
  // stays open. (An agent resending its backlog after an outage is such a flood.)
  const absl::Time start = absl::Now();
  CollectorMessage ack;
  for (uint64_t seq = 1; seq <= 60; ++seq) {
    ASSERT_TRUE(evil->Write(OsReport(seq, "FLOOD-" + std::to_string(seq)))) << seq;
    ASSERT_TRUE(ReadAck(*evil, &ack)) << "no ack for record " << seq;
    ASSERT_EQ(ack.ack().sequence(), seq);
  }
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Seconds(3.5)) << "the records after the burst were not slowed down";
  EXPECT_THAT(Health("flooder"), HasSubstr("FLOOD-60"));
  EXPECT_THAT(collector_->Stdout() + collector_->Stderr(),
              HasSubstr("flooder sends faster than 5 messages a second"));
}

TEST_F(HostileInputTest, TooManyStreamsFromOnePeerAreRefused) {
  // The good agent holds one of the four streams 127.0.0.1 may have; the attacker takes the
  // other three, and a fifth is refused — without harming the streams already open.
  std::vector<std::unique_ptr<RawStream>> open;
  for (int i = 0; i < 3; ++i) open.push_back(LetIn("peer-" + std::to_string(i)));
  RawStream fourth(OwnChannel(Attacker()));
  fourth.Write(Hello("bad0bad0bad0peer-3", "peer-3"));
  grpc::Status status = fourth.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("too many agent streams from 127.0.0.1"));
  EXPECT_THAT(Machines(), Not(HasSubstr("peer-3")));
  // Closing one makes room again.
  open.pop_back();
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_NE(LetIn("peer-4"), nullptr);
  EXPECT_THAT(Machines(), HasSubstr("peer-4"));
}

TEST_F(HostileInputTest, StreamsBeyondTheConnectionLimitWait) {
  // max_concurrent_streams is 2: the transport holds a third stream on the same connection
  // back until one of the first two ends.
  auto channel = OwnChannel(Attacker());
  auto first = std::make_unique<RawStream>(channel);
  RawStream second(channel);
  ASSERT_TRUE(first->started() && second.started());
  {
    RawStream third(channel, GRPC_COMPRESS_NONE, absl::Milliseconds(1500));
    third.Write(Hello("bad0bad0bad0third", "third"));
    const grpc::Status status = third.Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  }
  EXPECT_THAT(Machines(), Not(HasSubstr("third")));
  // With one of them gone, a new stream on the same connection gets through.
  first.reset();
  RawStream fourth(channel);
  CollectorMessage welcome;
  ASSERT_TRUE(fourth.Write(Hello("bad0bad0bad0fourth", "fourth")));
  EXPECT_TRUE(fourth.Read(&welcome) && welcome.has_welcome());
}

TEST_F(HostileInputTest, PingFloodIsToldToCalmDownAndClosed) {
  // A client that speaks HTTP/2 itself and sends nothing but PING frames, back to back: far
  // more often than min_ping_interval (1s) allows. The collector answers with GOAWAY
  // ENHANCE_YOUR_CALM and closes the connection. Raw frames rather than a gRPC client's
  // keepalive, whose pacing is the client library's own and varies with its back-off.
  const int fd = ConnectToLoopback(port_);
  ASSERT_GE(fd, 0);
  std::string flood = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  flood += Http2Frame(/*type=*/0x4, /*flags=*/0, "");  // our (empty) SETTINGS
  for (int i = 0; i < 20; ++i) {
    flood += Http2Frame(/*type=*/0x6, /*flags=*/0, std::string(8, static_cast<char>(i)));
  }
  ASSERT_EQ(send(fd, flood.data(), flood.size(), MSG_NOSIGNAL), static_cast<ssize_t>(flood.size()));
  // Read frames until the collector hangs up; remember its GOAWAY's error code.
  std::string received;
  char buffer[4096];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) received.append(buffer, n);
  close(fd);
  EXPECT_EQ(n, 0) << "the collector did not close the connection (recv: " << n << ")";
  std::optional<uint32_t> goaway_error;
  for (size_t at = 0; at + 9 <= received.size();) {
    const auto byte = [&](size_t i) { return static_cast<uint8_t>(received[i]); };
    const size_t length = (byte(at) << 16) | (byte(at + 1) << 8) | byte(at + 2);
    if (byte(at + 3) == 0x7 && length >= 8 && at + 9 + 8 <= received.size()) {
      const size_t code = at + 9 + 4;  // after the last-stream-id
      goaway_error =
          (byte(code) << 24) | (byte(code + 1) << 16) | (byte(code + 2) << 8) | byte(code + 3);
    }
    at += 9 + length;
  }
  ASSERT_TRUE(goaway_error.has_value()) << "no GOAWAY among " << received.size() << " bytes";
  constexpr uint32_t kEnhanceYourCalm = 0xb;
  EXPECT_EQ(*goaway_error, kEnhanceYourCalm);
}

TEST_F(HostileInputTest, SilentConnectionIsClosedAfterTheHandshakeTimeout) {
  const int fd = ConnectToLoopback(port_);
  ASSERT_GE(fd, 0);
  // Says nothing: no HTTP/2 preface. After handshake_timeout (1s) the collector hangs up.
  const absl::Time start = absl::Now();
  char buffer[256];
  ssize_t n;
  do {
    n = recv(fd, buffer, sizeof(buffer), 0);
  } while (n > 0);  // the server's own SETTINGS frame may come first
  const absl::Duration waited = absl::Now() - start;
  close(fd);
  EXPECT_EQ(n, 0) << "the connection was not closed by the collector (recv: " << n << ")";
  EXPECT_LT(waited, absl::Seconds(8));
}

}  // namespace
}  // namespace medic::test
