// The real command runner against real programs: output, exit codes, the time limit, a missing
// program, the output cap and what the program inherits.

#include "common/process/command_runner.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::common {
namespace {

using ::testing::HasSubstr;

constexpr size_t kCap = 1 << 20;

TEST(RealCommandRunnerTest, CollectsStdoutOfEcho) {
  RealCommandRunner runner;
  absl::StatusOr<CommandResult> result =
      runner.Run({"echo", "hello", "world"}, absl::Seconds(5), kCap);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->std_out, "hello world\n");
  EXPECT_EQ(result->std_err, "");
  EXPECT_FALSE(result->truncated);
}

TEST(RealCommandRunnerTest, ReportsExitCodeAndStderrWithoutAShell) {
  RealCommandRunner runner;
  // No shell runs argv: "$HOME" and ";" reach the program as they are.
  absl::StatusOr<CommandResult> echo = runner.Run({"echo", "$HOME;", "x"}, absl::Seconds(5), kCap);
  ASSERT_TRUE(echo.ok()) << echo.status();
  EXPECT_EQ(echo->std_out, "$HOME; x\n");

  absl::StatusOr<CommandResult> ls =
      runner.Run({"ls", "/definitely/not/here"}, absl::Seconds(5), kCap);
  ASSERT_TRUE(ls.ok()) << ls.status();
  EXPECT_EQ(ls->exit_code, 2);
  EXPECT_EQ(ls->std_out, "");
  // LC_ALL=C: the message is the untranslated one.
  EXPECT_THAT(ls->std_err, HasSubstr("No such file or directory"));

  absl::StatusOr<CommandResult> sh = runner.Run({"sh", "-c", "exit 7"}, absl::Seconds(5), kCap);
  ASSERT_TRUE(sh.ok()) << sh.status();
  EXPECT_EQ(sh->exit_code, 7);
}

TEST(RealCommandRunnerTest, KillsAProgramThatOverrunsAndNamesIt) {
  RealCommandRunner runner;
  const absl::Time start = absl::Now();
  absl::StatusOr<CommandResult> result = runner.Run({"sleep", "5"}, absl::Milliseconds(300), kCap);
  const absl::Duration took = absl::Now() - start;
  ASSERT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded) << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("sleep 5"));
  EXPECT_LT(took, absl::Seconds(2));
}

TEST(RealCommandRunnerTest, KillsWhatTheProgramStartedToo) {
  RealCommandRunner runner;
  // The child keeps stdout open through a grandchild; the whole process group is killed.
  const absl::Time start = absl::Now();
  absl::StatusOr<CommandResult> result =
      runner.Run({"sh", "-c", "sleep 5 & sleep 5"}, absl::Milliseconds(300), kCap);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded) << result.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST(RealCommandRunnerTest, MissingProgramIsNotFound) {
  RealCommandRunner runner;
  absl::StatusOr<CommandResult> result =
      runner.Run({"medic-no-such-program", "--version"}, absl::Seconds(5), kCap);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound) << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("medic-no-such-program"));

  absl::StatusOr<CommandResult> absolute =
      runner.Run({"/nonexistent/bin/tool"}, absl::Seconds(5), kCap);
  EXPECT_EQ(absolute.status().code(), absl::StatusCode::kNotFound) << absolute.status();
}

TEST(RealCommandRunnerTest, EmptyArgvIsInvalid) {
  RealCommandRunner runner;
  EXPECT_EQ(runner.Run({}, absl::Seconds(1), kCap).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RealCommandRunnerTest, CapsOutputAndStillReadsToTheEnd) {
  RealCommandRunner runner;
  // 1 MB of output through a 1000-byte cap: the program must not block on a full pipe.
  absl::StatusOr<CommandResult> result =
      runner.Run({"head", "-c", "1000000", "/dev/zero"}, absl::Seconds(5), 1000);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->std_out.size(), 1000u);
  EXPECT_TRUE(result->truncated);
}

TEST(RealCommandRunnerTest, ProgramInheritsNoDescriptorAndNoStdin) {
  // A descriptor opened without O_CLOEXEC must not reach the program.
  // A high number, so it cannot be one that ls opens itself.
  const int opened = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(opened, 0);
  const int leaked = ::dup2(opened, 57);
  ::close(opened);
  ASSERT_EQ(leaked, 57);
  RealCommandRunner runner;
  absl::StatusOr<CommandResult> result =
      runner.Run({"ls", "/proc/self/fd"}, absl::Seconds(5), kCap);
  ::close(leaked);
  ASSERT_TRUE(result.ok()) << result.status();
  // ls itself holds 0, 1, 2 and the directory it reads.
  EXPECT_THAT(result->std_out, HasSubstr("0\n1\n2\n"));
  EXPECT_THAT(result->std_out, ::testing::Not(HasSubstr("57\n")));

  absl::StatusOr<CommandResult> cat = runner.Run({"cat"}, absl::Seconds(5), kCap);
  ASSERT_TRUE(cat.ok()) << cat.status();
  EXPECT_EQ(cat->std_out, "");  // stdin is /dev/null: cat ends at once
}

TEST(NoCommandRunnerTest, EverythingIsNotFound) {
  NoCommandRunner runner;
  EXPECT_EQ(runner.Run({"echo", "hi"}, absl::Seconds(1), kCap).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(CommandTextTest, JoinsArgvWithSpaces) {
  EXPECT_EQ(CommandText({"systemctl", "list-units", "--failed"}), "systemctl list-units --failed");
  EXPECT_EQ(CommandText({}), "");
}

}  // namespace
}  // namespace medic::common
