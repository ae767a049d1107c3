#include "common/config/yaml_proto.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "medic/v1/config.pb.h"

namespace medic::common {
namespace {

using ::google::protobuf::Message;
using ::google::protobuf::TextFormat;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A schema with every kind of field the config loader handles, beyond what AgentConfig and
// CollectorConfig use today: all integer widths, float, bytes, Timestamp, maps with string,
// integer and message values, repeated messages and enums, a oneof, and recursion.
constexpr char kEverythingProto[] = R"pb(
  name: "medic_test/everything.proto"
  package: "medic.test"
  syntax: "proto3"
  dependency: "google/protobuf/duration.proto"
  dependency: "google/protobuf/timestamp.proto"
  enum_type {
    name: "DiskKind"
    value { name: "DISK_KIND_UNSPECIFIED" number: 0 }
    value { name: "DISK_KIND_SSD" number: 1 }
    value { name: "DISK_KIND_HARD_DISK" number: 2 }
  }
  message_type {
    name: "Everything"
    field { name: "i32" number: 1 type: TYPE_INT32 }
    field { name: "i64" number: 2 type: TYPE_INT64 }
    field { name: "u32" number: 3 type: TYPE_UINT32 }
    field { name: "u64" number: 4 type: TYPE_UINT64 }
    field { name: "s32" number: 5 type: TYPE_SINT32 }
    field { name: "f64" number: 6 type: TYPE_FIXED64 }
    field { name: "ratio" number: 7 type: TYPE_FLOAT }
    field { name: "share" number: 8 type: TYPE_DOUBLE }
    field { name: "flag" number: 9 type: TYPE_BOOL }
    field { name: "text" number: 10 type: TYPE_STRING }
    field { name: "blob" number: 11 type: TYPE_BYTES }
    field { name: "kind" number: 12 type: TYPE_ENUM type_name: ".medic.test.DiskKind" }
    field { name: "at" number: 13 type: TYPE_MESSAGE type_name: ".google.protobuf.Timestamp" }
    field { name: "every" number: 14 type: TYPE_MESSAGE type_name: ".google.protobuf.Duration" }
    field { name: "child" number: 15 type: TYPE_MESSAGE type_name: ".medic.test.Everything" }
    field {
      name: "children"
      number: 16
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".medic.test.Everything"
    }
    field { name: "numbers" number: 17 label: LABEL_REPEATED type: TYPE_INT32 }
    field {
      name: "kinds"
      number: 18
      label: LABEL_REPEATED
      type: TYPE_ENUM
      type_name: ".medic.test.DiskKind"
    }
    field {
      name: "times"
      number: 19
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Timestamp"
    }
    field {
      name: "tags"
      number: 20
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".medic.test.Everything.TagsEntry"
    }
    field {
      name: "limits"
      number: 21
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".medic.test.Everything.LimitsEntry"
    }
    field {
      name: "by_id"
      number: 22
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".medic.test.Everything.ByIdEntry"
    }
    field {
      name: "named"
      number: 23
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".medic.test.Everything.NamedEntry"
    }
    field { name: "host" number: 24 type: TYPE_STRING oneof_index: 0 }
    field { name: "address" number: 25 type: TYPE_STRING oneof_index: 0 }
    oneof_decl { name: "target" }
    nested_type {
      name: "TagsEntry"
      field { name: "key" number: 1 type: TYPE_STRING }
      field { name: "value" number: 2 type: TYPE_STRING }
      options { map_entry: true }
    }
    nested_type {
      name: "LimitsEntry"
      field { name: "key" number: 1 type: TYPE_STRING }
      field { name: "value" number: 2 type: TYPE_UINT32 }
      options { map_entry: true }
    }
    nested_type {
      name: "ByIdEntry"
      field { name: "key" number: 1 type: TYPE_INT32 }
      field { name: "value" number: 2 type: TYPE_STRING }
      options { map_entry: true }
    }
    nested_type {
      name: "NamedEntry"
      field { name: "key" number: 1 type: TYPE_STRING }
      field { name: "value" number: 2 type: TYPE_MESSAGE type_name: ".medic.test.Everything" }
      options { map_entry: true }
    }
  }
)pb";

// The Everything message, built at run time; exercised only through reflection, as the loader
// sees every message.
const Message& EverythingPrototype() {
  static const Message* const prototype = [] {
    auto* pool =
        new google::protobuf::DescriptorPool(google::protobuf::DescriptorPool::generated_pool());
    google::protobuf::FileDescriptorProto file;
    if (!TextFormat::ParseFromString(kEverythingProto, &file)) std::abort();
    if (pool->BuildFile(file) == nullptr) std::abort();
    auto* factory = new google::protobuf::DynamicMessageFactory(pool);
    return factory->GetPrototype(pool->FindMessageTypeByName("medic.test.Everything"));
  }();
  return *prototype;
}

enum class Schema { kAgent, kCollector, kEverything };

std::unique_ptr<Message> NewMessage(Schema schema) {
  switch (schema) {
    case Schema::kAgent:
      return std::make_unique<medic::v1::AgentConfig>();
    case Schema::kCollector:
      return std::make_unique<medic::v1::CollectorConfig>();
    case Schema::kEverything:
      break;
  }
  return std::unique_ptr<Message>(EverythingPrototype().New());
}

std::unique_ptr<Message> FromTextProto(Schema schema, std::string_view textproto) {
  std::unique_ptr<Message> message = NewMessage(schema);
  EXPECT_TRUE(TextFormat::ParseFromString(std::string(textproto), message.get())) << textproto;
  return message;
}

::testing::AssertionResult ProtoEquals(const Message& expected, const Message& actual) {
  google::protobuf::util::MessageDifferencer differencer;
  std::string differences;
  differencer.ReportDifferencesToString(&differences);
  if (differencer.Compare(expected, actual)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << differences << "actual:\n" << actual.DebugString();
}

// A directory under the test's temp dir, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "medic_yaml_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

  std::string Write(std::string_view name, std::string_view contents) const {
    const std::string file = path_ + "/" + std::string(name);
    std::ofstream(file, std::ios::binary) << contents;
    return file;
  }

 private:
  std::string path_;
};

// ---------------------------------------------------------------------------------------------
// Values that load.

struct ConvertCase {
  Schema schema;
  std::string_view yaml;
  std::string_view expected;  // textproto
};

const ConvertCase kConvertCases[] = {
    // Every AgentConfig field, written the way an admin would.
    {Schema::kAgent, R"yaml(
# Medic agent, finance floor
collector: collector.example.org:7070
state_dir: /var/lib/medic
hostname: ws-042
site: Zürich HQ
labels: [finance, floor-3]
root: /
heartbeat_interval: 15s
reconnect:
  initial_backoff: 500ms
  max_backoff: 1h30m
probes:
  cpu: {interval: 30s, deadline: 2s}
  filesystems:
    disabled: yes
filesystems:
  ignore_types:
    - tmpfs
    - squashfs
  space_low_pct: 12.5
  space_critical_pct: 5
log_level: debug
)yaml",
     R"pb(
       collector: "collector.example.org:7070"
       state_dir: "/var/lib/medic"
       hostname: "ws-042"
       site: "Zürich HQ"
       labels: [ "finance", "floor-3" ]
       root: "/"
       heartbeat_interval { seconds: 15 }
       reconnect {
         initial_backoff { nanos: 500000000 }
         max_backoff { seconds: 5400 }
       }
       probes {
         cpu {
           interval { seconds: 30 }
           deadline { seconds: 2 }
         }
         filesystems { disabled: true }
       }
       filesystems {
         ignore_types: [ "tmpfs", "squashfs" ]
         space_low_pct: 12.5
         space_critical_pct: 5
       }
       log_level: LOG_LEVEL_DEBUG
     )pb"},
    // An empty file changes nothing.
    {Schema::kAgent, "", ""},
    // Comments only.
    {Schema::kAgent, "# nothing configured yet\n", ""},
    // A document marker and nothing else.
    {Schema::kAgent, "---\n", ""},
    // An explicit null document.
    {Schema::kAgent, "~\n", ""},
    // Document start and end markers around a mapping.
    {Schema::kAgent, "---\nsite: hq\n...\n", R"pb(site: "hq")pb"},
    // A flow mapping at the top.
    {Schema::kAgent, R"({collector: "c:7070", labels: [a]})",
     R"pb(collector: "c:7070" labels: "a")pb"},
    // `key:` with nothing, and `~`, leave the field unset.
    {Schema::kAgent, "site:\nhostname: ~\nstate_dir: null\n", ""},
    // A quoted "null" is the string.
    {Schema::kAgent, R"(site: "null")", R"pb(site: "null")pb"},
    // Numbers and YAML 1.1 booleans in a string field keep their text.
    {Schema::kAgent, "hostname: 0042\nsite: yes\n", R"pb(hostname: "0042" site: "yes")pb"},
    // A block scalar keeps its newlines.
    {Schema::kAgent, "site: |\n  line one\n  line two\n", R"pb(site: "line one\nline two\n")pb"},
    // An empty list is an empty repeated field.
    {Schema::kAgent, "labels: []\n", ""},
    // An empty mapping sets nothing inside.
    {Schema::kAgent, "reconnect: {}\n", R"pb(reconnect {})pb"},
    // Anchors and aliases repeat a value.
    {Schema::kAgent, "reconnect: {initial_backoff: &b 2s, max_backoff: *b}\n",
     R"pb(reconnect {
            initial_backoff { seconds: 2 }
            max_backoff { seconds: 2 }
          })pb"},
    // Enum: the short name, any case.
    {Schema::kAgent, "log_level: Warning\n", R"pb(log_level: LOG_LEVEL_WARNING)pb"},
    // Enum: the full name.
    {Schema::kAgent, "log_level: LOG_LEVEL_TRACE\n", R"pb(log_level: LOG_LEVEL_TRACE)pb"},
    // Enum: the full name in lower case.
    {Schema::kAgent, "log_level: log_level_error\n", R"pb(log_level: LOG_LEVEL_ERROR)pb"},
    // Enum: "unspecified" is accepted and means the default.
    {Schema::kAgent, "log_level: unspecified\n", ""},
    // Bools: true/false/yes/no in any case.
    {Schema::kAgent,
     "probes: {cpu: {disabled: True}, memory: {disabled: NO}, os: {disabled: false}}\n",
     R"pb(probes {
            cpu { disabled: true }
            memory {}
            os {}
          })pb"},
    // Durations: zero, days, fractions, several units.
    {Schema::kAgent,
     "heartbeat_interval: 0\nreconnect: {initial_backoff: 1.5h, max_backoff: 1d}\n"
     "probes: {os: {interval: 2m30s}}\n",
     R"pb(heartbeat_interval {}
          reconnect {
            initial_backoff { seconds: 5400 }
            max_backoff { seconds: 86400 }
          }
          probes { os { interval { seconds: 150 } } })pb"},
    // Doubles: integers, exponents, signs.
    {Schema::kAgent,
     "filesystems: {space_low_pct: 1e1, space_critical_pct: +7, inodes_low_pct: -0.5}\n",
     R"pb(filesystems { space_low_pct: 10 space_critical_pct: 7 inodes_low_pct: -0.5 })pb"},
    // uint32: the largest value.
    {Schema::kCollector, "max_message_bytes: 4294967295\n", R"pb(max_message_bytes: 4294967295)pb"},
    // uint32: hexadecimal.
    {Schema::kCollector, "max_message_bytes: 0x400000\n", R"pb(max_message_bytes: 4194304)pb"},
    // Every CollectorConfig field.
    {Schema::kCollector, R"yaml(
listen: 0.0.0.0:7070
db: /var/lib/medic/collector.db
offline_after: 45s
heartbeat_interval: 15s
history_retention: 7d
max_message_bytes: 8388608
log_level: info
)yaml",
     R"pb(
       listen: "0.0.0.0:7070"
       db: "/var/lib/medic/collector.db"
       offline_after { seconds: 45 }
       heartbeat_interval { seconds: 15 }
       history_retention { seconds: 604800 }
       max_message_bytes: 8388608
       log_level: LOG_LEVEL_INFO
     )pb"},
    // Integer extremes of every width.
    {Schema::kEverything,
     "i32: -2147483648\ni64: 9223372036854775807\nu32: 0\nu64: 18446744073709551615\n"
     "s32: -5\nf64: 0xFFFFFFFFFFFFFFFF\n",
     R"pb(i32: -2147483648
          i64: 9223372036854775807
          u64: 18446744073709551615
          s32: -5
          f64: 18446744073709551615)pb"},
    // The smallest int64.
    {Schema::kEverything, "i64: -9223372036854775808\n", R"pb(i64: -9223372036854775808)pb"},
    // float and double.
    {Schema::kEverything, "ratio: 0.25\nshare: -1.5e300\n", R"pb(ratio: 0.25 share: -1.5e300)pb"},
    // bytes take the text as written, even when it is not UTF-8.
    {Schema::kEverything, "blob: \xff\xfe\n", R"pb(blob: "\xff\xfe")pb"},
    // Enum values with a multi-word short name.
    {Schema::kEverything, "kind: hard_disk\nkinds: [ssd, DISK_KIND_HARD_DISK, Unspecified]\n",
     R"pb(kind: DISK_KIND_HARD_DISK
          kinds: [ DISK_KIND_SSD, DISK_KIND_HARD_DISK, DISK_KIND_UNSPECIFIED ])pb"},
    // Timestamp in UTC.
    {Schema::kEverything, "at: 2024-05-01T08:00:00Z\n", R"pb(at { seconds: 1714550400 })pb"},
    // Timestamp with an offset and a fraction.
    {Schema::kEverything, "at: 2024-05-01T10:00:00.5+02:00\n",
     R"pb(at { seconds: 1714550400 nanos: 500000000 })pb"},
    // Timestamp before 1970: seconds round down, nanos stay positive.
    {Schema::kEverything, "at: 1969-12-31T23:59:59.25Z\n",
     R"pb(at { seconds: -1 nanos: 250000000 })pb"},
    // Timestamp with a space instead of T, as YAML writes it.
    {Schema::kEverything, "at: 2024-05-01 08:00:00Z\n", R"pb(at { seconds: 1714550400 })pb"},
    // Timestamps at both ends of the range.
    {Schema::kEverything, "times: [0001-01-01T00:00:00Z, 9999-12-31T23:59:59.999999999Z]\n",
     R"pb(times { seconds: -62135596800 }
          times { seconds: 253402300799 nanos: 999999999 })pb"},
    // Duration below a second.
    {Schema::kEverything, "every: 1.5s\n", R"pb(every { seconds: 1 nanos: 500000000 })pb"},
    // Nested and repeated messages, including an empty one.
    {Schema::kEverything, "child: {child: {i32: 1}}\nchildren: [{i32: 2}, {}, {text: b}]\n",
     R"pb(child { child { i32: 1 } }
          children { i32: 2 }
          children {}
          children { text: "b" })pb"},
    // Repeated integers in block style.
    {Schema::kEverything, "numbers:\n  - 1\n  - -2\n  - 0x10\n", R"pb(numbers: [ 1, -2, 16 ])pb"},
    // map<string, string>, keys with dots and spaces.
    {Schema::kEverything, "tags:\n  team: finance\n  \"room 3.1\": north\n",
     R"pb(tags { key: "team" value: "finance" }
          tags { key: "room 3.1" value: "north" })pb"},
    // map<string, uint32>.
    {Schema::kEverything, "limits: {cpu: 5, disk: 0}\n",
     R"pb(limits { key: "cpu" value: 5 }
          limits { key: "disk" value: 0 })pb"},
    // map<int32, string>.
    {Schema::kEverything, "by_id: {1: one, -2: minus two}\n",
     R"pb(by_id { key: 1 value: "one" }
          by_id { key: -2 value: "minus two" })pb"},
    // map<string, message>.
    {Schema::kEverything, "named:\n  disk:\n    i32: 3\n    kind: ssd\n",
     R"pb(named {
            key: "disk"
            value { i32: 3 kind: DISK_KIND_SSD }
          })pb"},
    // An empty map.
    {Schema::kEverything, "tags: {}\n", ""},
    // One member of a oneof.
    {Schema::kEverything, "address: 10.0.0.5\n", R"pb(address: "10.0.0.5")pb"},
};

TEST(MergeYamlTest, ConvertsEveryFieldKind) {
  for (const ConvertCase& c : kConvertCases) {
    SCOPED_TRACE(c.yaml);
    std::unique_ptr<Message> message = NewMessage(c.schema);
    const absl::Status status = MergeYaml(c.yaml, "test.yaml", message.get());
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_TRUE(ProtoEquals(*FromTextProto(c.schema, c.expected), *message));
  }
}

TEST(MergeYamlTest, DeepNestingWithinTheParserLimitLoads) {
  constexpr int kDepth = 200;
  std::string yaml;
  for (int i = 0; i < kDepth; ++i) yaml += "{child: ";
  yaml += "{i32: 7}";
  for (int i = 0; i < kDepth; ++i) yaml += "}";
  std::unique_ptr<Message> message = NewMessage(Schema::kEverything);
  ASSERT_TRUE(MergeYaml(yaml, "deep.yaml", message.get()).ok());
  const Message* inner = message.get();
  const auto* child = inner->GetDescriptor()->FindFieldByName("child");
  for (int i = 0; i < kDepth; ++i) {
    ASSERT_TRUE(inner->GetReflection()->HasField(*inner, child)) << "depth " << i;
    inner = &inner->GetReflection()->GetMessage(*inner, child);
  }
  EXPECT_EQ(
      inner->GetReflection()->GetInt32(*inner, inner->GetDescriptor()->FindFieldByName("i32")), 7);
}

// ---------------------------------------------------------------------------------------------
// Layering: a second file over the first.

struct LayerCase {
  Schema schema;
  std::string_view base;
  std::string_view overlay;
  std::string_view expected;  // textproto
};

const LayerCase kLayerCases[] = {
    // Scalars in the overlay replace; those it does not mention stay.
    {Schema::kAgent, "collector: a:1\nsite: hq\n", "collector: b:2\n", R"pb(collector: "b:2"
                                                                            site: "hq")pb"},
    // Lists are replaced whole, not appended to.
    {Schema::kAgent, "labels: [a, b, c]\n", "labels: [d]\n", R"pb(labels: "d")pb"},
    // An empty list clears one.
    {Schema::kAgent, "labels: [a, b]\n", "labels: []\n", ""},
    // Messages merge field by field.
    {Schema::kAgent, "reconnect: {initial_backoff: 1s}\nprobes: {cpu: {interval: 10s}}\n",
     "reconnect: {max_backoff: 2m}\nprobes: {cpu: {disabled: true}, os: {interval: 1h}}\n",
     R"pb(reconnect {
            initial_backoff { seconds: 1 }
            max_backoff { seconds: 120 }
          }
          probes {
            cpu {
              interval { seconds: 10 }
              disabled: true
            }
            os { interval { seconds: 3600 } }
          })pb"},
    // A key with no value changes nothing.
    {Schema::kAgent, "site: hq\nlabels: [a]\n", "site:\nlabels:\n",
     R"pb(site: "hq" labels: "a")pb"},
    // An empty overlay changes nothing.
    {Schema::kAgent, "site: hq\n", "# drop-in left empty\n", R"pb(site: "hq")pb"},
    // A later enum value replaces the earlier.
    {Schema::kCollector, "log_level: debug\nmax_message_bytes: 10\n", "log_level: error\n",
     R"pb(log_level: LOG_LEVEL_ERROR max_message_bytes: 10)pb"},
    // Maps are replaced whole, like lists.
    {Schema::kEverything, "tags: {a: '1', b: '2'}\n", "tags: {c: '3'}\n",
     R"pb(tags { key: "c" value: "3" })pb"},
    // Setting the other member of a oneof replaces the first.
    {Schema::kEverything, "host: printer-7\n", "address: 10.0.0.7\n", R"pb(address: "10.0.0.7")pb"},
};

TEST(MergeYamlTest, SecondFileLayersOverFirst) {
  for (const LayerCase& c : kLayerCases) {
    SCOPED_TRACE(std::string(c.base) + "---- then ----\n" + std::string(c.overlay));
    std::unique_ptr<Message> message = NewMessage(c.schema);
    ASSERT_TRUE(MergeYaml(c.base, "base.yaml", message.get()).ok());
    ASSERT_TRUE(MergeYaml(c.overlay, "overlay.yaml", message.get()).ok());
    EXPECT_TRUE(ProtoEquals(*FromTextProto(c.schema, c.expected), *message));
  }
}

TEST(MergeYamlFileTest, LayersFilesFromDisk) {
  TempDir dir;
  const std::string base = dir.Write("agent.yaml",
                                     "collector: collector.example.org:7070\n"
                                     "labels: [finance]\n"
                                     "probes:\n  cpu:\n    interval: 30s\n");
  const std::string drop_in = dir.Write("10-floor3.yaml",
                                        "labels: [floor-3, printers]\n"
                                        "probes:\n  cpu:\n    deadline: 2s\n");
  medic::v1::AgentConfig config;
  ASSERT_TRUE(MergeYamlFile(base, &config).ok());
  ASSERT_TRUE(MergeYamlFile(drop_in, &config).ok());
  EXPECT_TRUE(ProtoEquals(*FromTextProto(Schema::kAgent, R"pb(
    collector: "collector.example.org:7070"
    labels: [ "floor-3", "printers" ]
    probes {
      cpu {
        interval { seconds: 30 }
        deadline { seconds: 2 }
      }
    }
  )pb"),
                          config));
}

// ---------------------------------------------------------------------------------------------
// Errors: the exact message, with its line and key path.

struct ErrorCase {
  Schema schema;
  std::string yaml;
  std::string_view message;  // after "FILE:"
};

const ErrorCase kErrorCases[] = {
    // A misspelt top-level key, with the suggestion.
    {Schema::kAgent, "site: hq\ncolector: c:7070\n",
     "2: unknown key 'colector' in AgentConfig (did you mean 'collector'?)"},
    // A misspelt nested key names the mapping it is in.
    {Schema::kAgent, "probes:\n  cpu:\n    intervl: 5s\n",
     "3: probes.cpu: unknown key 'intervl' in ProbeSchedule (did you mean 'interval'?)"},
    // Two letters swapped count as one edit.
    {Schema::kAgent, "stie: hq\n", "1: unknown key 'stie' in AgentConfig (did you mean 'site'?)"},
    // A prefix of a field name is suggested.
    {Schema::kAgent, "heartbeat: 15s\n",
     "1: unknown key 'heartbeat' in AgentConfig (did you mean 'heartbeat_interval'?)"},
    // Dashes and capitals instead of the snake_case name.
    {Schema::kAgent, "\n\nState-Dir: /srv/medic\n",
     "3: unknown key 'State-Dir' in AgentConfig (did you mean 'state_dir'?)"},
    // Nothing close: the valid keys are listed.
    {Schema::kAgent, "probes:\n  cpu:\n    frequency: 5s\n",
     "3: probes.cpu: unknown key 'frequency' in ProbeSchedule (valid keys: interval, deadline, "
     "disabled)"},
    // A one-letter key is not "two edits from" a two-letter field.
    {Schema::kAgent, "x: 1\n",
     "1: unknown key 'x' in AgentConfig (valid keys: collector, state_dir, hostname, site, "
     "labels, root, heartbeat_interval, reconnect, probes, filesystems, log_level, hardware, "
     "os_checks, printers, network, spool, self_limits, security, enrollment_token, "
     "enrollment_token_file, "
     "diagnostics, policy_guard)"},
    // YAML merge keys are named as such.
    {Schema::kAgent, "<<: {site: hq}\n",
     "1: YAML merge keys ('<<') are not supported; write the settings out"},
    // A key given twice.
    {Schema::kAgent, "site: a\nhostname: b\nsite: c\n",
     "3: duplicate key 'site' (first at line 1)"},
    // A key given twice in a nested mapping, once quoted.
    {Schema::kAgent, "reconnect:\n  max_backoff: 1s\n  \"max_backoff\": 2s\n",
     "3: reconnect: duplicate key 'max_backoff' (first at line 2)"},
    // A message field given a scalar.
    {Schema::kAgent, "probes: yes\n", "1: probes: expected a mapping, got a scalar"},
    // A message field given a list (the list starts on line 2).
    {Schema::kAgent, "reconnect:\n  - 1s\n", "2: reconnect: expected a mapping, got a list"},
    // A list field given a scalar.
    {Schema::kAgent, "labels: finance\n", "1: labels: expected a list, got a scalar"},
    // A list field given a mapping.
    {Schema::kAgent, "filesystems:\n  ignore_types:\n    tmpfs: yes\n",
     "3: filesystems.ignore_types: expected a list, got a mapping"},
    // A list item of the wrong kind, by index.
    {Schema::kAgent, "labels:\n  - a\n  - b\n  - [c, d]\n",
     "4: labels[2]: expected a string, got a list"},
    // An empty list item.
    {Schema::kAgent, "labels: [a, ~]\n", "1: labels[1]: empty list item; expected a string"},
    // An empty block-list item, with blank lines and a comment before the next key.
    {Schema::kAgent, "labels:\n  - a\n  -\n\n# more\nsite: x\n",
     "3: labels[1]: empty list item; expected a string"},
    // An empty block-list item with a comment, at the end of the file.
    {Schema::kAgent, "labels:\n  - a\n  - # none yet\n",
     "3: labels[1]: empty list item; expected a string"},
    // An empty item in a list of messages.
    {Schema::kEverything, "children:\n  -\n  - i32: 1\n",
     "2: children[0]: empty list item; expected a mapping"},
    // A string field given a mapping.
    {Schema::kAgent, "site: {name: hq}\n", "1: site: expected a string, got a mapping"},
    // A bad duration, deep in the tree (the header's example).
    {Schema::kAgent, "# Medic agent\ncollector: c:7070\nprobes:\n  cpu:\n    interval: 5x\n",
     "5: probes.cpu.interval: '5x' is not a duration (unknown unit 'x'); write e.g. 500ms, 30s, "
     "5m, 1h"},
    // A duration without its unit.
    {Schema::kAgent, "heartbeat_interval: 30\n",
     "1: heartbeat_interval: '30' is not a duration (missing unit); write e.g. 500ms, 30s, 5m, "
     "1h"},
    // A negative duration.
    {Schema::kAgent, "heartbeat_interval: -1s\n",
     "1: heartbeat_interval: '-1s' is not a duration (expected a number); write e.g. 500ms, "
     "30s, 5m, 1h"},
    // A duration written as the proto's fields.
    {Schema::kAgent, "heartbeat_interval: {seconds: 5}\n",
     "1: heartbeat_interval: expected a duration, got a mapping"},
    // A duration beyond what google.protobuf.Duration holds.
    {Schema::kAgent, "heartbeat_interval: 20000000000000h\n",
     "1: heartbeat_interval: '20000000000000h' is too long a duration (at most 315576000000s, "
     "about 10000 years)"},
    // A bool that is not one.
    {Schema::kAgent, "probes:\n  os:\n    disabled: maybe\n",
     "3: probes.os.disabled: 'maybe' is not a bool (write true or false)"},
    // An unknown enum value lists the valid ones.
    {Schema::kAgent, "log_level: verbose\n",
     "1: log_level: 'verbose' is not a LogLevel (valid: trace, debug, info, warning, error)"},
    // Enum values are names, not numbers.
    {Schema::kAgent, "log_level: 2\n",
     "1: log_level: '2' is not a LogLevel (valid: trace, debug, info, warning, error)"},
    // A double that is a word.
    {Schema::kAgent, "filesystems:\n  space_low_pct: ten\n",
     "2: filesystems.space_low_pct: 'ten' is not a number"},
    // A double with a unit.
    {Schema::kAgent, "filesystems:\n  space_low_pct: 10%\n",
     "2: filesystems.space_low_pct: '10%' is not a number"},
    // NaN is refused.
    {Schema::kAgent, "filesystems: {space_low_pct: nan}\n",
     "1: filesystems.space_low_pct: 'nan' is not a finite number"},
    // uint32 refuses -1.
    {Schema::kCollector, "max_message_bytes: -1\n",
     "1: max_message_bytes: '-1' is out of range (0 to 4294967295)"},
    // uint32 refuses 5000000000.
    {Schema::kCollector, "max_message_bytes: 5000000000\n",
     "1: max_message_bytes: '5000000000' is out of range (0 to 4294967295)"},
    // More digits than 64 bits hold.
    {Schema::kCollector, "max_message_bytes: 99999999999999999999999\n",
     "1: max_message_bytes: '99999999999999999999999' is out of range (0 to 4294967295)"},
    // Sizes are plain numbers.
    {Schema::kCollector, "max_message_bytes: 4MiB\n",
     "1: max_message_bytes: '4MiB' is not a whole number"},
    // No fractions in an integer.
    {Schema::kCollector, "max_message_bytes: 1.5\n",
     "1: max_message_bytes: '1.5' is not a whole number"},
    // A top-level list.
    {Schema::kAgent, "- site: hq\n", "1: expected a mapping of AgentConfig settings, got a list"},
    // A top-level scalar, after comments.
    {Schema::kCollector, "# collector\n\nhello\n",
     "3: expected a mapping of CollectorConfig settings, got a scalar"},
    // A second document, at its marker.
    {Schema::kAgent, "site: a\n---\nsite: b\n",
     "2: a second YAML document starts here; a config file holds one (check the indentation "
     "above)"},
    // A mapping after a top-level list reads as a second document.
    {Schema::kAgent, "- a\nsite: b\n",
     "2: a second YAML document starts here; a config file holds one (check the indentation "
     "above)"},
    // Empty documents around the one that counts are fine; a second full one is not.
    {Schema::kAgent, "---\n---\nsite: a\n---\n---\nsite: b\n",
     "5: a second YAML document starts here; a config file holds one (check the indentation "
     "above)"},
    // A stray comma at the top (yaml-cpp would loop on it for ever).
    {Schema::kAgent, ",\n", "1: invalid YAML: unexpected ','"},
    // A stray comma after a flow mapping.
    {Schema::kAgent, "\n{site: a},\n", "2: invalid YAML: unexpected ','"},
    // A tab used for indentation.
    {Schema::kAgent, "site: a\n\thostname: b\n",
     "2: invalid YAML: illegal tab when looking for indentation (indent with spaces, not tabs)"},
    // An unclosed flow list.
    {Schema::kAgent, "labels: [a, b\nsite: x\n", "2: invalid YAML: end of sequence flow not found"},
    // Indentation that makes no sense.
    {Schema::kAgent, "site: a\n hostname: b\n", "2: invalid YAML: illegal map value"},
    // An alias to nothing.
    {Schema::kAgent, "site: a\nhostname: *nope\n",
     "2: invalid YAML: the referenced anchor is not defined"},
    // Nesting deeper than the parser allows.
    {Schema::kAgent, "labels: " + std::string(1000, '['), "1: invalid YAML: nested too deeply"},
    // A key that is a list.
    {Schema::kAgent, "site: a\n? [a, b]\n: 1\n", "2: a key must be a name, got a list"},
    // A string that is not UTF-8.
    {Schema::kAgent, "site: caf\xe9\n", "1: site: 'caf\\xe9' is not valid UTF-8 text"},
    // int32 above its range.
    {Schema::kEverything, "i32: 2147483648\n",
     "1: i32: '2147483648' is out of range (-2147483648 to 2147483647)"},
    // int64 below its range.
    {Schema::kEverything, "i64: -9223372036854775809\n",
     "1: i64: '-9223372036854775809' is out of range (-9223372036854775808 to "
     "9223372036854775807)"},
    // uint64 above its range.
    {Schema::kEverything, "u64: 18446744073709551616\n",
     "1: u64: '18446744073709551616' is out of range (0 to 18446744073709551615)"},
    // A double too large for a float.
    {Schema::kEverything, "ratio: 1e39\n", "1: ratio: '1e39' is out of range"},
    // A double too large for a double.
    {Schema::kEverything, "share: 1e999\n", "1: share: '1e999' is out of range"},
    // A timestamp with month 13.
    {Schema::kEverything, "at: 2024-13-01T00:00:00Z\n",
     "1: at: '2024-13-01T00:00:00Z' is not a timestamp (write RFC 3339, e.g. "
     "2024-05-01T08:00:00Z)"},
    // A timestamp without a time zone.
    {Schema::kEverything, "at: 2024-05-01T08:00:00\n",
     "1: at: '2024-05-01T08:00:00' is not a timestamp (write RFC 3339, e.g. "
     "2024-05-01T08:00:00Z)"},
    // absl's own spelling of "forever" is not RFC 3339.
    {Schema::kEverything, "at: infinite-future\n",
     "1: at: 'infinite-future' is not a timestamp (write RFC 3339, e.g. 2024-05-01T08:00:00Z)"},
    // Year 0 is outside google.protobuf.Timestamp.
    {Schema::kEverything, "at: 0000-12-31T00:00:00Z\n",
     "1: at: '0000-12-31T00:00:00Z' is out of range (years 0001 to 9999)"},
    // A bad item in a list of timestamps.
    {Schema::kEverything, "times:\n  - 2024-05-01T08:00:00Z\n  - soon\n",
     "3: times[1]: 'soon' is not a timestamp (write RFC 3339, e.g. 2024-05-01T08:00:00Z)"},
    // An unknown enum value with a multi-word name in the list.
    {Schema::kEverything, "kinds: [ssd, tape]\n",
     "1: kinds[1]: 'tape' is not a DiskKind (valid: ssd, hard_disk)"},
    // Both members of a oneof.
    {Schema::kEverything, "host: printer-7\naddress: 10.0.0.7\n",
     "2: 'address' and 'host' are alternatives (target); set only one"},
    // A map key given twice.
    {Schema::kEverything, "tags:\n  a: '1'\n  a: '2'\n",
     "3: tags: duplicate key 'a' (first at line 2)"},
    // A map entry with no value.
    {Schema::kEverything, "tags:\n  a:\n", "2: tags.a: no value; expected a string"},
    // A map key of the wrong type.
    {Schema::kEverything, "by_id:\n  one: x\n", "2: by_id: 'one' is not a whole number"},
    // A map value out of range.
    {Schema::kEverything, "limits:\n  cpu: -5\n",
     "2: limits.cpu: '-5' is out of range (0 to 4294967295)"},
    // A map given a list.
    {Schema::kEverything, "tags: [a]\n", "1: tags: expected a mapping, got a list"},
    // A list of messages with a scalar item.
    {Schema::kEverything, "children:\n  - i32: 1\n  - 5\n",
     "3: children[1]: expected a mapping, got a scalar"},
    // An error inside a message inside a list.
    {Schema::kEverything, "children:\n  - child:\n      i32: x\n",
     "3: children[0].child.i32: 'x' is not a whole number"},
    // An unknown key inside a map of messages.
    {Schema::kEverything, "named:\n  disk:\n    blobb: 1\n",
     "3: named.disk: unknown key 'blobb' in Everything (did you mean 'blob'?)"},
};

TEST(MergeYamlTest, ErrorsNameFileLineAndKeyPath) {
  for (const ErrorCase& c : kErrorCases) {
    SCOPED_TRACE(c.yaml);
    std::unique_ptr<Message> message = NewMessage(c.schema);
    const absl::Status status = MergeYaml(c.yaml, "/etc/medic/agent.yaml", message.get());
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_EQ(std::string(status.message()), "/etc/medic/agent.yaml:" + std::string(c.message));
  }
}

TEST(MergeYamlTest, FailureLeavesMessageAsItWas) {
  medic::v1::AgentConfig config;
  ASSERT_TRUE(MergeYaml("site: hq\nlabels: [a]\n", "base.yaml", &config).ok());
  const medic::v1::AgentConfig before = config;
  // The good keys before the bad one must not have been applied either.
  EXPECT_FALSE(MergeYaml("site: branch\nlabels: []\nprobes: {cpu: {interval: 5x}}\n",
                         "overlay.yaml", &config)
                   .ok());
  EXPECT_TRUE(ProtoEquals(before, config));
}

TEST(MergeYamlTest, AliasBombIsRefused) {
  // Ten copies of ten copies … seven levels deep: 10^7 messages if expanded.
  std::string yaml = "children:\n  - &l0 {i32: 1}\n";
  for (int level = 1; level <= 7; ++level) {
    std::vector<std::string> refs(10, absl::StrCat("*l", level - 1));
    absl::StrAppend(&yaml, "  - &l", level, " {children: [", absl::StrJoin(refs, ", "), "]}\n");
  }
  std::unique_ptr<Message> message = NewMessage(Schema::kEverything);
  const absl::Status status = MergeYaml(yaml, "bomb.yaml", message.get());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), StartsWith("bomb.yaml:"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("more than 100000 values"));
}

// ---------------------------------------------------------------------------------------------
// Garbage in: an error out, never a crash.

// A string literal with the NULs in it.
template <size_t N>
std::string Bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

void ExpectOkOrInvalidArgument(const std::string& yaml, Schema schema) {
  std::unique_ptr<Message> message = NewMessage(schema);
  const absl::Status status = MergeYaml(yaml, "fuzz.yaml", message.get());
  if (status.ok()) return;
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument)
      << status << "\ninput: " << absl::CHexEscape(yaml);
  EXPECT_THAT(std::string(status.message()), StartsWith("fuzz.yaml:")) << absl::CHexEscape(yaml);
}

TEST(MergeYamlFuzzTest, HandPickedGarbage) {
  std::string deep_block;
  for (int i = 0; i < 1000; ++i) deep_block += std::string(2 * i, ' ') + "child:\n";
  std::string many_documents;
  for (int i = 0; i < 10000; ++i) many_documents += "---\n";
  const std::string inputs[] = {
      "\t",
      "\t\t\tsite: a\n",
      "site:\t a\n",
      Bytes("\0\0\0"),
      Bytes("site: a\0b\n"),
      Bytes("\xff\xfes\0i\0t\0e\0:\0 \0a\0"),  // UTF-16 with its byte order mark
      "\xef\xbb\xbfsite: hq\n",                // a UTF-8 byte order mark
      "\x01\x02\x03\x80\x81\xfe\xff",
      std::string(100000, '['),
      std::string(100000, '{'),
      std::string(5000, '[') + std::string(5000, ']'),
      std::string(100000, '-'),
      "site: " + std::string(1 << 20, 'a'),
      "? " + std::string(1 << 20, 'k') + "\n: 1\n",  // a long unknown key
      "{" + std::string(1 << 20, 'k') + ": 1}",
      deep_block,
      many_documents,
      "%YAML 9.9\n---\nsite: a\n",
      "%TAG ! tag:evil:\n---\nsite: !x a\n",
      "&a [*a]",
      "site: &a\nhostname: *a\n",
      "? ? ? ?\n",
      ": : :\n",
      "- - - -\n",
      "!!binary site: a\n",
      "site: !!int x\n",
      "{{{}}}: x\n",
      "labels: [[[[[]]]]]\n",
      "probes: {cpu: {cpu: {cpu: 1}}}\n",
      "'unterminated\n",
      "\"\\u\"\n",
      "site: \"\\uD800\"\n",
      "|\n  block at top\n",
      "site: >-\n\n\n",
  };
  for (const std::string& input : inputs) {
    for (Schema schema : {Schema::kAgent, Schema::kEverything}) {
      ExpectOkOrInvalidArgument(input, schema);
    }
  }
}

TEST(MergeYamlFuzzTest, RandomBytes) {
  std::mt19937 random(20240501);
  const std::string_view yaml_bytes = "-:[]{}&*!|>'\"#%@`,? \t\n\r\\abcsite0123456789.";
  for (int round = 0; round < 3000; ++round) {
    std::string input(random() % 120, '\0');
    for (char& c : input) {
      c = random() % 4 == 0 ? static_cast<char>(random() % 256)
                            : yaml_bytes[random() % yaml_bytes.size()];
    }
    ExpectOkOrInvalidArgument(input, round % 2 == 0 ? Schema::kAgent : Schema::kEverything);
  }
}

TEST(MergeYamlFuzzTest, MutatedConfig) {
  const std::string_view valid = kConvertCases[0].yaml;
  std::mt19937 random(7);
  const std::string_view yaml_bytes = "-:[]{}&*!|>'\"# \t\n";
  for (int round = 0; round < 3000; ++round) {
    std::string input(valid);
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits && !input.empty(); ++e) {
      const size_t at = random() % input.size();
      const char c = random() % 2 == 0 ? static_cast<char>(random() % 256)
                                       : yaml_bytes[random() % yaml_bytes.size()];
      switch (random() % 3) {
        case 0:
          input.erase(at, 1);
          break;
        case 1:
          input.insert(at, 1, c);
          break;
        default:
          input[at] = c;
          break;
      }
    }
    ExpectOkOrInvalidArgument(input, Schema::kAgent);
  }
}

// ---------------------------------------------------------------------------------------------
// MergeYamlFile.

TEST(MergeYamlFileTest, ErrorsNameThePath) {
  TempDir dir;
  const std::string path = dir.Write("agent.yaml", "site: hq\nsiet: branch\n");
  medic::v1::AgentConfig config;
  const absl::Status status = MergeYamlFile(path, &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(status.message()),
            absl::StrCat(path, ":2: unknown key 'siet' in AgentConfig (did you mean 'site'?)"));
}

TEST(MergeYamlFileTest, EmptyFileChangesNothing) {
  TempDir dir;
  medic::v1::AgentConfig config;
  config.set_site("hq");
  ASSERT_TRUE(MergeYamlFile(dir.Write("empty.yaml", ""), &config).ok());
  EXPECT_EQ(config.site(), "hq");
}

TEST(MergeYamlFileTest, MissingFileIsNotFound) {
  TempDir dir;
  const std::string path = dir.path() + "/nope.yaml";
  medic::v1::AgentConfig config;
  const absl::Status status = MergeYamlFile(path, &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()), StartsWith(path + ": "));
}

TEST(MergeYamlFileTest, DirectoryIsRefused) {
  TempDir dir;
  medic::v1::AgentConfig config;
  const absl::Status status = MergeYamlFile(dir.path(), &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(status.message()), dir.path() + ": is a directory, not a config file");
}

TEST(MergeYamlFileTest, HugeFileIsRefused) {
  TempDir dir;
  const std::string path = dir.Write("huge.yaml", "site: " + std::string((16 << 20) + 1, 'a'));
  medic::v1::AgentConfig config;
  const absl::Status status = MergeYamlFile(path, &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(status.message()), path + ": larger than 16 MiB; not a config file?");
}

}  // namespace
}  // namespace medic::common
