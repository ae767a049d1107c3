// The diagnostics catalog: what the agent accepts (validation, table-driven), what it caps, and
// each check run against the probes' fixture trees.

#include "agent/diagnostics/catalog.h"

#include <mutex>

#include "agent/probes/registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/fixture_command_runner.h"
#include "tests/support/fixture_file_system.h"

namespace medic::agent::diagnostics {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

medic::v1::DiagnosticRequest Request(medic::v1::DiagnosticCheck check,
                                     std::map<std::string, std::string> params = {}) {
  medic::v1::DiagnosticRequest r;
  r.set_request_id("D-1/m");
  r.set_check(check);
  r.set_requested_by("alice");
  for (auto& [k, v] : params) (*r.mutable_params())[k] = v;
  return r;
}

TEST(CatalogValidateTest, AcceptsOnlyWhatTheCatalogAllows) {
  medic::v1::AgentConfig config;
  config.mutable_network()->add_targets("http://intranet.corp/health");
  config.mutable_network()->add_targets("10.9.0.5:445");
  config.mutable_diagnostics()->add_disabled("updates");
  LocalNetwork network{{"10.1.0.23/24", "fd00::5/64"}, {"10.1.0.1"}};
  struct Row {
    const char* what;
    medic::v1::DiagnosticCheck check;
    std::map<std::string, std::string> params;
    absl::StatusCode code;
    const char* says;  // in the reason, when refused
  };
  using C = medic::v1::DiagnosticCheck;
  const absl::StatusCode ok = absl::StatusCode::kOk;
  const absl::StatusCode bad = absl::StatusCode::kInvalidArgument;
  const absl::StatusCode denied = absl::StatusCode::kPermissionDenied;
  const Row rows[] = {
      {"health takes nothing", C::DIAGNOSTIC_CHECK_HEALTH, {}, ok, ""},
      {"a parameter a check does not take",
       C::DIAGNOSTIC_CHECK_HEALTH,
       {{"unit", "x"}},
       bad,
       "takes no parameter 'unit'"},
      {"a check number the agent does not know",
       static_cast<C>(77),
       {},
       bad,
       "not in this agent's catalog"},
      {"unspecified is not a check", C::DIAGNOSTIC_CHECK_UNSPECIFIED, {}, bad, "not in"},
      {"disabled by local config", C::DIAGNOSTIC_CHECK_UPDATES, {}, denied, "disabled on this"},
      {"dns with a name", C::DIAGNOSTIC_CHECK_DNS, {{"name", "intranet.corp"}}, ok, ""},
      {"dns with a trailing dot", C::DIAGNOSTIC_CHECK_DNS, {{"name", "intranet.corp."}}, ok, ""},
      {"dns without a name", C::DIAGNOSTIC_CHECK_DNS, {}, bad, "give the name"},
      {"dns name with a space", C::DIAGNOSTIC_CHECK_DNS, {{"name", "a b"}}, bad, "not a DNS name"},
      {"dns name with a shell character",
       C::DIAGNOSTIC_CHECK_DNS,
       {{"name", "x;reboot"}},
       bad,
       "not a DNS name"},
      {"dns label of 64 characters",
       C::DIAGNOSTIC_CHECK_DNS,
       {{"name", std::string(64, 'a') + ".corp"}},
       bad,
       "not a DNS name"},
      {"ping without a host: the gateway", C::DIAGNOSTIC_CHECK_PING, {}, ok, ""},
      {"ping the gateway", C::DIAGNOSTIC_CHECK_PING, {{"host", "10.1.0.1"}}, ok, ""},
      {"ping a neighbour in the subnet",
       C::DIAGNOSTIC_CHECK_PING,
       {{"host", "10.1.0.200"}},
       ok,
       ""},
      {"ping a configured target", C::DIAGNOSTIC_CHECK_PING, {{"host", "10.9.0.5"}}, ok, ""},
      {"ping outside every subnet",
       C::DIAGNOSTIC_CHECK_PING,
       {{"host", "10.1.1.9"}},
       denied,
       "neither the gateway"},
      {"ping a name",
       C::DIAGNOSTIC_CHECK_PING,
       {{"host", "intranet.corp"}},
       bad,
       "not an IPv4 address"},
      {"tcp host and port",
       C::DIAGNOSTIC_CHECK_TCP,
       {{"host", "files.corp"}, {"port", "445"}},
       ok,
       ""},
      {"tcp IPv6 literal", C::DIAGNOSTIC_CHECK_TCP, {{"host", "fd00::9"}, {"port", "22"}}, ok, ""},
      {"tcp port 0",
       C::DIAGNOSTIC_CHECK_TCP,
       {{"host", "files.corp"}, {"port", "0"}},
       bad,
       "from 1 to 65535"},
      {"tcp port too high",
       C::DIAGNOSTIC_CHECK_TCP,
       {{"host", "files.corp"}, {"port", "70000"}},
       bad,
       "from 1 to 65535"},
      {"tcp without a port",
       C::DIAGNOSTIC_CHECK_TCP,
       {{"host", "files.corp"}},
       bad,
       "give host and port"},
      {"tcp host with a slash",
       C::DIAGNOSTIC_CHECK_TCP,
       {{"host", "a/b"}, {"port", "1"}},
       bad,
       "not a host name"},
      {"http a configured URL",
       C::DIAGNOSTIC_CHECK_HTTP,
       {{"url", "http://intranet.corp/health"}},
       ok,
       ""},
      {"http any other URL",
       C::DIAGNOSTIC_CHECK_HTTP,
       {{"url", "http://evil.example/"}},
       denied,
       "not one of this machine's configured"},
      {"http a configured non-http target",
       C::DIAGNOSTIC_CHECK_HTTP,
       {{"url", "10.9.0.5:445"}},
       denied,
       "not one of"},
      {"logs of a unit", C::DIAGNOSTIC_CHECK_LOGS, {{"unit", "cups.service"}}, ok, ""},
      {"logs of a template instance",
       C::DIAGNOSTIC_CHECK_LOGS,
       {{"unit", "getty@tty1.service"}},
       ok,
       ""},
      {"logs of the kernel", C::DIAGNOSTIC_CHECK_LOGS, {{"unit", "kernel"}}, ok, ""},
      {"logs of an option",
       C::DIAGNOSTIC_CHECK_LOGS,
       {{"unit", "--all"}},
       bad,
       "not a systemd unit"},
      {"logs unit with a space",
       C::DIAGNOSTIC_CHECK_LOGS,
       {{"unit", "a b"}},
       bad,
       "not a systemd unit"},
      {"logs lines not a number",
       C::DIAGNOSTIC_CHECK_LOGS,
       {{"lines", "many"}},
       bad,
       "not a positive number"},
      {"logs lines 0", C::DIAGNOSTIC_CHECK_LOGS, {{"lines", "0"}}, bad, "not a positive number"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.what);
    absl::StatusOr<Plan> plan = Validate(Request(row.check, row.params), config, network);
    EXPECT_EQ(plan.status().code(), row.code) << plan.status();
    if (!plan.ok()) {
      EXPECT_THAT(plan.status().message(), HasSubstr(row.says));
    }
  }
}

TEST(CatalogValidateTest, DeadlinesAndLinesAreCappedLocally) {
  medic::v1::AgentConfig config;
  *config.mutable_diagnostics()->mutable_max_deadline() = common::ToProtoDuration(absl::Seconds(5));
  config.mutable_diagnostics()->set_max_lines(30);
  auto request = Request(medic::v1::DIAGNOSTIC_CHECK_LOGS, {{"lines", "100000"}});
  *request.mutable_deadline() = common::ToProtoDuration(absl::Hours(1));
  absl::StatusOr<Plan> plan = Validate(request, config, {});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->deadline, absl::Seconds(5));
  EXPECT_EQ(plan->lines, 30u);
  EXPECT_TRUE(plan->kernel);  // no unit: kernel errors

  // Without a deadline: the default, within the local maximum.
  plan = Validate(Request(medic::v1::DIAGNOSTIC_CHECK_HEALTH), config, {});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->deadline, absl::Seconds(5));
  auto negative = Request(medic::v1::DIAGNOSTIC_CHECK_HEALTH);
  *negative.mutable_deadline() = common::ToProtoDuration(absl::Seconds(-1));
  EXPECT_EQ(Validate(negative, config, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CatalogValidateTest, SyntaxHelpers) {
  struct Row {
    const char* text;
    bool dns, unit;
  };
  const Row rows[] = {
      {"intranet.corp", true, true},
      {"a-b_c.d", true, true},
      {"-a.corp", false, false},
      {"a..corp", false, true},
      {"", false, false},
      {"cups.service", true, true},
      {"getty@tty1.service", false, true},
      {"a b", false, false},
      {"$(reboot)", false, false},
      {"dev-sda1.device", true, true},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(IsDnsName(row.text), row.dns) << row.text;
    EXPECT_EQ(IsUnitName(row.text), row.unit) << row.text;
  }
  EXPECT_TRUE(InSubnet("10.1.0.200", "10.1.0.23/24"));
  EXPECT_FALSE(InSubnet("10.1.1.200", "10.1.0.23/24"));
  EXPECT_TRUE(InSubnet("10.1.1.200", "10.1.0.23/16"));
  EXPECT_TRUE(InSubnet("fd00::9", "fd00::5/64"));
  EXPECT_FALSE(InSubnet("10.1.0.200", "fd00::5/64"));
  EXPECT_FALSE(InSubnet("10.1.0.200", "10.1.0.23"));  // no prefix
  EXPECT_TRUE(IsIpLiteral("10.0.0.1"));
  EXPECT_TRUE(IsIpLiteral("::1"));
  EXPECT_FALSE(IsIpLiteral("10.0.0"));
}

TEST(CatalogTest, AdvertisesEnabledChecksAndRejectsUnknownDisabledNames) {
  medic::v1::AgentConfig config;
  EXPECT_EQ(EnabledChecks(config).size(), 10u);
  config.mutable_diagnostics()->add_disabled("logs");
  config.mutable_diagnostics()->add_disabled("http");
  EXPECT_THAT(EnabledChecks(config), ElementsAre("health", "dns", "ping", "tcp", "printers", "disk",
                                                 "updates", "services"));
  config.mutable_diagnostics()->add_disabled("reboot");
  absl::Status s = ValidateDiagnosticsConfig(config.diagnostics());
  EXPECT_THAT(s.message(), HasSubstr("'reboot' is not a diagnostic"));
  config.mutable_diagnostics()->clear_disabled();
  config.mutable_diagnostics()->add_disabled("*");
  EXPECT_TRUE(EnabledChecks(config).empty());
}

TEST(CatalogTest, CapOutputCutsLinesAndBytesAndSaysSo) {
  Limits limits;
  limits.max_lines = 3;
  limits.max_bytes = 1000;
  medic::v1::DiagnosticResult result;
  for (int i = 0; i < 10; ++i) result.add_lines("line");
  CapOutput(limits, &result);
  ASSERT_EQ(result.lines_size(), 4);
  EXPECT_THAT(result.lines(3), HasSubstr("7 more lines cut"));

  limits.max_lines = 100;
  limits.max_bytes = 10;
  result.clear_lines();
  for (int i = 0; i < 5; ++i) result.add_lines("abcd");
  CapOutput(limits, &result);
  ASSERT_EQ(result.lines_size(), 3);  // 8 bytes kept, then the note
  EXPECT_THAT(result.lines(2), HasSubstr("3 more lines cut"));
}

std::string Fixture(const std::string& area, const std::string& name) {
  return common::StrCat(MEDIC_FIXTURES, "/", area, "/", name);
}

TEST(CatalogTest, ServicesCheckFindsFailedUnitsInTheFixture) {
  const std::string dir = Fixture("os", "server_failed_units_unsynced");
  medic::testing::FixtureFileSystem fs(dir);
  medic::testing::FixtureCommandRunner commands(dir);
  common::FakeClock clock;
  medic::v1::AgentConfig config;
  Catalog catalog(config, fs, commands, clock);
  medic::v1::DiagnosticResult r = catalog.Run(Request(medic::v1::DIAGNOSTIC_CHECK_SERVICES));
  EXPECT_EQ(r.outcome(), medic::v1::DIAGNOSTIC_OUTCOME_FOUND) << r.summary();
  EXPECT_EQ(r.request_id(), "D-1/m");
  EXPECT_THAT(r.summary(), HasSubstr("services (services probe): 2 problems"));
  ASSERT_EQ(r.findings_size(), 2);
  EXPECT_EQ(r.findings(0).code(), "os.service_failed");
  ASSERT_EQ(r.reports_size(), 1);
  EXPECT_TRUE(r.reports(0).has_services());
  EXPECT_TRUE(r.has_took());
}

TEST(CatalogTest, DiskCheckFindsTheFullFilesystemInTheFixture) {
  const std::string dir = Fixture("hardware", "server_disk_critical");
  medic::testing::FixtureFileSystem fs(dir);
  common::NoCommandRunner commands;
  common::FakeClock clock;
  medic::v1::AgentConfig config;
  Catalog catalog(config, fs, commands, clock);
  medic::v1::DiagnosticResult r = catalog.Run(Request(medic::v1::DIAGNOSTIC_CHECK_DISK));
  EXPECT_EQ(r.outcome(), medic::v1::DIAGNOSTIC_OUTCOME_FOUND) << r.summary();
  EXPECT_EQ(r.findings(0).code(), "disk.space_low");
  EXPECT_THAT(r.lines(0), HasSubstr("disk.space_low"));
}

TEST(CatalogTest, HealthRunsTheConfiguredProbesFresh) {
  const std::string dir = Fixture("hardware", "desktop_memory_pressure");
  medic::testing::FixtureFileSystem fs(dir);
  common::NoCommandRunner commands;
  common::FakeClock clock;
  medic::v1::AgentConfig config;
  ASSERT_TRUE(KeepOnlyProbes({"memory"}, config.mutable_probes()).ok());
  Catalog catalog(config, fs, commands, clock);
  medic::v1::DiagnosticResult r = catalog.Run(Request(medic::v1::DIAGNOSTIC_CHECK_HEALTH));
  EXPECT_EQ(r.outcome(), medic::v1::DIAGNOSTIC_OUTCOME_FOUND) << r.summary();
  EXPECT_THAT(r.summary(), HasSubstr("health: 1 probes ran"));
  ASSERT_EQ(r.reports_size(), 1);
  EXPECT_EQ(r.reports(0).probe(), "memory");
  bool pressure = false;
  for (const auto& f : r.findings()) pressure |= f.code() == "memory.pressure";
  EXPECT_TRUE(pressure);
}

// Answers journalctl with `lines` lines and remembers what it was asked.
class JournalRunner : public common::CommandRunner {
 public:
  explicit JournalRunner(int lines) : lines_(lines) {}
  absl::StatusOr<common::CommandResult> Run(const std::vector<std::string>& argv, absl::Duration,
                                            size_t max_output) const override {
    std::lock_guard lock(mu_);
    argv_ = argv;
    common::CommandResult result;
    for (int i = 0; i < lines_; ++i) result.std_out += common::StrCat("line ", i, "\n");
    if (result.std_out.size() > max_output) result.std_out.resize(max_output);
    return result;
  }
  std::vector<std::string> argv() const {
    std::lock_guard lock(mu_);
    return argv_;
  }

 private:
  const int lines_;
  mutable std::mutex mu_;
  mutable std::vector<std::string> argv_;
};

TEST(CatalogTest, LogsRunJournalctlForTheUnitAndCapTheOutput) {
  common::RootedFileSystem fs("/nonexistent");
  JournalRunner commands(500);
  common::FakeClock clock;
  medic::v1::AgentConfig config;
  config.mutable_diagnostics()->set_max_lines(100);
  Catalog catalog(config, fs, commands, clock);
  medic::v1::DiagnosticResult r = catalog.Run(
      Request(medic::v1::DIAGNOSTIC_CHECK_LOGS, {{"unit", "cups.service"}, {"lines", "20"}}));
  EXPECT_EQ(r.outcome(), medic::v1::DIAGNOSTIC_OUTCOME_PASSED) << r.summary();
  EXPECT_THAT(commands.argv(), ElementsAre("journalctl", "--no-pager", "--quiet", "--output",
                                           "short-iso", "--lines", "20", "--unit", "cups.service"));
  // The runner ignored --lines: the agent's own cap still holds.
  EXPECT_EQ(r.lines_size(), 101);
  EXPECT_THAT(r.lines(100), HasSubstr("400 more lines cut"));

  r = catalog.Run(Request(medic::v1::DIAGNOSTIC_CHECK_LOGS));
  EXPECT_THAT(commands.argv(),
              ElementsAre("journalctl", "--no-pager", "--quiet", "--output", "short-iso", "--lines",
                          "50", "--dmesg", "--priority", "err"));
  EXPECT_THAT(r.summary(), HasSubstr("kernel errors"));
}

TEST(CatalogTest, RefusalsSayWhyAndRunNothing) {
  common::RootedFileSystem fs("/nonexistent");
  JournalRunner commands(1);
  common::FakeClock clock;
  medic::v1::AgentConfig config;
  config.mutable_diagnostics()->add_disabled("logs");
  Catalog catalog(config, fs, commands, clock);
  medic::v1::DiagnosticResult r = catalog.Run(Request(medic::v1::DIAGNOSTIC_CHECK_LOGS));
  EXPECT_EQ(r.outcome(), medic::v1::DIAGNOSTIC_OUTCOME_REFUSED);
  EXPECT_THAT(r.summary(), HasSubstr("disabled on this machine"));
  EXPECT_TRUE(commands.argv().empty());
  r = catalog.Run(Request(static_cast<medic::v1::DiagnosticCheck>(99)));
  EXPECT_EQ(r.outcome(), medic::v1::DIAGNOSTIC_OUTCOME_REFUSED);
  EXPECT_EQ(r.request_id(), "D-1/m");
}

TEST(CatalogTest, ConcurrencyIsCapped) {
  common::RootedFileSystem fs("/");
  common::NoCommandRunner commands;
  common::FakeClock clock;
  medic::v1::AgentConfig config;
  config.mutable_diagnostics()->set_max_concurrent(2);
  Catalog catalog(config, fs, commands, clock);
  EXPECT_TRUE(catalog.TryReserve());
  EXPECT_TRUE(catalog.TryReserve());
  EXPECT_FALSE(catalog.TryReserve());
  catalog.Release();
  EXPECT_TRUE(catalog.TryReserve());
}

}  // namespace
}  // namespace medic::agent::diagnostics
