// The agent stream protocol against a real gRPC server on loopback, driven by a hand-written
// client so each rule can be broken on purpose.

#include "collector/ingest/agent_service.h"

#include "common/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace medic::collector {
namespace {

using medic::v1::AgentMessage;
using medic::v1::CollectorMessage;
using ::testing::HasSubstr;

class AgentServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenSqliteStore(":memory:", {});
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    service_ = std::make_unique<AgentServiceImpl>(*store_, clock_, IngestOptions{});
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    // A second loopback address, so two "machines" can connect from different hosts.
    builder.AddListeningPort("[::1]:0", grpc::InsecureServerCredentials(), &port_v6_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    stub_ = medic::v1::AgentService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  std::unique_ptr<medic::v1::AgentService::Stub> StubVia(const std::string& address) {
    return medic::v1::AgentService::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  }

  static AgentMessage Hello(uint64_t epoch = 5) {
    AgentMessage m;
    m.mutable_hello()->set_machine_id("0123456789abcdef0123456789abcdef");
    m.mutable_hello()->set_hostname("ws-7");
    m.mutable_hello()->set_epoch(epoch);
    return m;
  }

  static AgentMessage Report(uint64_t sequence, std::string os) {
    AgentMessage m;
    m.set_sequence(sequence);
    auto* r = m.mutable_delta()->add_reports();
    r->set_probe("os");
    r->mutable_os()->set_name(std::move(os));
    return m;
  }

  common::FakeClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<AgentServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<medic::v1::AgentService::Stub> stub_;
  int port_v6_ = 0;
};

TEST_F(AgentServiceTest, WelcomesThenAcknowledgesWhatItStored) {
  grpc::ClientContext context;
  auto stream = stub_->Connect(&context);
  ASSERT_TRUE(stream->Write(Hello()));
  CollectorMessage reply;
  ASSERT_TRUE(stream->Read(&reply));
  ASSERT_TRUE(reply.has_welcome());
  EXPECT_EQ(reply.welcome().resume_after(), 0u);

  ASSERT_TRUE(stream->Write(Report(1, "Debian 12")));
  ASSERT_TRUE(stream->Read(&reply));
  ASSERT_TRUE(reply.has_ack());
  EXPECT_EQ(reply.ack().sequence(), 1u);
  EXPECT_EQ(reply.ack().epoch(), 5u);
  // Acknowledged means stored.
  EXPECT_EQ(store_->GetMachineHealth("ws-7", clock_.Now())->machine().os(), "Debian 12");

  // A resend is acknowledged again but not stored again.
  ASSERT_TRUE(stream->Write(Report(1, "changed on the way")));
  ASSERT_TRUE(stream->Read(&reply));
  EXPECT_EQ(reply.ack().sequence(), 1u);
  EXPECT_EQ(store_->GetMachineHealth("ws-7", clock_.Now())->machine().os(), "Debian 12");
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(AgentServiceTest, ReconnectResumesAfterTheCommittedRecord) {
  {
    grpc::ClientContext context;
    auto stream = stub_->Connect(&context);
    CollectorMessage reply;
    ASSERT_TRUE(stream->Write(Hello()));
    ASSERT_TRUE(stream->Read(&reply));
    for (uint64_t seq = 1; seq <= 3; ++seq) {
      ASSERT_TRUE(stream->Write(Report(seq, "Debian 12")));
      ASSERT_TRUE(stream->Read(&reply));
    }
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
  }
  grpc::ClientContext context;
  auto stream = stub_->Connect(&context);
  CollectorMessage reply;
  ASSERT_TRUE(stream->Write(Hello()));
  ASSERT_TRUE(stream->Read(&reply));
  EXPECT_EQ(reply.welcome().resume_after(), 3u);
  stream->WritesDone();
  stream->Finish();
}

TEST_F(AgentServiceTest, StreamWithoutHelloIsRefused) {
  grpc::ClientContext context;
  auto stream = stub_->Connect(&context);
  ASSERT_TRUE(stream->Write(Report(1, "Debian 12")));
  CollectorMessage reply;
  EXPECT_FALSE(stream->Read(&reply));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("first message on a stream must be a hello"));
  medic::v1::ListMachinesRequest all;
  EXPECT_TRUE(store_->ListMachines(all, clock_.Now())->empty());  // nothing written
}

TEST_F(AgentServiceTest, HelloWithoutIdentityIsRefused) {
  grpc::ClientContext context;
  auto stream = stub_->Connect(&context);
  AgentMessage hello = Hello();
  hello.mutable_hello()->clear_machine_id();
  ASSERT_TRUE(stream->Write(hello));
  CollectorMessage reply;
  EXPECT_FALSE(stream->Read(&reply));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("machine_id"));
}

TEST_F(AgentServiceTest, RecordWithoutSequenceIsRefused) {
  grpc::ClientContext context;
  auto stream = stub_->Connect(&context);
  CollectorMessage reply;
  ASSERT_TRUE(stream->Write(Hello()));
  ASSERT_TRUE(stream->Read(&reply));
  ASSERT_TRUE(stream->Write(Report(0, "Debian 12")));
  EXPECT_FALSE(stream->Read(&reply));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("sequence"));
}

TEST_F(AgentServiceTest, UnknownKindFromANewerAgentIsAcknowledgedNotFatal) {
  grpc::ClientContext context;
  auto stream = stub_->Connect(&context);
  CollectorMessage reply;
  ASSERT_TRUE(stream->Write(Hello()));
  ASSERT_TRUE(stream->Read(&reply));
  AgentMessage unknown;
  unknown.set_sequence(1);
  // A field number this collector does not know, as a newer agent would send.
  unknown.GetReflection()->MutableUnknownFields(&unknown)->AddVarint(999, 1);
  ASSERT_TRUE(stream->Write(unknown));
  ASSERT_TRUE(stream->Read(&reply));
  EXPECT_EQ(reply.ack().sequence(), 1u);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(AgentServiceTest, RestartedAgentReplacesItsOldStream) {
  grpc::ClientContext old_context;
  auto old_stream = stub_->Connect(&old_context);
  CollectorMessage reply;
  ASSERT_TRUE(old_stream->Write(Hello(/*epoch=*/5)));
  ASSERT_TRUE(old_stream->Read(&reply));

  // The agent restarted on the same host before the collector saw the old stream end.
  grpc::ClientContext context;
  auto stream = stub_->Connect(&context);
  ASSERT_TRUE(stream->Write(Hello(/*epoch=*/6)));
  ASSERT_TRUE(stream->Read(&reply));
  ASSERT_TRUE(reply.has_welcome());
  EXPECT_FALSE(old_stream->Read(&reply));  // the old stream was ended
  EXPECT_EQ(old_stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // … and its end did not take the machine offline.
  EXPECT_EQ(store_->GetMachineHealth("ws-7", clock_.Now())->machine().state(),
            medic::v1::MACHINE_STATE_ONLINE);
  ASSERT_TRUE(stream->Write(Report(1, "Debian 12")));
  ASSERT_TRUE(stream->Read(&reply));
  EXPECT_EQ(reply.ack().sequence(), 1u);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(AgentServiceTest, SecondMachineWithTheSameIdentityIsRefused) {
  ASSERT_NE(port_v6_, 0);
  grpc::ClientContext first_context;
  auto first = stub_->Connect(&first_context);
  CollectorMessage reply;
  ASSERT_TRUE(first->Write(Hello(/*epoch=*/5)));
  ASSERT_TRUE(first->Read(&reply));

  // The same machine id from another host and another agent process: a cloned image.
  auto clone_stub = StubVia("[::1]:" + std::to_string(port_v6_));
  grpc::ClientContext clone_context;
  auto clone = clone_stub->Connect(&clone_context);
  ASSERT_TRUE(clone->Write(Hello(/*epoch=*/9)));
  EXPECT_FALSE(clone->Read(&reply));
  grpc::Status status = clone->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("two machines share one identity"));
  EXPECT_THAT(status.error_message(), HasSubstr("delete machine-id"));

  // The first machine is unharmed.
  ASSERT_TRUE(first->Write(Report(1, "Debian 12")));
  ASSERT_TRUE(first->Read(&reply));
  EXPECT_EQ(reply.ack().sequence(), 1u);
  first->WritesDone();
  EXPECT_TRUE(first->Finish().ok());
}

TEST_F(AgentServiceTest, ClosingTheStreamMarksTheMachineOffline) {
  {
    grpc::ClientContext context;
    auto stream = stub_->Connect(&context);
    CollectorMessage reply;
    ASSERT_TRUE(stream->Write(Hello()));
    ASSERT_TRUE(stream->Read(&reply));
    EXPECT_EQ(service_->connected_streams(), 1);
    EXPECT_EQ(store_->GetMachineHealth("ws-7", clock_.Now())->machine().state(),
              medic::v1::MACHINE_STATE_ONLINE);
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
  }
  // OnDone runs on the server's threads just after the client sees the end.
  for (int i = 0; i < 100 && service_->connected_streams() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(service_->connected_streams(), 0);
  EXPECT_EQ(store_->GetMachineHealth("ws-7", clock_.Now())->machine().state(),
            medic::v1::MACHINE_STATE_OFFLINE);
}

}  // namespace
}  // namespace medic::collector
