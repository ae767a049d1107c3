// `medic diagnose`'s words turned into a request, its exit codes and its lines.

#include "collector/cli/live.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::cli {
namespace {

using ::testing::HasSubstr;

TEST(ParseCheckArgsTest, WordsBecomeTheCheckAndItsParameters) {
  using Params = std::map<std::string, std::string>;
  struct Row {
    std::vector<std::string> words;
    medic::v1::DiagnosticCheck check;
    Params params;
    const char* error;  // in the message when refused; nullptr when accepted
  };
  const Row rows[] = {
      // A check without arguments.
      {{"health"}, medic::v1::DIAGNOSTIC_CHECK_HEALTH, {}, nullptr},
      {{"dns", "intranet.corp"},
       medic::v1::DIAGNOSTIC_CHECK_DNS,
       {{"name", "intranet.corp"}},
       nullptr},
      // KEY=VALUE passes through.
      {{"dns", "name=x.corp"}, medic::v1::DIAGNOSTIC_CHECK_DNS, {{"name", "x.corp"}}, nullptr},
      {{"dns"}, medic::v1::DIAGNOSTIC_CHECK_DNS, {}, "give the name"},
      {{"ping"}, medic::v1::DIAGNOSTIC_CHECK_PING, {}, nullptr},
      {{"ping", "10.1.0.9"}, medic::v1::DIAGNOSTIC_CHECK_PING, {{"host", "10.1.0.9"}}, nullptr},
      {{"tcp", "files:445"},
       medic::v1::DIAGNOSTIC_CHECK_TCP,
       {{"host", "files"}, {"port", "445"}},
       nullptr},
      // IPv6 in brackets.
      {{"tcp", "[fd00::9]:22"},
       medic::v1::DIAGNOSTIC_CHECK_TCP,
       {{"host", "fd00::9"}, {"port", "22"}},
       nullptr},
      {{"tcp", "files"}, medic::v1::DIAGNOSTIC_CHECK_TCP, {}, "is not HOST:PORT"},
      {{"tcp"}, medic::v1::DIAGNOSTIC_CHECK_TCP, {}, "give HOST:PORT"},
      {{"http", "http://i/h"}, medic::v1::DIAGNOSTIC_CHECK_HTTP, {{"url", "http://i/h"}}, nullptr},
      {{"logs"}, medic::v1::DIAGNOSTIC_CHECK_LOGS, {}, nullptr},
      {{"logs", "cups.service", "20"},
       medic::v1::DIAGNOSTIC_CHECK_LOGS,
       {{"unit", "cups.service"}, {"lines", "20"}},
       nullptr},
      {{"logs", "kernel"}, medic::v1::DIAGNOSTIC_CHECK_LOGS, {{"unit", "kernel"}}, nullptr},
      {{"disk", "extra"}, medic::v1::DIAGNOSTIC_CHECK_DISK, {}, "takes no arguments"},
      {{"reboot"}, medic::v1::DIAGNOSTIC_CHECK_UNSPECIFIED, {}, "'reboot' is not a diagnostic"},
      {{}, medic::v1::DIAGNOSTIC_CHECK_UNSPECIFIED, {}, "say which check"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(::testing::PrintToString(row.words));
    auto args = ParseCheckArgs(row.words);
    if (row.error != nullptr) {
      EXPECT_THAT(args.status().message(), HasSubstr(row.error));
      continue;
    }
    ASSERT_TRUE(args.ok()) << args.status();
    EXPECT_EQ(args->check, row.check);
    EXPECT_EQ(args->params, row.params);
  }
}

TEST(ParseCheckArgsTest, Durations) {
  EXPECT_EQ(*ParseDurationFlag("1h"), absl::Hours(1));
  EXPECT_EQ(*ParseDurationFlag("500ms"), absl::Milliseconds(500));
  EXPECT_FALSE(ParseDurationFlag("0s").ok());
  EXPECT_FALSE(ParseDurationFlag("soon").ok());
  EXPECT_FALSE(ParseDurationFlag("-5m").ok());
}

medic::v1::DiagnosticResult Result(std::string host, medic::v1::DiagnosticOutcome outcome) {
  medic::v1::DiagnosticResult r;
  r.set_machine(std::move(host));
  r.set_check(medic::v1::DIAGNOSTIC_CHECK_DNS);
  r.set_outcome(outcome);
  r.set_summary("something");
  return r;
}

TEST(DiagnoseOutputTest, ExitCodesAndSummary) {
  using O = medic::v1::DiagnosticOutcome;
  EXPECT_EQ(DiagnoseExitCode({Result("a", O::DIAGNOSTIC_OUTCOME_PASSED)}), 0);
  EXPECT_EQ(DiagnoseExitCode({Result("a", O::DIAGNOSTIC_OUTCOME_PASSED),
                              Result("b", O::DIAGNOSTIC_OUTCOME_FOUND)}),
            4);
  EXPECT_EQ(DiagnoseExitCode({Result("a", O::DIAGNOSTIC_OUTCOME_OFFLINE),
                              Result("b", O::DIAGNOSTIC_OUTCOME_FOUND)}),
            5);
  EXPECT_EQ(DiagnoseExitCode({Result("a", O::DIAGNOSTIC_OUTCOME_REFUSED)}), 5);

  const std::string summary = RenderRunSummary(
      {Result("a", O::DIAGNOSTIC_OUTCOME_PASSED), Result("b", O::DIAGNOSTIC_OUTCOME_TIMED_OUT),
       Result("c", O::DIAGNOSTIC_OUTCOME_OFFLINE), Result("d", O::DIAGNOSTIC_OUTCOME_OFFLINE)},
      false);
  EXPECT_THAT(summary, HasSubstr("4 machines: 1 passed, 1 timed_out, 2 offline"));
  EXPECT_THAT(summary, HasSubstr("Did not answer in time: b\n"));
  EXPECT_THAT(summary, HasSubstr("Offline: c, d\n"));

  auto r = Result("ws-1", O::DIAGNOSTIC_OUTCOME_FOUND);
  r.add_lines("10.0.0.53: x failed");
  EXPECT_EQ(RenderResult(r, false), "ws-1  dns  FOUND  something\n    10.0.0.53: x failed\n");
  EXPECT_THAT(RenderResult(r, true), HasSubstr("\033[1;31mFOUND\033[0m"));
}

}  // namespace
}  // namespace medic::cli
