#include "agent/probes/network/dns_message.h"

#include <cctype>

#include "absl/status/status.h"
#include "common/strings/str_cat.h"

namespace medic::agent {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr uint16_t kClassIn = 1;

void Put16(std::vector<uint8_t>& out, uint16_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value & 0xff));
}

// Reads the message as a cursor; every read checks the bounds.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool Read16(uint16_t* out) {
    if (pos_ + 2 > size_) return false;
    *out = static_cast<uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool Skip(size_t n) {
    if (pos_ + n > size_) return false;
    pos_ += n;
    return true;
  }
  // Moves past a (possibly compressed) name. A pointer ends the name in place, so following
  // it is not needed to skip; but it must point backwards inside the message, which rules out
  // loops that a reader following pointers would otherwise run into.
  absl::Status SkipName() {
    for (int labels = 0; labels < 128; ++labels) {
      if (pos_ >= size_) return absl::InvalidArgumentError("DNS answer cut short inside a name");
      const uint8_t length = data_[pos_];
      if ((length & 0xc0) == 0xc0) {
        if (pos_ + 2 > size_)
          return absl::InvalidArgumentError("DNS answer cut short in a pointer");
        const size_t target = ((length & 0x3f) << 8) | data_[pos_ + 1];
        if (target >= pos_) {
          return absl::InvalidArgumentError(
              common::StrCat("DNS name pointer at byte ", pos_, " points forward to ", target));
        }
        pos_ += 2;
        return absl::OkStatus();
      }
      if ((length & 0xc0) != 0) {
        return absl::InvalidArgumentError(
            common::StrCat("DNS name has a reserved label type at byte ", pos_));
      }
      ++pos_;
      if (length == 0) return absl::OkStatus();
      if (!Skip(length)) return absl::InvalidArgumentError("DNS answer cut short inside a label");
    }
    return absl::InvalidArgumentError("DNS name has more than 127 labels");
  }
  const uint8_t* here() const { return data_ + pos_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace

std::string DnsRcodeName(uint8_t rcode) {
  switch (rcode) {
    case 0:
      return "NOERROR";
    case 1:
      return "FORMERR";
    case 2:
      return "SERVFAIL";
    case 3:
      return "NXDOMAIN";
    case 4:
      return "NOTIMP";
    case 5:
      return "REFUSED";
    default:
      return common::StrCat("RCODE", static_cast<int>(rcode));
  }
}

absl::StatusOr<std::vector<uint8_t>> EncodeDnsQuery(uint16_t id, std::string_view name,
                                                    uint16_t type) {
  std::vector<uint8_t> out;
  out.reserve(kHeaderSize + name.size() + 6);
  Put16(out, id);
  Put16(out, 0x0100);  // a standard query, recursion desired
  Put16(out, 1);       // one question
  Put16(out, 0);
  Put16(out, 0);
  Put16(out, 0);
  if (name.ends_with('.')) name.remove_suffix(1);
  size_t wire_length = 1;  // the root's zero byte
  while (!name.empty()) {
    const size_t dot = name.find('.');
    const std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > 63) {
      return absl::InvalidArgumentError(common::StrCat(
          "DNS name label \"", label, "\" is ", label.empty() ? "empty" : "longer than 63 bytes"));
    }
    wire_length += 1 + label.size();
    out.push_back(static_cast<uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
    name.remove_prefix(dot == std::string_view::npos ? name.size() : dot + 1);
    if (dot != std::string_view::npos && name.empty()) {
      return absl::InvalidArgumentError("DNS name ends with an empty label");
    }
  }
  if (wire_length > 255) {
    return absl::InvalidArgumentError(
        common::StrCat("DNS name is ", wire_length, " bytes on the wire, over 255"));
  }
  out.push_back(0);
  Put16(out, type);
  Put16(out, kClassIn);
  return out;
}

absl::StatusOr<DnsAnswer> ParseDnsAnswer(const uint8_t* data, size_t size) {
  if (size < kHeaderSize) {
    return absl::InvalidArgumentError(
        common::StrCat("DNS answer of ", size, " bytes is shorter than its 12-byte header"));
  }
  Reader reader(data, size);
  uint16_t id = 0, flags = 0, questions = 0, answers = 0;
  reader.Read16(&id);
  reader.Read16(&flags);
  reader.Read16(&questions);
  reader.Read16(&answers);
  reader.Skip(4);  // authority and additional counts: not read
  if ((flags & 0x8000) == 0)
    return absl::InvalidArgumentError("DNS message is a query, not an answer");
  DnsAnswer answer;
  answer.id = id;
  answer.rcode = static_cast<uint8_t>(flags & 0x000f);
  answer.truncated = (flags & 0x0200) != 0;
  for (uint16_t i = 0; i < questions; ++i) {
    if (absl::Status s = reader.SkipName(); !s.ok()) return s;
    if (!reader.Skip(4)) return absl::InvalidArgumentError("DNS answer cut short in the question");
  }
  for (uint16_t i = 0; i < answers; ++i) {
    if (absl::Status s = reader.SkipName(); !s.ok()) return s;
    uint16_t type = 0, klass = 0, length = 0;
    if (!reader.Read16(&type) || !reader.Read16(&klass) || !reader.Skip(4) ||
        !reader.Read16(&length)) {
      return absl::InvalidArgumentError(
          common::StrCat("DNS answer cut short in record ", i + 1, " of ", answers));
    }
    const uint8_t* rdata = reader.here();
    if (!reader.Skip(length)) {
      return absl::InvalidArgumentError(
          common::StrCat("DNS record ", i + 1, " has ", length, " bytes of data past the end"));
    }
    if (type == kDnsTypeA && klass == kClassIn) {
      if (length != 4) {
        return absl::InvalidArgumentError(
            common::StrCat("DNS A record ", i + 1, " has ", length, " bytes, not 4"));
      }
      answer.addresses.push_back(
          common::StrCat(rdata[0], ".", rdata[1], ".", rdata[2], ".", rdata[3]));
    }
  }
  return answer;
}

absl::StatusOr<std::optional<DnsAnswer>> ReadDnsAnswerTo(const std::vector<uint8_t>& query,
                                                         const uint8_t* data, size_t size) {
  if (size < kHeaderSize || query.size() < kHeaderSize + 5) return std::nullopt;
  if (data[0] != query[0] || data[1] != query[1]) return std::nullopt;  // another id
  if ((data[2] & 0x80) == 0) return std::nullopt;                       // QR clear: a query
  const uint16_t questions = static_cast<uint16_t>((data[4] << 8) | data[5]);
  if (questions > 0) {
    // Our question is the query's bytes after the header: the name, then type and class. The
    // name compares without regard to ASCII case (servers may echo it in another case).
    const size_t question_size = query.size() - kHeaderSize;
    if (size < kHeaderSize + question_size) return std::nullopt;
    const size_t name_size = question_size - 4;
    for (size_t i = 0; i < question_size; ++i) {
      uint8_t ours = query[kHeaderSize + i], theirs = data[kHeaderSize + i];
      if (i < name_size) {
        ours = static_cast<uint8_t>(std::tolower(ours));
        theirs = static_cast<uint8_t>(std::tolower(theirs));
      }
      if (ours != theirs) return std::nullopt;
    }
  }
  // TC before the records: a truncated answer may end inside one.
  if ((data[2] & 0x02) != 0) return absl::InvalidArgumentError(kDnsTruncatedError);
  absl::StatusOr<DnsAnswer> answer = ParseDnsAnswer(data, size);
  if (!answer.ok()) return answer.status();
  return std::optional<DnsAnswer>(*std::move(answer));
}

}  // namespace medic::agent
