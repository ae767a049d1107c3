#pragma once

// The few DNS messages (RFC 1035) the connectivity probe sends and reads: one question, an A
// or NS query, and the answer's rcode and A records. Pure; builds everywhere.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace medic::agent {

inline constexpr uint16_t kDnsTypeA = 1;
inline constexpr uint16_t kDnsTypeNs = 2;

// Response codes (RFC 1035 4.1.1, RFC 6895).
enum class DnsRcode : uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
};

// "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", else "RCODE<n>".
std::string DnsRcodeName(uint8_t rcode);

// A standard query with recursion desired for `name` ("intranet.corp", "intranet.corp." or "."
// for the root) and `type`, class IN. InvalidArgument naming the label when a label is empty
// (other than the root), longer than 63 bytes, or the name longer than 255 bytes on the wire.
absl::StatusOr<std::vector<uint8_t>> EncodeDnsQuery(uint16_t id, std::string_view name,
                                                    uint16_t type);

struct DnsAnswer {
  uint16_t id = 0;
  uint8_t rcode = 0;
  bool truncated = false;              // TC: the answer did not fit a UDP datagram
  std::vector<std::string> addresses;  // A records of the answer section, dotted, in order
};

// Parses a response: header, question section skipped, answer section read for A records (other
// types skipped). InvalidArgument saying what is wrong when the message is not a response (QR
// clear), is cut short, or a name has a compression loop or points forward out of the message.
absl::StatusOr<DnsAnswer> ParseDnsAnswer(const uint8_t* data, size_t size);
inline absl::StatusOr<DnsAnswer> ParseDnsAnswer(const std::vector<uint8_t>& message) {
  return ParseDnsAnswer(message.data(), message.size());
}

// The error of an answer with TC set: it did not fit a UDP datagram, so its records are not all
// there (RFC 1035 4.2.1); the server wants the query again over TCP, which the probe does not do.
inline constexpr char kDnsTruncatedError[] = "answer truncated (TC): the server wants TCP";

// Reads a datagram received for `query` (as EncodeDnsQuery built it), header first:
// - std::nullopt when it is not the answer to `query` and waiting should go on: shorter than a
//   header, QR clear, another id, or a question other than ours (a stray or late datagram; a
//   server may leave the question out, as some do with FORMERR, which counts as ours);
// - InvalidArgument when it is our answer but unusable: kDnsTruncatedError when TC is set, else
//   what ParseDnsAnswer finds wrong;
// - the parsed answer otherwise.
absl::StatusOr<std::optional<DnsAnswer>> ReadDnsAnswerTo(const std::vector<uint8_t>& query,
                                                         const uint8_t* data, size_t size);
inline absl::StatusOr<std::optional<DnsAnswer>> ReadDnsAnswerTo(
    const std::vector<uint8_t>& query, const std::vector<uint8_t>& message) {
  return ReadDnsAnswerTo(query, message.data(), message.size());
}

}  // namespace medic::agent
