#include "collector/ingest/validate.h"

#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/reflection.h"
#include "google/protobuf/stubs/common.h"

namespace medic::collector {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::string Join(const std::string& path, const FieldDescriptor& field, int index = -1) {
  std::string out = path.empty() ? field.name() : path + "." + field.name();
  if (index >= 0) absl::StrAppendFormat(&out, "[%d]", index);
  return out;
}

absl::Status CheckEnum(const FieldDescriptor& field, int value, const std::string& where) {
  if (field.enum_type()->FindValueByNumber(value) != nullptr) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s: %d is not a known %s (a newer agent than this collector, or a forged message)", where,
      value, field.enum_type()->name()));
}

absl::Status CheckString(const std::string& value, const std::string& where) {
  // protobuf already refuses a proto3 string that is not UTF-8 while parsing; this check keeps
  // the promise for messages built any other way (and for fields declared as proto2).
  if (google::protobuf::internal::IsStructurallyValidUTF8(value.data(),
                                                          static_cast<int>(value.size()))) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrFormat("%s: is not valid UTF-8", where));
}

absl::Status Check(const Message& message, const std::string& path, int depth) {
  if (depth > kMaxMessageDepth) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: nested more than %d messages deep", path, kMaxMessageDepth));
  }
  const Reflection& reflection = *message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection.ListFields(message, &fields);  // only the fields that are set
  for (const FieldDescriptor* field : fields) {
    const bool is_string =
        field->type() == FieldDescriptor::TYPE_STRING;  // bytes may hold anything
    if (field->is_repeated()) {
      const int size = reflection.FieldSize(message, field);
      if (size > kMaxRepeatedElements) {
        return absl::InvalidArgumentError(
            absl::StrFormat("%s: %d elements, more than the %d allowed", Join(path, *field), size,
                            kMaxRepeatedElements));
      }
      for (int i = 0; i < size; ++i) {
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          const auto status = Check(reflection.GetRepeatedMessage(message, field, i),
                                    Join(path, *field, i), depth + 1);
          if (!status.ok()) return status;
        } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
          const auto status = CheckEnum(*field, reflection.GetRepeatedEnumValue(message, field, i),
                                        Join(path, *field, i));
          if (!status.ok()) return status;
        } else if (is_string) {
          std::string scratch;
          const std::string& value =
              reflection.GetRepeatedStringReference(message, field, i, &scratch);
          const auto status = CheckString(value, Join(path, *field, i));
          if (!status.ok()) return status;
        }
      }
      continue;
    }
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      const auto status =
          Check(reflection.GetMessage(message, field), Join(path, *field), depth + 1);
      if (!status.ok()) return status;
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
      const auto status =
          CheckEnum(*field, reflection.GetEnumValue(message, field), Join(path, *field));
      if (!status.ok()) return status;
    } else if (is_string) {
      std::string scratch;
      const auto status =
          CheckString(reflection.GetStringReference(message, field, &scratch), Join(path, *field));
      if (!status.ok()) return status;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateAgentMessage(const medic::v1::AgentMessage& message) {
  return Check(message, "", 0);
}

}  // namespace medic::collector
