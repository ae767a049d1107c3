// The per-machine record budget, the per-peer stream count, LimitsConfig defaults, and the
// checks on incoming agent messages.

#include "collector/ingest/limits.h"

#include "collector/ingest/validate.h"
#include "common/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::collector {
namespace {

using ::testing::HasSubstr;

TEST(RecordRateLimiterTest, BurstThenRate) {
  common::FakeClock clock;
  RecordRateLimiter limiter(/*rate=*/2, /*burst=*/5);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.TryTake("a", clock.Now())) << i;
  EXPECT_FALSE(limiter.TryTake("a", clock.Now()));
  // Another machine has a bucket of its own.
  EXPECT_TRUE(limiter.TryTake("b", clock.Now()));
  clock.Advance(absl::Milliseconds(500));  // one token back
  EXPECT_TRUE(limiter.TryTake("a", clock.Now()));
  EXPECT_FALSE(limiter.TryTake("a", clock.Now()));
  // Never more than the burst, however long it waited.
  clock.Advance(absl::Hours(1));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.TryTake("a", clock.Now())) << i;
  EXPECT_FALSE(limiter.TryTake("a", clock.Now()));
}

TEST(RecordRateLimiterTest, TakeGoesIntoDebtAndSaysHowLongToWait) {
  common::FakeClock clock;
  RecordRateLimiter limiter(/*rate=*/4, /*burst=*/2);
  EXPECT_EQ(limiter.Take("a", clock.Now()), absl::ZeroDuration());
  EXPECT_EQ(limiter.Take("a", clock.Now()), absl::ZeroDuration());
  // Empty: the next is taken anyway, and the caller is told to wait for it (1/4 s).
  EXPECT_EQ(limiter.Take("a", clock.Now()), absl::Milliseconds(250));
  // While in debt, a new stream of the same machine is refused (it reconnects in a loop).
  EXPECT_FALSE(limiter.TryTake("a", clock.Now()));
  // Having waited, the caller goes on at the rate: each message one wait of 1/rate.
  clock.Advance(absl::Milliseconds(250));
  EXPECT_EQ(limiter.Take("a", clock.Now()), absl::Milliseconds(250));
  clock.Advance(absl::Milliseconds(100));  // not waited long enough: the debt grows
  EXPECT_NEAR(absl::ToDoubleMilliseconds(limiter.Take("a", clock.Now())), 400, 0.001);
  // Others are not affected.
  EXPECT_EQ(limiter.Take("b", clock.Now()), absl::ZeroDuration());
}

TEST(RecordRateLimiterTest, ForgetsMachinesWhoseBucketIsFullAgain) {
  common::FakeClock clock;
  RecordRateLimiter limiter(10, 10);
  for (int i = 0; i < 1000; ++i) limiter.TryTake("m" + std::to_string(i), clock.Now());
  EXPECT_EQ(limiter.buckets(), 1000u);
  clock.Advance(absl::Seconds(2));
  limiter.TryTake("new", clock.Now());
  EXPECT_EQ(limiter.buckets(), 1u);
}

TEST(PeerStreamCounterTest, RefusesOverTheMaximumAndCountsCloses) {
  PeerStreamCounter peers(2);
  EXPECT_TRUE(peers.TryOpen("10.0.0.1"));
  EXPECT_TRUE(peers.TryOpen("10.0.0.1"));
  EXPECT_FALSE(peers.TryOpen("10.0.0.1"));
  EXPECT_TRUE(peers.TryOpen("10.0.0.2"));
  EXPECT_EQ(peers.open("10.0.0.1"), 2);
  peers.Close("10.0.0.1");
  EXPECT_TRUE(peers.TryOpen("10.0.0.1"));
  peers.Close("10.0.0.9");  // never opened: no effect
  EXPECT_EQ(peers.open("10.0.0.9"), 0);
}

TEST(ResolveLimitsTest, DefaultsAndRefusals) {
  medic::v1::LimitsConfig config;
  auto limits = ResolveLimits(config);
  ASSERT_TRUE(limits.ok());
  EXPECT_EQ(limits->max_concurrent_streams, 16);
  EXPECT_EQ(limits->records_per_second, 20);
  config.set_records_per_second(-1);
  EXPECT_THAT(ResolveLimits(config).status().message(), HasSubstr("limits.records_per_second"));
  config.Clear();
  config.mutable_min_ping_interval()->set_nanos(1000);
  EXPECT_THAT(ResolveLimits(config).status().message(), HasSubstr("limits.min_ping_interval"));
}

struct ValidateCase {
  std::string name;
  std::function<void(medic::v1::AgentMessage*)> make;
  std::string error;  // empty: valid
};

class ValidateAgentMessageTest : public ::testing::TestWithParam<ValidateCase> {};

TEST_P(ValidateAgentMessageTest, Checks) {
  medic::v1::AgentMessage message;
  GetParam().make(&message);
  const absl::Status status = ValidateAgentMessage(message);
  if (GetParam().error.empty()) {
    EXPECT_TRUE(status.ok()) << status;
  } else {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr(GetParam().error));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ValidateAgentMessageTest,
    ::testing::Values(
        ValidateCase{"empty", [](auto*) {}, ""},
        ValidateCase{"hello",
                     [](auto* m) {
                       m->mutable_hello()->set_machine_id("x");
                       m->mutable_hello()->add_labels("ünïcode");
                     },
                     ""},
        ValidateCase{"known_enum",
                     [](auto* m) {
                       m->mutable_delta()->add_findings()->mutable_raised()->set_severity(
                           medic::v1::SEVERITY_CRITICAL);
                     },
                     ""},
        ValidateCase{"bogus_enum",
                     [](auto* m) {
                       m->mutable_delta()->add_findings();
                       m->mutable_delta()->add_findings()->mutable_raised()->set_severity(
                           static_cast<medic::v1::Severity>(-7));
                     },
                     "delta.findings[1].raised.severity: -7 is not a known Severity"},
        ValidateCase{"bad_utf8", [](auto* m) { m->mutable_hello()->set_hostname("ws\xff"); },
                     "hello.hostname: is not valid UTF-8"},
        ValidateCase{"bad_utf8_in_map",
                     [](auto* m) {
                       (*m->mutable_snapshot()->add_findings()->mutable_evidence())["k"] = "\xc3";
                     },
                     "snapshot.findings[0].evidence[0].value: is not valid UTF-8"},
        ValidateCase{"too_many",
                     [](auto* m) {
                       for (int i = 0; i <= kMaxRepeatedElements; ++i) {
                         m->mutable_hello()->add_capabilities("dns");
                       }
                     },
                     "hello.capabilities: 10001 elements"},
        ValidateCase{"as_many_as_allowed",
                     [](auto* m) {
                       for (int i = 0; i < kMaxRepeatedElements; ++i) {
                         m->mutable_hello()->add_capabilities("dns");
                       }
                     },
                     ""}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace medic::collector
