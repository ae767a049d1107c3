#include "common/config/yaml_proto.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/status/errno_status.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "common/time/clock.h"
#include "google/protobuf/descriptor.h"
#include "yaml-cpp/depthguard.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"

namespace medic::common {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::OneofDescriptor;
using google::protobuf::Reflection;

// Values visited, counting a node again each time an alias repeats it. Config files have a few
// hundred; the cap only stops "billion laughs" documents over recursive message types.
constexpr size_t kMaxValues = 100'000;

// The tag that makes a list add to the one below it instead of replacing it.
constexpr std::string_view kAppendTag = "!append";

// Larger files are not config files (or are /dev/zero).
constexpr size_t kMaxFileBytes = 16 << 20;

// google.protobuf.Duration's documented range.
constexpr int64_t kMaxDurationSeconds = 315'576'000'000;
// google.protobuf.Timestamp's documented range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
constexpr int64_t kMinTimestampSeconds = -62'135'596'800;
constexpr int64_t kMaxTimestampSeconds = 253'402'300'799;

// A value as it may appear in an error message: escaped onto one line and cut when long.
std::string Quote(std::string_view text) {
  constexpr size_t kMax = 60;
  std::string escaped = absl::CHexEscape(std::string(text.substr(0, kMax)));
  if (text.size() > kMax) escaped += "...";
  return StrCat("'", escaped, "'");
}

const char* KindOf(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    default:
      return "nothing";
  }
}

std::string ChildPath(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : StrCat(path, ".", key);
}

// "LogLevel" -> "LOG_LEVEL", the prefix protobuf style puts on every value of the enum.
std::string UpperSnake(std::string_view camel) {
  std::string out;
  for (size_t i = 0; i < camel.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(camel[i]);
    if (i > 0 && std::isupper(c)) {
      const unsigned char prev = static_cast<unsigned char>(camel[i - 1]);
      const bool next_lower =
          i + 1 < camel.size() && std::islower(static_cast<unsigned char>(camel[i + 1]));
      if (std::islower(prev) || std::isdigit(prev) || (std::isupper(prev) && next_lower)) {
        out += '_';
      }
    }
    out += static_cast<char>(std::toupper(c));
  }
  return out;
}

// Lower case, '-' and ' ' as '_': how a misspelt key is compared with the field names.
std::string NormalizeKey(std::string_view key) {
  std::string out = absl::AsciiStrToLower(std::string(key));
  std::replace(out.begin(), out.end(), '-', '_');
  std::replace(out.begin(), out.end(), ' ', '_');
  return out;
}

// Edit distance counting insertions, deletions, substitutions and swaps of neighbours.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The field `key` most likely meant: within two edits (and fewer edits than the key has
// letters), or a field name the key begins or that begins with the key. Null when none is.
const FieldDescriptor* ClosestField(const Descriptor* descriptor, std::string_view key) {
  constexpr size_t kMaxEdits = 2;
  constexpr size_t kPrefixScore = kMaxEdits + 1;
  constexpr size_t kMinPrefix = 3;
  const std::string wanted = NormalizeKey(key);
  const FieldDescriptor* best = nullptr;
  size_t best_score = kPrefixScore + 1;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    const std::string name = NormalizeKey(field->name());
    size_t score = kPrefixScore + 1;
    // Lengths further apart than kMaxEdits cannot be that close; skip the quadratic work.
    const size_t length_gap =
        std::max(wanted.size(), name.size()) - std::min(wanted.size(), name.size());
    const size_t distance = length_gap > kMaxEdits ? length_gap : EditDistance(wanted, name);
    if (distance <= kMaxEdits && distance < wanted.size()) {
      score = distance;
    } else if (std::min(wanted.size(), name.size()) >= kMinPrefix &&
               (name.starts_with(wanted) || wanted.starts_with(name))) {
      score = kPrefixScore;
    }
    if (score < best_score) {
      best = field;
      best_score = score;
    }
  }
  return best;
}

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    uint32_t code_point = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      length = 2;
      code_point = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3;
      code_point = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4;
      code_point = c & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kSmallest[length] || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

// A YAML integer: an optional sign, then decimal digits or 0x and hex digits.
struct ParsedInteger {
  bool negative = false;
  uint64_t magnitude = 0;
};
enum class IntegerError { kNotANumber, kOutOfRange };

std::optional<ParsedInteger> ParseInteger(std::string_view text, IntegerError* error) {
  ParsedInteger parsed;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    parsed.negative = text.front() == '-';
    text.remove_prefix(1);
  }
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  *error = IntegerError::kNotANumber;
  if (text.empty() || !std::isxdigit(static_cast<unsigned char>(text.front()))) {
    return std::nullopt;
  }
  const auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), parsed.magnitude, base);
  if (end != text.data() + text.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    *error = IntegerError::kOutOfRange;
    return std::nullopt;
  }
  if (ec != std::errc()) return std::nullopt;
  return parsed;
}

// Turns YAML nodes into field values, remembering the file name for error messages.
class Converter {
 public:
  // `text` is the document, kept by the caller while the converter lives.
  // `origins`, when not null, receives the path and line of every value set.
  Converter(std::string_view file_name, std::string_view text, Origins* origins)
      : file_name_(file_name), origins_(origins) {
    for (size_t start = 0; start <= text.size();) {
      const size_t end = std::min(text.find('\n', start), text.size());
      lines_.push_back(text.substr(start, end - start));
      start = end + 1;
    }
  }

  // Merges the mapping `node` into `message`; `path` is the key path of `node`.
  absl::Status MergeMessage(const YAML::Node& node, const std::string& path, Message* message);

  // "FILE:LINE: PATH: what", or "FILE:LINE: what" at the top level.
  absl::Status Error(const YAML::Node& node, std::string_view path, std::string_view what) const {
    return ErrorAt(node.Mark(), path, what);
  }
  absl::Status ErrorAt(const YAML::Mark& mark, std::string_view path, std::string_view what) const {
    std::string location(file_name_);
    if (!mark.is_null()) StrAppend(&location, ":", mark.line + 1);
    return absl::InvalidArgumentError(StrCat(location, ": ", path, path.empty() ? "" : ": ", what));
  }

 private:
  absl::Status Count(const YAML::Node& node, std::string_view path);
  absl::Status UnknownKey(const YAML::Node& key, std::string_view path,
                          const Descriptor* descriptor) const;
  // Sets a singular field, or appends to a repeated one, from a non-null `node`.
  absl::Status SetValue(const YAML::Node& node, const std::string& path,
                        const FieldDescriptor* field, Message* message);
  absl::Status SetRepeated(const YAML::Node& node, const std::string& path,
                           const FieldDescriptor* field, Message* message);
  absl::Status SetMap(const YAML::Node& node, const std::string& path, const FieldDescriptor* field,
                      Message* message);
  absl::Status SetScalar(const YAML::Node& node, std::string_view path,
                         const FieldDescriptor* field, Message* message);
  absl::Status SetDuration(const YAML::Node& node, std::string_view path, Message* duration);
  absl::Status SetTimestamp(const YAML::Node& node, std::string_view path, Message* timestamp);
  absl::StatusOr<const EnumValueDescriptor*> ParseEnum(const YAML::Node& node,
                                                       std::string_view path,
                                                       const EnumDescriptor* type) const;

  YAML::Mark EmptyItemMark(const YAML::Mark& mark) const;
  void Record(const std::string& path, const YAML::Mark& mark, bool appended);

  std::string file_name_;
  Origins* origins_;
  std::vector<std::string_view> lines_;
  size_t values_ = 0;
};

// The word for what a scalar field takes, as in "expected a bool, got a list".
std::string Expected(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return "a whole number";
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return "a number";
    case FieldDescriptor::CPPTYPE_BOOL:
      return "a bool";
    case FieldDescriptor::CPPTYPE_ENUM:
      return StrCat("a ", field->enum_type()->name());
    case FieldDescriptor::CPPTYPE_STRING:
      return "a string";
    case FieldDescriptor::CPPTYPE_MESSAGE:
      if (field->message_type()->full_name() == "google.protobuf.Duration") return "a duration";
      if (field->message_type()->full_name() == "google.protobuf.Timestamp") return "a timestamp";
      return "a mapping";
  }
  return "a value";
}

bool IsWellKnownScalar(const Descriptor* descriptor) {
  return descriptor->full_name() == "google.protobuf.Duration" ||
         descriptor->full_name() == "google.protobuf.Timestamp";
}

void SetSecondsAndNanos(Message* message, int64_t seconds, int32_t nanos) {
  const Descriptor* descriptor = message->GetDescriptor();
  const Reflection* reflection = message->GetReflection();
  reflection->SetInt64(message, descriptor->FindFieldByName("seconds"), seconds);
  reflection->SetInt32(message, descriptor->FindFieldByName("nanos"), nanos);
}

YAML::Mark Converter::EmptyItemMark(const YAML::Mark& mark) const {
  // yaml-cpp places an empty block-list item ("-" alone on its line) at the next token, which
  // may be lines further down; the item is on the last line before it that holds anything.
  if (mark.is_null()) return mark;
  for (int line = std::min<int>(mark.line, static_cast<int>(lines_.size())) - 1; line >= 0;
       --line) {
    std::string_view content = lines_[line];
    if (const size_t comment = content.find('#'); comment != std::string_view::npos) {
      content = content.substr(0, comment);
    }
    while (!content.empty() && std::isspace(static_cast<unsigned char>(content.back()))) {
      content.remove_suffix(1);
    }
    if (content.empty()) continue;
    if (content.ends_with('-')) {
      YAML::Mark moved = mark;
      moved.line = line;
      return moved;
    }
    break;
  }
  return mark;
}

void Converter::Record(const std::string& path, const YAML::Mark& mark, bool appended) {
  if (origins_ == nullptr) return;
  std::string where(file_name_);
  if (!mark.is_null()) StrAppend(&where, ":", mark.line + 1);
  auto it = origins_->find(path);
  if (appended && it != origins_->end()) {
    // Appending keeps what the layers below set; the origin names them all.
    StrAppend(&it->second.where, " + ", where);
    return;
  }
  (*origins_)[path] = Origin{std::move(where), appended};
}

absl::Status Converter::Count(const YAML::Node& node, std::string_view path) {
  if (++values_ > kMaxValues) {
    return Error(node, path,
                 StrCat("more than ", kMaxValues,
                        " values (aliases repeat what they refer to); not a config file?"));
  }
  return absl::OkStatus();
}

absl::Status Converter::UnknownKey(const YAML::Node& key, std::string_view path,
                                   const Descriptor* descriptor) const {
  if (key.Scalar() == "<<") {
    return Error(key, path, "YAML merge keys ('<<') are not supported; write the settings out");
  }
  std::string what = StrCat("unknown key ", Quote(key.Scalar()), " in ", descriptor->name());
  if (const FieldDescriptor* closest = ClosestField(descriptor, key.Scalar())) {
    StrAppend(&what, " (did you mean '", closest->name(), "'?)");
  } else {
    std::vector<std::string> names;
    for (int i = 0; i < descriptor->field_count(); ++i) {
      names.push_back(descriptor->field(i)->name());
    }
    StrAppend(&what, " (valid keys: ", absl::StrJoin(names, ", "), ")");
  }
  return Error(key, path, what);
}

absl::Status Converter::MergeMessage(const YAML::Node& node, const std::string& path,
                                     Message* message) {
  const Descriptor* descriptor = message->GetDescriptor();
  std::map<std::string, int> seen;  // key -> its line, for duplicates
  std::map<const OneofDescriptor*, std::string> oneofs_set;
  // The iterator's operator-> returns a temporary; the range-for keeps each pair alive.
  for (const auto& pair : node) {
    const YAML::Node& key = pair.first;
    const YAML::Node& value = pair.second;
    RETURN_IF_ERROR(Count(key, path));
    if (!key.IsScalar()) {
      return Error(key, path, StrCat("a key must be a name, got ", KindOf(key)));
    }
    const std::string& name = key.Scalar();
    if (auto [first, inserted] = seen.emplace(name, key.Mark().line + 1); !inserted) {
      return Error(key, path,
                   StrCat("duplicate key ", Quote(name), " (first at line ", first->second, ")"));
    }
    const FieldDescriptor* field = descriptor->FindFieldByName(name);
    if (field == nullptr) return UnknownKey(key, path, descriptor);
    if (value.IsNull()) continue;  // `key:` with nothing leaves the field as it was
    if (const OneofDescriptor* oneof = field->real_containing_oneof()) {
      if (auto [other, inserted] = oneofs_set.emplace(oneof, name); !inserted) {
        return Error(key, path,
                     StrCat("'", name, "' and '", other->second, "' are alternatives (",
                            oneof->name(), "); set only one"));
      }
    }
    const std::string child = ChildPath(path, name);
    if (value.Tag() == kAppendTag && !(field->is_repeated() && !field->is_map())) {
      return Error(value, child, "!append is for lists; this setting is not one");
    }
    if (field->is_map()) {
      RETURN_IF_ERROR(SetMap(value, child, field, message));
      Record(child, key.Mark(), false);
    } else if (field->is_repeated()) {
      RETURN_IF_ERROR(SetRepeated(value, child, field, message));
      Record(child, key.Mark(), value.Tag() == kAppendTag);
    } else {
      RETURN_IF_ERROR(SetValue(value, child, field, message));
      // A message's own leaves were recorded inside it.
      if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE ||
          IsWellKnownScalar(field->message_type())) {
        Record(child, key.Mark(), false);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Converter::SetRepeated(const YAML::Node& node, const std::string& path,
                                    const FieldDescriptor* field, Message* message) {
  if (!node.IsSequence()) {
    return Error(node, path, StrCat("expected a list, got ", KindOf(node)));
  }
  // A list tagged !append adds to what the layers below set; otherwise it replaces it.
  if (node.Tag() != kAppendTag) message->GetReflection()->ClearField(message, field);
  size_t index = 0;
  for (const YAML::Node& item : node) {
    const std::string item_path = StrCat(path, "[", index++, "]");
    if (item.IsNull()) {
      return ErrorAt(EmptyItemMark(item.Mark()), item_path,
                     StrCat("empty list item; expected ", Expected(field)));
    }
    RETURN_IF_ERROR(SetValue(item, item_path, field, message));
  }
  return absl::OkStatus();
}

absl::Status Converter::SetMap(const YAML::Node& node, const std::string& path,
                               const FieldDescriptor* field, Message* message) {
  if (!node.IsMap()) {
    return Error(node, path, StrCat("expected a mapping, got ", KindOf(node)));
  }
  const Reflection* reflection = message->GetReflection();
  reflection->ClearField(message, field);
  const FieldDescriptor* key_field = field->message_type()->map_key();
  const FieldDescriptor* value_field = field->message_type()->map_value();
  std::map<std::string, int> seen;
  for (const auto& pair : node) {
    const YAML::Node& key = pair.first;
    const YAML::Node& value = pair.second;
    RETURN_IF_ERROR(Count(key, path));
    if (!key.IsScalar()) {
      return Error(key, path, StrCat("a key must be a single value, got ", KindOf(key)));
    }
    if (auto [first, inserted] = seen.emplace(key.Scalar(), key.Mark().line + 1); !inserted) {
      return Error(
          key, path,
          StrCat("duplicate key ", Quote(key.Scalar()), " (first at line ", first->second, ")"));
    }
    const std::string entry_path = ChildPath(path, key.Scalar());
    if (value.IsNull()) {
      return Error(key, entry_path, StrCat("no value; expected ", Expected(value_field)));
    }
    Message* entry = reflection->AddMessage(message, field);
    RETURN_IF_ERROR(SetScalar(key, path, key_field, entry));
    RETURN_IF_ERROR(SetValue(value, entry_path, value_field, entry));
  }
  return absl::OkStatus();
}

absl::Status Converter::SetValue(const YAML::Node& node, const std::string& path,
                                 const FieldDescriptor* field, Message* message) {
  RETURN_IF_ERROR(Count(node, path));
  if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
    return SetScalar(node, path, field, message);
  }
  const Reflection* reflection = message->GetReflection();
  const bool well_known = IsWellKnownScalar(field->message_type());
  if (well_known && !node.IsScalar()) {
    return Error(node, path, StrCat("expected ", Expected(field), ", got ", KindOf(node)));
  }
  if (!well_known && !node.IsMap()) {
    return Error(node, path, StrCat("expected a mapping, got ", KindOf(node)));
  }
  Message* child = field->is_repeated() ? reflection->AddMessage(message, field)
                                        : reflection->MutableMessage(message, field);
  if (field->message_type()->full_name() == "google.protobuf.Duration") {
    return SetDuration(node, path, child);
  }
  if (field->message_type()->full_name() == "google.protobuf.Timestamp") {
    return SetTimestamp(node, path, child);
  }
  return MergeMessage(node, path, child);
}

absl::Status Converter::SetDuration(const YAML::Node& node, std::string_view path,
                                    Message* duration) {
  absl::StatusOr<absl::Duration> parsed = ParseDuration(node.Scalar());
  if (!parsed.ok()) return Error(node, path, ToStd(parsed.status().message()));
  absl::Duration remainder;
  const int64_t seconds = absl::IDivDuration(*parsed, absl::Seconds(1), &remainder);
  if (*parsed == absl::InfiniteDuration() || seconds > kMaxDurationSeconds) {
    return Error(node, path,
                 StrCat(Quote(node.Scalar()), " is too long a duration (at most ",
                        kMaxDurationSeconds, "s, about 10000 years)"));
  }
  SetSecondsAndNanos(duration, seconds, static_cast<int32_t>(absl::ToInt64Nanoseconds(remainder)));
  return absl::OkStatus();
}

absl::Status Converter::SetTimestamp(const YAML::Node& node, std::string_view path,
                                     Message* timestamp) {
  const std::string& text = node.Scalar();
  absl::Time time;
  std::string ignored;
  // absl::ParseTime also takes "infinite-future" and "infinite-past"; RFC 3339 does not.
  const bool parsed = absl::ParseTime(absl::RFC3339_full, text, &time, &ignored) ||
                      absl::ParseTime("%Y-%m-%d %H:%M:%E*S%Ez", text, &time, &ignored);
  if (!parsed || time == absl::InfiniteFuture() || time == absl::InfinitePast()) {
    return Error(
        node, path,
        StrCat(Quote(text), " is not a timestamp (write RFC 3339, e.g. 2024-05-01T08:00:00Z)"));
  }
  const int64_t seconds = absl::ToUnixSeconds(time);  // rounds toward the past
  if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds) {
    return Error(node, path, StrCat(Quote(text), " is out of range (years 0001 to 9999)"));
  }
  const absl::Duration fraction = time - absl::FromUnixSeconds(seconds);
  SetSecondsAndNanos(timestamp, seconds, static_cast<int32_t>(absl::ToInt64Nanoseconds(fraction)));
  return absl::OkStatus();
}

absl::StatusOr<const EnumValueDescriptor*> Converter::ParseEnum(const YAML::Node& node,
                                                                std::string_view path,
                                                                const EnumDescriptor* type) const {
  const std::string upper = absl::AsciiStrToUpper(node.Scalar());
  const std::string prefix = UpperSnake(type->name()) + "_";
  if (!upper.empty()) {
    if (const EnumValueDescriptor* value = type->FindValueByName(upper)) return value;
    if (const EnumValueDescriptor* value = type->FindValueByName(prefix + upper)) return value;
  }
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) {
    std::string name = absl::AsciiStrToLower(type->value(i)->name());
    if (absl::EndsWith(name, "_unspecified")) continue;
    if (absl::StartsWith(name, absl::AsciiStrToLower(prefix))) name.erase(0, prefix.size());
    names.push_back(std::move(name));
  }
  return Error(node, path,
               StrCat(Quote(node.Scalar()), " is not a ", type->name(),
                      " (valid: ", absl::StrJoin(names, ", "), ")"));
}

absl::Status Converter::SetScalar(const YAML::Node& node, std::string_view path,
                                  const FieldDescriptor* field, Message* message) {
  if (!node.IsScalar()) {
    return Error(node, path, StrCat("expected ", Expected(field), ", got ", KindOf(node)));
  }
  const Reflection* reflection = message->GetReflection();
  const bool add = field->is_repeated();
  const std::string& text = node.Scalar();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t max_positive = 0;
      uint64_t max_negative = 0;  // magnitude of the smallest value
      std::string range;
      switch (field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
          max_positive = std::numeric_limits<int32_t>::max();
          max_negative = max_positive + 1;
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          max_positive = std::numeric_limits<int64_t>::max();
          max_negative = max_positive + 1;
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          max_positive = std::numeric_limits<uint32_t>::max();
          break;
        default:
          max_positive = std::numeric_limits<uint64_t>::max();
          break;
      }
      const std::string bounds = max_negative == 0
                                     ? StrCat("0 to ", max_positive)
                                     : StrCat("-", max_negative, " to ", max_positive);
      IntegerError error = IntegerError::kNotANumber;
      const std::optional<ParsedInteger> parsed = ParseInteger(text, &error);
      if (!parsed.has_value() && error == IntegerError::kNotANumber) {
        return Error(node, path, StrCat(Quote(text), " is not a whole number"));
      }
      if (!parsed.has_value() ||
          parsed->magnitude > (parsed->negative ? max_negative : max_positive)) {
        return Error(node, path, StrCat(Quote(text), " is out of range (", bounds, ")"));
      }
      // Two's complement: the negation of the magnitude, computed without signed overflow.
      const uint64_t bits = parsed->negative ? ~parsed->magnitude + 1 : parsed->magnitude;
      switch (field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
          add ? reflection->AddInt32(message, field, static_cast<int32_t>(bits))
              : reflection->SetInt32(message, field, static_cast<int32_t>(bits));
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          add ? reflection->AddInt64(message, field, static_cast<int64_t>(bits))
              : reflection->SetInt64(message, field, static_cast<int64_t>(bits));
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          add ? reflection->AddUInt32(message, field, static_cast<uint32_t>(bits))
              : reflection->SetUInt32(message, field, static_cast<uint32_t>(bits));
          break;
        default:
          add ? reflection->AddUInt64(message, field, bits)
              : reflection->SetUInt64(message, field, bits);
          break;
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      // from_chars takes a '-' but not a '+'.
      std::string_view digits = text;
      if (digits.starts_with('+')) digits.remove_prefix(1);
      double value = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
      if (digits.empty() || (text.starts_with('+') && digits.starts_with('-')) ||
          end != digits.data() + digits.size() || ec == std::errc::invalid_argument) {
        return Error(node, path, StrCat(Quote(text), " is not a number"));
      }
      if (!std::isfinite(value)) {
        return Error(node, path, StrCat(Quote(text), " is not a finite number"));
      }
      const double limit = field->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT
                               ? std::numeric_limits<float>::max()
                               : std::numeric_limits<double>::max();
      if (ec == std::errc::result_out_of_range || std::fabs(value) > limit) {
        return Error(node, path, StrCat(Quote(text), " is out of range"));
      }
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT) {
        add ? reflection->AddFloat(message, field, static_cast<float>(value))
            : reflection->SetFloat(message, field, static_cast<float>(value));
      } else {
        add ? reflection->AddDouble(message, field, value)
            : reflection->SetDouble(message, field, value);
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      const std::string lower = absl::AsciiStrToLower(text);
      bool value = false;
      if (lower == "true" || lower == "yes") {
        value = true;
      } else if (lower != "false" && lower != "no") {
        return Error(node, path, StrCat(Quote(text), " is not a bool (write true or false)"));
      }
      add ? reflection->AddBool(message, field, value) : reflection->SetBool(message, field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      ASSIGN_OR_RETURN(const EnumValueDescriptor* value, ParseEnum(node, path, field->enum_type()));
      add ? reflection->AddEnum(message, field, value) : reflection->SetEnum(message, field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_STRING:
      if (field->type() == FieldDescriptor::TYPE_STRING && !IsValidUtf8(text)) {
        return Error(node, path, StrCat(Quote(text), " is not valid UTF-8 text"));
      }
      add ? reflection->AddString(message, field, text)
          : reflection->SetString(message, field, text);
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return Error(node, path, StrCat("expected a mapping, got ", KindOf(node)));
}

// Notes where each document starts and whether it holds anything but a null.
class DocumentScanner : public YAML::EventHandler {
 public:
  const YAML::Mark& start() const { return start_; }
  bool empty() const { return empty_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    start_ = mark;
    empty_ = true;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { empty_ = false; }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {
    empty_ = false;
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    empty_ = false;
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    empty_ = false;
  }
  void OnMapEnd() override {}

 private:
  YAML::Mark start_;
  bool empty_ = true;
};

// Checks the syntax of every document in `text` and that at most one holds anything.
// YAML::LoadAll is not used: on a stray ',' outside any flow collection, yaml-cpp 0.7 returns
// empty documents at the same place for ever, and LoadAll collects them until memory runs out.
absl::Status CheckDocuments(const std::string& text, const Converter& converter) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentScanner scanner;
  int documents = 0;
  int previous_start = -1;
  while (parser.HandleNextDocument(scanner)) {
    const YAML::Mark& start = scanner.start();
    if (start.pos == previous_start) {
      const std::string what =
          start.pos >= 0 && static_cast<size_t>(start.pos) < text.size()
              ? StrCat("invalid YAML: unexpected ", Quote(text.substr(start.pos, 1)))
              : std::string("invalid YAML: unexpected text");
      return converter.ErrorAt(start, "", what);
    }
    previous_start = start.pos;
    if (!scanner.empty() && ++documents > 1) {
      return converter.ErrorAt(start, "",
                               "a second YAML document starts here; a config file holds one "
                               "(check the indentation above)");
    }
  }
  return absl::OkStatus();
}

absl::Status MergeDocuments(std::string_view yaml_text, std::string_view file_name,
                            Message* message, Origins* origins) {
  const std::string text(yaml_text);
  Origins new_origins = origins == nullptr ? Origins() : *origins;
  Converter converter(file_name, text, origins == nullptr ? nullptr : &new_origins);
  YAML::Node root;
  try {
    RETURN_IF_ERROR(CheckDocuments(text, converter));
    root = YAML::Load(text);  // the first document
  } catch (const YAML::DeepRecursion& e) {
    return converter.ErrorAt(e.mark, "", "invalid YAML: nested too deeply");
  } catch (const YAML::Exception& e) {
    std::string what = StrCat("invalid YAML: ", e.msg);
    if (absl::StrContains(e.msg, "tab")) StrAppend(&what, " (indent with spaces, not tabs)");
    return converter.ErrorAt(e.mark, "", what);
  }
  if (root.IsNull()) return absl::OkStatus();
  if (!root.IsMap()) {
    return converter.Error(root, "",
                           StrCat("expected a mapping of ", message->GetDescriptor()->name(),
                                  " settings, got ", KindOf(root)));
  }
  // Work on a copy so that a failure leaves the caller's message as it was.
  std::unique_ptr<Message> merged(message->New());
  merged->CopyFrom(*message);
  RETURN_IF_ERROR(converter.MergeMessage(root, "", merged.get()));
  message->GetReflection()->Swap(message, merged.get());
  if (origins != nullptr) *origins = std::move(new_origins);
  return absl::OkStatus();
}

// Closes a file descriptor when it goes out of scope.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { ::close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

}  // namespace

absl::Status MergeYaml(std::string_view yaml_text, std::string_view file_name, Message* message) {
  return MergeYaml(yaml_text, file_name, message, nullptr);
}

absl::Status MergeYaml(std::string_view yaml_text, std::string_view file_name, Message* message,
                       Origins* origins) {
  try {
    return MergeDocuments(yaml_text, file_name, message, origins);
  } catch (const YAML::Exception& e) {
    // Node accessors throw only on misuse; report rather than let it escape.
    return absl::InvalidArgumentError(StrCat(file_name, ": ", e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(StrCat(file_name, ": ", e.what()));
  }
}

absl::Status MergeSetting(std::string_view key_path, std::string_view value,
                          std::string_view source, Message* message, Origins* origins) {
  try {
    const std::vector<std::string> keys =
        absl::StrSplit(absl::string_view(key_path.data(), key_path.size()), '.');
    // The field the path ends at, to know how to read `value`; null when the path is not a
    // field, and the converter names what is wrong with it.
    const FieldDescriptor* leaf = nullptr;
    const Descriptor* descriptor = message->GetDescriptor();
    for (const std::string& key : keys) {
      leaf = descriptor == nullptr ? nullptr : descriptor->FindFieldByName(key);
      descriptor = leaf != nullptr && leaf->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
                           !leaf->is_repeated()
                       ? leaf->message_type()
                       : nullptr;
    }
    YAML::Node node;
    if (leaf != nullptr && leaf->is_map()) {
      node = YAML::Node(YAML::NodeType::Map);
      for (absl::string_view item : absl::StrSplit(absl::string_view(value.data(), value.size()),
                                                   ',', absl::SkipWhitespace())) {
        const size_t eq = item.find('=');
        if (eq == absl::string_view::npos) {
          return absl::InvalidArgumentError(
              StrCat(source, ": ", key_path, ": ", Quote(std::string(item)), " is not KEY=VALUE"));
        }
        node[std::string(absl::StripAsciiWhitespace(item.substr(0, eq)))] =
            std::string(absl::StripAsciiWhitespace(item.substr(eq + 1)));
      }
    } else if (leaf != nullptr && leaf->is_repeated()) {
      node = YAML::Node(YAML::NodeType::Sequence);
      std::string_view items = value;
      if (items.starts_with('+')) {
        items.remove_prefix(1);
        node.SetTag(std::string(kAppendTag));
      }
      for (absl::string_view item : absl::StrSplit(absl::string_view(items.data(), items.size()),
                                                   ',', absl::SkipWhitespace())) {
        node.push_back(std::string(absl::StripAsciiWhitespace(item)));
      }
    } else {
      node = YAML::Node(std::string(value));
    }
    for (auto key = keys.rbegin(); key != keys.rend(); ++key) {
      YAML::Node parent(YAML::NodeType::Map);
      parent[*key] = node;
      node = parent;
    }
    Origins new_origins = origins == nullptr ? Origins() : *origins;
    Converter converter(source, "", origins == nullptr ? nullptr : &new_origins);
    std::unique_ptr<Message> merged(message->New());
    merged->CopyFrom(*message);
    RETURN_IF_ERROR(converter.MergeMessage(node, "", merged.get()));
    message->GetReflection()->Swap(message, merged.get());
    if (origins != nullptr) *origins = std::move(new_origins);
    return absl::OkStatus();
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(StrCat(source, ": ", e.what()));
  }
}

absl::Status MergeYamlFile(std::string_view path, Message* message, Origins* origins) {
  const std::string file(path);
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, file);
  FdCloser closer(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoToStatus(errno, file);
  if (S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(StrCat(file, ": is a directory, not a config file"));
  }
  std::string text;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, file);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxFileBytes) {
      return absl::InvalidArgumentError(
          StrCat(file, ": larger than ", kMaxFileBytes >> 20, " MiB; not a config file?"));
    }
  }
  return MergeYaml(text, file, message, origins);
}

}  // namespace medic::common
