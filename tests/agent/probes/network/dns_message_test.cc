#include "agent/probes/network/dns_message.h"

#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using Bytes = std::vector<uint8_t>;

Bytes Concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// The header of a query with id 0x1234, RD set, one question.
const Bytes kQueryHeader = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};

struct EncodeCase {
  std::string name;
  std::string qname;
  uint16_t type;
  Bytes wire;  // empty: an error is expected
  std::string error;
};

class EncodeDnsQueryTest : public ::testing::TestWithParam<EncodeCase> {};

TEST_P(EncodeDnsQueryTest, Encodes) {
  const EncodeCase& c = GetParam();
  absl::StatusOr<Bytes> query = EncodeDnsQuery(0x1234, c.qname, c.type);
  if (c.wire.empty()) {
    ASSERT_FALSE(query.ok());
    EXPECT_THAT(std::string(query.status().message()), HasSubstr(c.error));
    return;
  }
  ASSERT_TRUE(query.ok()) << query.status();
  EXPECT_EQ(*query, c.wire);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, EncodeDnsQueryTest,
    ::testing::Values(
        // Two labels, type A, class IN.
        EncodeCase{"two_labels", "host.lan", kDnsTypeA,
                   Concat({kQueryHeader, {4, 'h', 'o', 's', 't', 3, 'l', 'a', 'n', 0, 0, 1, 0, 1}}),
                   ""},
        // A trailing dot (fully qualified) encodes the same.
        EncodeCase{"trailing_dot", "host.lan.", kDnsTypeA,
                   Concat({kQueryHeader, {4, 'h', 'o', 's', 't', 3, 'l', 'a', 'n', 0, 0, 1, 0, 1}}),
                   ""},
        // The root zone's NS records: the fallback test query.
        EncodeCase{"root_ns", ".", kDnsTypeNs, Concat({kQueryHeader, {0, 0, 2, 0, 1}}), ""},
        // An empty label in the middle.
        EncodeCase{"empty_label", "a..b", kDnsTypeA, {}, "empty"},
        // A label of 64 bytes.
        EncodeCase{
            "label_too_long", std::string(64, 'x') + ".lan", kDnsTypeA, {}, "longer than 63"},
        // Five labels of 63 bytes: over 255 bytes on the wire.
        EncodeCase{"name_too_long",
                   std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') +
                       "." + std::string(63, 'd') + ".e",
                   kDnsTypeA,
                   {},
                   "over 255"}),
    [](const auto& info) { return info.param.name; });

// The question section of host.lan A IN, as dnsmasq echoes it.
const Bytes kQuestion = {4, 'h', 'o', 's', 't', 3, 'l', 'a', 'n', 0, 0, 1, 0, 1};

Bytes Header(uint16_t flags, uint16_t answers) {
  return {0x12,
          0x34,
          static_cast<uint8_t>(flags >> 8),
          static_cast<uint8_t>(flags & 0xff),
          0,
          1,
          0,
          static_cast<uint8_t>(answers),
          0,
          0,
          0,
          0};
}

// An A record whose name points at the question (offset 12).
Bytes ARecord(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, a, b, c, d};
}

struct ParseCase {
  std::string name;
  Bytes message;
  bool ok;
  uint8_t rcode = 0;
  std::vector<std::string> addresses = {};
  std::string error = "";
};

class ParseDnsAnswerTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ParseDnsAnswerTest, Parses) {
  const ParseCase& c = GetParam();
  absl::StatusOr<DnsAnswer> answer = ParseDnsAnswer(c.message);
  if (!c.ok) {
    ASSERT_FALSE(answer.ok());
    EXPECT_THAT(std::string(answer.status().message()), HasSubstr(c.error));
    return;
  }
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->id, 0x1234);
  EXPECT_EQ(answer->rcode, c.rcode);
  EXPECT_EQ(answer->addresses, c.addresses);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, ParseDnsAnswerTest,
    ::testing::Values(
        // NOERROR with one A record (response, RD, RA, AA as dnsmasq sets for --host-record).
        ParseCase{"one_a",
                  Concat({Header(0x8580, 1), kQuestion, ARecord(10, 0, 0, 5)}),
                  true,
                  0,
                  {"10.0.0.5"}},
        // Two A records, and a CNAME before them that is skipped.
        ParseCase{"cname_then_two_a",
                  Concat({Header(0x8180, 3),
                          kQuestion,
                          {0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 12},
                          ARecord(10, 0, 0, 5),
                          ARecord(10, 0, 0, 6)}),
                  true,
                  0,
                  {"10.0.0.5", "10.0.0.6"}},
        // NXDOMAIN: no answers.
        ParseCase{"nxdomain", Concat({Header(0x8583, 0), kQuestion}), true, 3, {}},
        // REFUSED, as dnsmasq answers a name outside its --local domains without upstreams.
        ParseCase{"refused", Concat({Header(0x8105, 0), kQuestion}), true, 5, {}},
        // Shorter than a header.
        ParseCase{"short_header", {0x12, 0x34, 0x81}, false, 0, {}, "shorter than its 12-byte"},
        // QR clear: a query, not an answer.
        ParseCase{"query", Concat({Header(0x0100, 0), kQuestion}), false, 0, {}, "is a query"},
        // The answer count says 1 but the record is cut short.
        ParseCase{"cut_record",
                  Concat({Header(0x8180, 1), kQuestion, {0xc0, 12, 0, 1}}),
                  false,
                  0,
                  {},
                  "cut short in record 1"},
        // RDLENGTH runs past the end.
        ParseCase{
            "rdata_past_end",
            Concat({Header(0x8180, 1), kQuestion, {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 9, 1}}),
            false,
            0,
            {},
            "past the end"},
        // A pointer to itself (a loop) is refused: pointers must point backwards.
        ParseCase{"pointer_loop",
                  Concat({Header(0x8180, 1), kQuestion, {0xc0, 26}}),
                  false,
                  0,
                  {},
                  "points forward"},
        // An A record of 5 bytes.
        ParseCase{"bad_a_length",
                  Concat({Header(0x8180, 1),
                          kQuestion,
                          {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 5, 1, 2, 3, 4, 5}}),
                  false,
                  0,
                  {},
                  "5 bytes, not 4"}),
    [](const auto& info) { return info.param.name; });

// A datagram on the query's socket, read header first against the query for host.lan A.
struct ReadCase {
  std::string name;
  Bytes message;
  enum { kIgnored, kAnswer, kError } expect;
  std::vector<std::string> addresses = {};
  std::string error = "";
};

class ReadDnsAnswerToTest : public ::testing::TestWithParam<ReadCase> {};

TEST_P(ReadDnsAnswerToTest, ReadsHeaderFirst) {
  const ReadCase& c = GetParam();
  absl::StatusOr<Bytes> query = EncodeDnsQuery(0x1234, "host.lan", kDnsTypeA);
  ASSERT_TRUE(query.ok()) << query.status();
  absl::StatusOr<std::optional<DnsAnswer>> read = ReadDnsAnswerTo(*query, c.message);
  switch (c.expect) {
    case ReadCase::kIgnored:
      ASSERT_TRUE(read.ok()) << read.status();
      EXPECT_FALSE(read->has_value()) << "a datagram not answering our query ended it";
      break;
    case ReadCase::kAnswer:
      ASSERT_TRUE(read.ok()) << read.status();
      ASSERT_TRUE(read->has_value());
      EXPECT_EQ((*read)->addresses, c.addresses);
      break;
    case ReadCase::kError:
      ASSERT_FALSE(read.ok());
      EXPECT_THAT(std::string(read.status().message()), HasSubstr(c.error));
      break;
  }
}

Bytes WithId(Bytes message, uint16_t id) {
  message[0] = static_cast<uint8_t>(id >> 8);
  message[1] = static_cast<uint8_t>(id & 0xff);
  return message;
}

INSTANTIATE_TEST_SUITE_P(
    Rows, ReadDnsAnswerToTest,
    ::testing::Values(
        // Our answer: read.
        ReadCase{"ours",
                 Concat({Header(0x8580, 1), kQuestion, ARecord(10, 0, 0, 5)}),
                 ReadCase::kAnswer,
                 {"10.0.0.5"}},
        // The server echoes the name in another case: still ours.
        ReadCase{"question_other_case",
                 Concat({Header(0x8580, 1),
                         {4, 'H', 'O', 'S', 'T', 3, 'l', 'A', 'n', 0, 0, 1, 0, 1},
                         ARecord(10, 0, 0, 5)}),
                 ReadCase::kAnswer,
                 {"10.0.0.5"}},
        // FORMERR without the question, as some servers send it: ours, no addresses.
        ReadCase{
            "no_question", {0x12, 0x34, 0x81, 0x01, 0, 0, 0, 0, 0, 0, 0, 0}, ReadCase::kAnswer, {}},
        // A malformed datagram with another id (a late answer to an earlier query): ignored,
        // not a bad answer.
        ReadCase{"malformed_other_id",
                 WithId(Concat({Header(0x8180, 1), kQuestion, {0xc0, 12, 0, 1}}), 0x9999),
                 ReadCase::kIgnored},
        // A well-formed answer with another id: ignored.
        ReadCase{"other_id",
                 WithId(Concat({Header(0x8180, 1), kQuestion, ARecord(10, 0, 0, 9)}), 0x9999),
                 ReadCase::kIgnored},
        // Shorter than a header: ignored (nothing says it is ours).
        ReadCase{"short", {0x12, 0x34, 0x81}, ReadCase::kIgnored},
        // QR clear: a query (our own, reflected), not an answer.
        ReadCase{"qr_clear", Concat({Header(0x0100, 0), kQuestion}), ReadCase::kIgnored},
        // Our id but another name: an answer to another query that reused the id.
        ReadCase{"other_name",
                 Concat({Header(0x8180, 1),
                         {4, 'h', 'o', 's', 't', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1},
                         ARecord(10, 0, 0, 9)}),
                 ReadCase::kIgnored},
        // Our id and name but type NS: another query.
        ReadCase{
            "other_type",
            Concat({Header(0x8180, 0), {4, 'h', 'o', 's', 't', 3, 'l', 'a', 'n', 0, 0, 2, 0, 1}}),
            ReadCase::kIgnored},
        // Cut short inside the question: cannot be ours.
        ReadCase{"cut_in_question", Concat({Header(0x8180, 0), {4, 'h', 'o', 's'}}),
                 ReadCase::kIgnored},
        // Ours but malformed past the question: a bad answer.
        ReadCase{"ours_malformed",
                 Concat({Header(0x8180, 1), kQuestion, {0xc0, 12, 0, 1}}),
                 ReadCase::kError,
                 {},
                 "cut short in record 1"},
        // Ours with TC set and the records cut off: truncated, not answered.
        ReadCase{"truncated",
                 Concat({Header(0x8380, 0), kQuestion}),
                 ReadCase::kError,
                 {},
                 "answer truncated (TC): the server wants TCP"},
        // TC set and cut inside a record: still said to be truncated, not malformed.
        ReadCase{"truncated_mid_record",
                 Concat({Header(0x8380, 2), kQuestion, ARecord(10, 0, 0, 5), {0xc0, 12, 0}}),
                 ReadCase::kError,
                 {},
                 "answer truncated (TC)"}),
    [](const auto& info) { return info.param.name; });

TEST(DnsRcodeNameTest, NamesKnownCodesAndNumbersOthers) {
  EXPECT_EQ(DnsRcodeName(0), "NOERROR");
  EXPECT_EQ(DnsRcodeName(3), "NXDOMAIN");
  EXPECT_EQ(DnsRcodeName(5), "REFUSED");
  EXPECT_EQ(DnsRcodeName(9), "RCODE9");
}

// What we send is what we can read back once a server flips QR: the two agree on the layout.
TEST(DnsRoundTripTest, QueryWithQrSetParsesAsAnEmptyAnswer) {
  absl::StatusOr<Bytes> query = EncodeDnsQuery(0x1234, "intranet.corp", kDnsTypeA);
  ASSERT_TRUE(query.ok());
  (*query)[2] |= 0x80;
  absl::StatusOr<DnsAnswer> answer = ParseDnsAnswer(*query);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_THAT(answer->addresses, IsEmpty());
  EXPECT_EQ(answer->rcode, 0);
}

}  // namespace
}  // namespace medic::agent
