#include "common/config/layers.h"

#include <algorithm>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "medic/v1/options.pb.h"

namespace medic::common {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// The fields along `path` from `descriptor`; empty when a component is not a field or passes
// through something other than a singular message.
std::vector<const FieldDescriptor*> Resolve(const Descriptor* descriptor, std::string_view path) {
  std::vector<const FieldDescriptor*> fields;
  for (absl::string_view key : absl::StrSplit(absl::string_view(path.data(), path.size()), '.')) {
    if (descriptor == nullptr) return {};
    const FieldDescriptor* field = descriptor->FindFieldByName(std::string(key));
    if (field == nullptr) return {};
    fields.push_back(field);
    descriptor = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !field->is_repeated()
                     ? field->message_type()
                     : nullptr;
  }
  return fields;
}

// Copies the field at the end of `fields` from `from` into `to`, creating the messages on
// the way; a list is appended to when `append`, else replaced.
void CopyPath(const Message& from, Message* to, const std::vector<const FieldDescriptor*>& fields,
              bool append) {
  const Message* source = &from;
  Message* target = to;
  for (size_t i = 0; i + 1 < fields.size(); ++i) {
    source = &source->GetReflection()->GetMessage(*source, fields[i]);
    target = target->GetReflection()->MutableMessage(target, fields[i]);
  }
  const FieldDescriptor* leaf = fields.back();
  // Only the leaf of the source, in a message of the target's type.
  std::unique_ptr<Message> only(source->New());
  only->CopyFrom(*source);
  std::unique_ptr<Message> empty(source->New());
  only->GetReflection()->SwapFields(only.get(), empty.get(), {leaf});
  // `empty` now holds just the leaf.
  if (!(append && leaf->is_repeated())) target->GetReflection()->ClearField(target, leaf);
  target->MergeFrom(*empty);
  if (!leaf->is_repeated() && leaf->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
    // MergeFrom skips proto3 zero values; a policy that sets 0 or false means it.
    std::vector<const FieldDescriptor*> just_leaf = {leaf};
    target->GetReflection()->SwapFields(target, empty.get(), just_leaf);
  }
}

// Exact text for a Duration that ParseDuration reads back: "1h30m", "500ms", "0".
std::string DurationText(absl::Duration d) {
  if (d == absl::ZeroDuration()) return "0";
  std::string out = d < absl::ZeroDuration() ? "-" : "";
  if (d < absl::ZeroDuration()) d = -d;
  int64_t ms = absl::ToInt64Milliseconds(d);
  if (ms % 1000 != 0) return StrCat(out, ms, "ms");
  int64_t s = ms / 1000;
  const int64_t h = s / 3600, m = (s % 3600) / 60;
  s %= 60;
  if (h > 0) StrAppend(&out, h, "h");
  if (m > 0) StrAppend(&out, m, "m");
  if (s > 0) StrAppend(&out, s, "s");
  return out;
}

std::string Quoted(const std::string& text) { return StrCat("\"", absl::CEscape(text), "\""); }

// One value of `field` (an element when repeated) as YAML.
std::string ValueText(const Message& message, const FieldDescriptor* field, int index) {
  const Reflection* r = message.GetReflection();
  const bool rep = field->is_repeated();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return StrCat(rep ? r->GetRepeatedInt32(message, field, index) : r->GetInt32(message, field));
    case FieldDescriptor::CPPTYPE_INT64:
      return StrCat(rep ? r->GetRepeatedInt64(message, field, index) : r->GetInt64(message, field));
    case FieldDescriptor::CPPTYPE_UINT32:
      return StrCat(rep ? r->GetRepeatedUInt32(message, field, index)
                        : r->GetUInt32(message, field));
    case FieldDescriptor::CPPTYPE_UINT64:
      return StrCat(rep ? r->GetRepeatedUInt64(message, field, index)
                        : r->GetUInt64(message, field));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return StrCat(rep ? r->GetRepeatedFloat(message, field, index) : r->GetFloat(message, field));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return StrCat(rep ? r->GetRepeatedDouble(message, field, index)
                        : r->GetDouble(message, field));
    case FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field))
                 ? "true"
                 : "false";
    case FieldDescriptor::CPPTYPE_ENUM:
      return absl::AsciiStrToLower(
          (rep ? r->GetRepeatedEnum(message, field, index) : r->GetEnum(message, field))->name());
    case FieldDescriptor::CPPTYPE_STRING:
      return Quoted(rep ? r->GetRepeatedString(message, field, index)
                        : r->GetString(message, field));
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Message& value =
          rep ? r->GetRepeatedMessage(message, field, index) : r->GetMessage(message, field);
      const Descriptor* d = value.GetDescriptor();
      const Reflection* vr = value.GetReflection();
      const int64_t seconds = vr->GetInt64(value, d->FindFieldByName("seconds"));
      const int32_t nanos = vr->GetInt32(value, d->FindFieldByName("nanos"));
      if (d->full_name() == "google.protobuf.Duration") {
        return DurationText(absl::Seconds(seconds) + absl::Nanoseconds(nanos));
      }
      return absl::FormatTime(absl::RFC3339_full,
                              absl::FromUnixSeconds(seconds) + absl::Nanoseconds(nanos),
                              absl::UTCTimeZone());
    }
  }
  return "";
}

bool IsLeafMessage(const FieldDescriptor* field) {
  return field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
         (field->message_type()->full_name() == "google.protobuf.Duration" ||
          field->message_type()->full_name() == "google.protobuf.Timestamp");
}

bool AnyOriginUnder(const Origins& origins, const std::string& path) {
  const std::string prefix = path + ".";
  auto it = origins.lower_bound(prefix);
  return it != origins.end() && it->first.starts_with(prefix);
}

void Render(const Message& message, const std::string& prefix, int indent, const Origins& origins,
            std::string_view unset, std::string* out) {
  const Descriptor* descriptor = message.GetDescriptor();
  const Reflection* r = message.GetReflection();
  const std::string pad(indent, ' ');
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    const std::string path = prefix.empty() ? field->name() : StrCat(prefix, ".", field->name());
    const auto origin = origins.find(path);
    const std::string comment =
        StrCat("  # ", origin == origins.end() ? std::string(unset) : origin->second.where, "\n");
    const bool nested = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
                        !IsLeafMessage(field) && !field->is_map();
    if (field->is_map()) {
      if (r->FieldSize(message, field) == 0 && origin == origins.end()) continue;
      StrAppend(out, pad, field->name(), ":", comment);
      for (int k = 0; k < r->FieldSize(message, field); ++k) {
        const Message& entry = r->GetRepeatedMessage(message, field, k);
        const Descriptor* ed = entry.GetDescriptor();
        StrAppend(out, pad, "  ", ValueText(entry, ed->map_key(), -1), ": ",
                  ValueText(entry, ed->map_value(), -1), "\n");
      }
    } else if (field->is_repeated()) {
      const int size = r->FieldSize(message, field);
      if (size == 0 && origin == origins.end()) continue;
      if (!nested) {
        std::vector<std::string> items;
        for (int k = 0; k < size; ++k) items.push_back(ValueText(message, field, k));
        StrAppend(out, pad, field->name(), ": [", absl::StrJoin(items, ", "), "]", comment);
      } else {
        StrAppend(out, pad, field->name(), ":", comment);
        for (int k = 0; k < size; ++k) {
          StrAppend(out, pad, "  -\n");
          Render(r->GetRepeatedMessage(message, field, k), StrCat(path, "[", k, "]"), indent + 4,
                 origins, unset, out);
        }
      }
    } else if (nested) {
      if (!r->HasField(message, field) && !AnyOriginUnder(origins, path)) continue;
      std::string inner;
      Render(r->GetMessage(message, field), path, indent + 2, origins, unset, &inner);
      if (inner.empty()) continue;
      StrAppend(out, pad, field->name(), ":\n", inner);
    } else {
      if (!r->HasField(message, field) && origin == origins.end()) continue;
      StrAppend(out, pad, field->name(), ": ", ValueText(message, field, -1), comment);
    }
  }
}

}  // namespace

bool IsLocalOnly(std::string_view path) {
  for (const FieldDescriptor* field : Resolve(medic::v1::AgentConfig::descriptor(), path)) {
    if (field->options().GetExtension(medic::v1::local_only)) return true;
  }
  return false;
}

medic::v1::AgentConfig ShareableLocalConfig(const medic::v1::AgentConfig& config) {
  medic::v1::AgentConfig shared = config;
  const Descriptor* descriptor = shared.GetDescriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    if (field->options().GetExtension(medic::v1::local_only) && field->name() != "policy_guard") {
      shared.GetReflection()->ClearField(&shared, field);
    }
  }
  return shared;
}

absl::StatusOr<medic::v1::Policy> MergePolicyLayers(const std::vector<PolicyLayer>& layers,
                                                    std::string_view version) {
  medic::v1::Policy policy;
  policy.set_version(std::string(version));
  Origins origins;
  for (const PolicyLayer& layer : layers) {
    Origins own;
    medic::v1::AgentConfig scratch;
    RETURN_IF_ERROR(MergeYaml(layer.yaml, layer.source, &scratch, &own));
    for (const auto& [path, origin] : own) {
      if (IsLocalOnly(path)) {
        return absl::InvalidArgumentError(
            StrCat(origin.where, ": ", path,
                   ": is set only by each machine's own config, never by policy"));
      }
    }
    RETURN_IF_ERROR(MergeYaml(layer.yaml, layer.source, policy.mutable_config(), &origins));
  }
  for (const auto& [path, origin] : origins) {
    policy.add_paths(path);
    if (origin.appended) policy.add_append_paths(path);
    (*policy.mutable_origins())[path] = origin.where;
  }
  return policy;
}

PolicyOutcome ApplyPolicy(const medic::v1::AgentConfig& local, const Origins& local_origins,
                          const medic::v1::Policy& policy) {
  PolicyOutcome outcome{local, local_origins, {}};
  if (policy.paths().empty()) return outcome;
  const medic::v1::PolicyGuard& guard = local.policy_guard();
  if (guard.refuse_all()) {
    outcome.refused.push_back(StrCat("policy ", policy.version(),
                                     ": refused whole (policy_guard.refuse_all is set here)"));
    return outcome;
  }
  for (const std::string& path : policy.paths()) {
    const std::vector<const FieldDescriptor*> fields =
        Resolve(medic::v1::AgentConfig::descriptor(), path);
    if (fields.empty()) {
      outcome.refused.push_back(StrCat(path, ": not a setting this agent knows"));
      continue;
    }
    if (IsLocalOnly(path)) {
      outcome.refused.push_back(
          StrCat(path, ": set only by this machine's own config, never by policy"));
      continue;
    }
    auto forbidden = std::find_if(
        guard.forbid().begin(), guard.forbid().end(),
        [&](const std::string& f) { return path == f || path.starts_with(StrCat(f, ".")); });
    if (forbidden != guard.forbid().end()) {
      outcome.refused.push_back(
          StrCat(path, ": forbidden here by policy_guard.forbid (", *forbidden, ")"));
      continue;
    }
    // probes.NAME.disabled: false on a probe this machine has off turns it on.
    const std::vector<std::string> parts = absl::StrSplit(path, '.');
    if (parts.size() == 3 && parts[0] == "probes" && parts[2] == "disabled" &&
        std::find(guard.forbid_enable().begin(), guard.forbid_enable().end(), parts[1]) !=
            guard.forbid_enable().end()) {
      const Message& schedule_local =
          local.probes().GetReflection()->GetMessage(local.probes(), fields[1]);
      const Message& schedule_policy =
          policy.config().probes().GetReflection()->GetMessage(policy.config().probes(), fields[1]);
      const bool locally_off = schedule_local.GetReflection()->GetBool(schedule_local, fields[2]);
      const bool policy_on = !schedule_policy.GetReflection()->GetBool(schedule_policy, fields[2]);
      if (locally_off && policy_on) {
        outcome.refused.push_back(
            StrCat(path, ": probe ", parts[1], " stays off here (policy_guard.forbid_enable)"));
        continue;
      }
    }
    const bool append = std::find(policy.append_paths().begin(), policy.append_paths().end(),
                                  path) != policy.append_paths().end();
    CopyPath(policy.config(), &outcome.config, fields, append);
    const auto named = policy.origins().find(path);
    const std::string where =
        named != policy.origins().end() ? named->second : StrCat("policy ", policy.version());
    Origin& origin = outcome.origins[path];
    if (append && !origin.where.empty()) {
      StrAppend(&origin.where, " + ", where);
    } else {
      origin = Origin{where, append};
    }
  }
  return outcome;
}

std::string RenderConfig(const google::protobuf::Message& config, const Origins& origins,
                         std::string_view unset) {
  std::string out;
  Render(config, "", 0, origins, unset, &out);
  return out;
}

}  // namespace medic::common
