#pragma once

#include <string>

#include "absl/strings/ascii.h"
#include "google/protobuf/generated_enum_reflection.h"

namespace medic::common {

// The word people read and type for a proto enum value: its name without the enum's prefix
// (the name of value 0 up to "UNSPECIFIED"), in lower case: SCOPE_RESOURCE → "resource",
// TICKET_STATE_ACKNOWLEDGED → "acknowledged", SCOPE_UNSPECIFIED → "unspecified". A number the
// enum does not define gives "".
template <typename Enum>
std::string EnumWord(Enum value) {
  const google::protobuf::EnumDescriptor* descriptor = google::protobuf::GetEnumDescriptor<Enum>();
  const google::protobuf::EnumValueDescriptor* named =
      descriptor->FindValueByNumber(static_cast<int>(value));
  if (named == nullptr) return "";
  const std::string& zero = descriptor->value(0)->name();
  const size_t prefix = zero.ends_with("UNSPECIFIED") ? zero.size() - 11 : 0;
  std::string word = named->name().substr(std::min(prefix, named->name().size()));
  absl::AsciiStrToLower(&word);
  return word;
}

}  // namespace medic::common
