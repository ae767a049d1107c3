#include "agent/probes/kernel_log.h"

#include <unistd.h>

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace medic::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(ParseKmsgRecordsTest, MessagesWithoutHeadersOrDictionaries) {
  EXPECT_THAT(
      ParseKmsgRecords("6,1,0,-;Linux version 6.1.0-18-amd64\n"
                       "3,1234,5678901,-;I/O error, dev sdb, sector 8 op 0x0:(READ)\n"
                       " SUBSYSTEM=block\n"
                       " DEVICE=b8:16\n"
                       "4,1235,5678902,c,caller=T42;mce: [Hardware Error]: CPU 0\n"
                       "not a record\n"
                       "7,1236,5678903,-;\n"),
      ElementsAre("Linux version 6.1.0-18-amd64", "I/O error, dev sdb, sector 8 op 0x0:(READ)",
                  "mce: [Hardware Error]: CPU 0", ""));
  EXPECT_THAT(ParseKmsgRecords(""), IsEmpty());
}

// A fixture's dev/kmsg is a plain file: each call reads what was appended since the last one,
// and a record cut mid-way by the writer waits for its end.
TEST(KernelLogReaderTest, ReadsEachRecordOnce) {
  test::TempDir root;
  ASSERT_EQ(::mkdir(root.File("dev").c_str(), 0755), 0);
  const std::string kmsg = root.File("dev/kmsg");
  test::WriteFile(kmsg, "6,1,0,-;first\n6,2,10,-;second\n");
  common::RootedFileSystem fs(root.path());
  KernelLogReader reader;
  EXPECT_THAT(*reader.ReadNew(fs), ElementsAre("first", "second"));
  EXPECT_THAT(*reader.ReadNew(fs), IsEmpty());

  std::ofstream(kmsg, std::ios::app) << "3,3,20,-;third\n3,4,30,-;fou";
  EXPECT_THAT(*reader.ReadNew(fs), ElementsAre("third"));
  std::ofstream(kmsg, std::ios::app) << "rth\n";
  EXPECT_THAT(*reader.ReadNew(fs), ElementsAre("fourth"));
}

TEST(KernelLogReaderTest, MissingKmsgIsNotFoundNamingIt) {
  test::TempDir root;
  common::RootedFileSystem fs(root.path());
  KernelLogReader reader;
  absl::StatusOr<std::vector<std::string>> messages = reader.ReadNew(fs);
  ASSERT_FALSE(messages.ok());
  EXPECT_TRUE(absl::IsNotFound(messages.status())) << messages.status();
  EXPECT_THAT(std::string(messages.status().message()), testing::HasSubstr("dev/kmsg"));
}

// This machine's /dev/kmsg: the boot messages at first, then only what is new, never blocking.
TEST(KernelLogReaderTest, LiveKmsgReadsTheRingThenOnlyNewRecords) {
  common::RootedFileSystem fs("/");
  if (::access("/dev/kmsg", R_OK) != 0) GTEST_SKIP() << "/dev/kmsg is not readable here";
  KernelLogReader reader;
  absl::StatusOr<std::vector<std::string>> first = reader.ReadNew(fs);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_FALSE(first->empty());
  absl::StatusOr<std::vector<std::string>> second = reader.ReadNew(fs);
  ASSERT_TRUE(second.ok()) << second.status();
  // Other tests may log meanwhile (veth, namespaces), but never the whole ring again.
  EXPECT_LT(second->size(), first->size());
}

}  // namespace
}  // namespace medic::agent
