// The printers probe's pure part: IPP value normalisation, table-driven, and the judgement of
// queues and devices into findings.

#include "agent/probes/printers/printer_parse.h"

#include <string>
#include <vector>

#include "common/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

TEST(PrinterParseTest, NormaliseStateReason) {
  struct Case {
    std::string raw;
    StateReason want;
  };
  const Case cases[] = {
      // The three RFC 8011 severity suffixes come off.
      {"media-jam-error", {"media-jam", "error"}},
      {"toner-low-warning", {"toner-low", "warning"}},
      {"cover-open-report", {"cover-open", "report"}},
      // No suffix: the keyword as it is, severity unknown.
      {"media-jam", {"media-jam", ""}},
      {"paused", {"paused", ""}},
      {"none", {"none", ""}},
      // A suffix alone is a keyword, not an empty keyword with a severity.
      {"-error", {"-error", ""}},
      // Only the last suffix: "x-report-error" is "x-report" at error.
      {"x-report-error", {"x-report", "error"}},
      // Vendor keywords keep their prefix.
      {"com.example-fuser-error", {"com.example-fuser", "error"}},
      // Surrounding blanks (some devices pad) are dropped.
      {" toner-empty-error ", {"toner-empty", "error"}},
  };
  for (const Case& c : cases) EXPECT_EQ(NormaliseStateReason(c.raw), c.want) << c.raw;
}

TEST(PrinterParseTest, NormaliseStateReasonsDropsNoneAndRepeats) {
  EXPECT_THAT(NormaliseStateReasons({"none"}), IsEmpty());
  EXPECT_THAT(NormaliseStateReasons({"media-jam-report", "media-jam-error", "cover-open", "none"}),
              ElementsAre("media-jam", "cover-open"));
}

TEST(PrinterParseTest, DescribeLevel) {
  struct Case {
    int level;
    std::string want;
  };
  const Case cases[] = {
      {0, "0%"},
      {42, "42%"},
      {100, "100%"},
      {-1, "unavailable"},
      {-2, "unknown"},
      {-3, "some remaining"},
      {-4, "invalid (-4)"},
      {101, "invalid (101)"},
  };
  for (const Case& c : cases) EXPECT_EQ(DescribeLevel(c.level), c.want) << c.level;
  EXPECT_FALSE(IsMeasuredLevel(-3));
  EXPECT_TRUE(IsMeasuredLevel(0));
}

TEST(PrinterParseTest, ParseSupply) {
  struct Case {
    std::string text;
    int index, level, max_capacity;
    std::string type, supply_class, unit, colorant;
  };
  const Case cases[] = {
      // ippeveprinter's toner, with its trailing ';'.
      {"index=2;class=supplyThatIsConsumed;type=toner;unit=percent;maxcapacity=100;level=75;"
       "colorantname=black;",
       2, 75, 100, "toner", "supplyThatIsConsumed", "percent", "black"},
      // The waste tank fills up instead.
      {"index=1;class=receptacleThatIsFilled;type=wasteToner;unit=percent;maxcapacity=100;"
       "level=95;colorantname=unknown;",
       1, 95, 100, "wasteToner", "receptacleThatIsFilled", "percent", "unknown"},
      // "some remaining" stays -3; unknown keys are ignored.
      {"index=3;type=ink;level=-3;maxcapacity=-2;coloranttone=cyan", 3, -3, -2, "ink", "", "", ""},
      // No level or capacity at all: unknown (-1).
      {"index=4;type=toner", 4, -1, -1, "toner", "", "", ""},
  };
  for (const Case& c : cases) {
    absl::StatusOr<medic::v1::PrinterSupply> s = ParseSupply(c.text);
    ASSERT_TRUE(s.ok()) << c.text << ": " << s.status();
    EXPECT_EQ(s->index(), c.index) << c.text;
    EXPECT_EQ(s->level(), c.level) << c.text;
    EXPECT_EQ(s->max_capacity(), c.max_capacity) << c.text;
    EXPECT_EQ(s->type(), c.type) << c.text;
    EXPECT_EQ(s->supply_class(), c.supply_class) << c.text;
    EXPECT_EQ(s->unit(), c.unit) << c.text;
    EXPECT_EQ(s->colorant(), c.colorant) << c.text;
  }
}

TEST(PrinterParseTest, ParseSupplyRejectsMalformed) {
  const char* bad[] = {
      "index=1;level=lots",  // level not a number
      "index=1;toner",       // not key=value
      "index=x;level=5",     // index not a number
  };
  for (const char* text : bad) {
    absl::StatusOr<medic::v1::PrinterSupply> s = ParseSupply(text);
    EXPECT_FALSE(s.ok()) << text;
    EXPECT_THAT(s.status().message(), HasSubstr("printer-supply")) << text;
  }
}

TEST(PrinterParseTest, ParseInputTray) {
  struct Case {
    std::string text;
    std::string name;
    int level, max_capacity;
  };
  const Case cases[] = {
      // A tray that can tell its sheets.
      {"type=sheetFeedAutoRemovableTray;mediafeed=0;mediaxfeed=0;maxcapacity=250;level=100;"
       "status=0;name=main",
       "main", 100, 250},
      // An empty main tray (ippeveprinter's media form, level1=0), trailing ';'.
      {"type=sheetFeedAutoRemovableTray;maxcapacity=250;level=0;status=0;name=main;", "main", 0,
       250},
      // A manual feed that cannot tell: -2.
      {"type=sheetFeedManual;maxcapacity=1;level=-2;status=0;name=manual", "manual", -2, 1},
      // Nothing about levels: unknown (-2) both.
      {"type=sheetFeedManual;name=bypass", "bypass", -2, -2},
  };
  for (const Case& c : cases) {
    absl::StatusOr<medic::v1::PrinterInputTray> t = ParseInputTray(c.text);
    ASSERT_TRUE(t.ok()) << c.text << ": " << t.status();
    EXPECT_EQ(t->name(), c.name) << c.text;
    EXPECT_EQ(t->level(), c.level) << c.text;
    EXPECT_EQ(t->max_capacity(), c.max_capacity) << c.text;
  }
  EXPECT_FALSE(ParseInputTray("name=main;level=full").ok());
}

TEST(PrinterParseTest, BuildMarkersPadsShortLists) {
  auto markers = BuildMarkers({"Black", "Cyan"}, {"toner"}, {7}, {}, {"#000000", "#00FFFF"});
  ASSERT_EQ(markers.size(), 2u);
  EXPECT_EQ(markers[0].type(), "toner");
  EXPECT_EQ(markers[0].level(), 7);
  EXPECT_EQ(markers[0].low_level(), -1);
  EXPECT_EQ(markers[1].type(), "");
  EXPECT_EQ(markers[1].level(), -1);  // not given: unknown, not 0 (which would be "empty")
  EXPECT_EQ(markers[1].color(), "#00FFFF");
}

TEST(PrinterParseTest, DeviceAccessOf) {
  struct Case {
    std::string uri;
    DeviceAccess want;
  };
  const Case cases[] = {
      {"ipp://10.0.0.9/ipp/print", DeviceAccess::kIpp},
      {"ipps://printer.corp:443/ipp/print", DeviceAccess::kIpp},
      {"IPP://10.0.0.9/ipp/print", DeviceAccess::kIpp},  // schemes are case-insensitive
      {"http://10.0.0.9:631/ipp", DeviceAccess::kIpp},
      {"socket://10.0.0.9:9100", DeviceAccess::kTcp},
      {"lpd://10.0.0.9/queue", DeviceAccess::kTcp},
      {"usb://HP/LaserJet?serial=1", DeviceAccess::kNone},
      {"dnssd://Office._ipp._tcp.local/", DeviceAccess::kNone},
      {"file:///dev/null", DeviceAccess::kNone},
      {"", DeviceAccess::kNone},
  };
  for (const Case& c : cases) EXPECT_EQ(DeviceAccessOf(c.uri), c.want) << c.uri;
}

TEST(PrinterParseTest, StateNames) {
  EXPECT_EQ(PrinterStateName(3), "idle");
  EXPECT_EQ(PrinterStateName(5), "stopped");
  EXPECT_EQ(PrinterStateName(9), "unknown");
  EXPECT_EQ(JobStateName(3), "pending");
  EXPECT_EQ(JobStateName(4), "held");
  EXPECT_EQ(JobStateName(6), "stopped");
  EXPECT_EQ(JobStateName(2), "unknown");
}

// ---- Judgement ----

constexpr char kUri[] = "ipp://10.0.0.9/ipp/print";

medic::v1::PrintersStatus OneQueue() {
  medic::v1::PrintersStatus status;
  status.set_print_system_present(true);
  auto* q = status.add_queues();
  q->set_name("HP-2");
  q->set_device_uri(kUri);
  q->set_state("idle");
  q->set_accepting_jobs(true);
  auto* d = status.add_devices();
  d->set_uri(kUri);
  d->add_queues("HP-2");
  d->set_queried(true);
  d->set_answered(true);
  d->set_state("idle");
  return status;
}

std::vector<std::pair<std::string, std::string>> Keys(const std::vector<medic::v1::Finding>& fs) {
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& f : fs) keys.emplace_back(f.code(), f.resource());
  return keys;
}

TEST(JudgePrintersTest, DeviceReasonsToFindings) {
  struct Case {
    std::vector<std::string> reasons;
    std::vector<std::string> codes;
  };
  const Case cases[] = {
      {{}, {}},
      {{"none"}, {}},
      {{"media-jam-error"}, {"printer.jam"}},
      {{"media-jam-report", "cover-open-report"}, {"printer.door_open", "printer.jam"}},
      {{"door-open-warning"}, {"printer.door_open"}},
      {{"media-empty-error"}, {"printer.paper_empty"}},
      {{"toner-low-report"}, {"printer.toner_low"}},
      // Empty wins over low on the same device.
      {{"toner-low-report", "toner-empty-warning"}, {"printer.toner_empty"}},
      {{"marker-supply-empty-error"}, {"printer.toner_empty"}},
      // An unknown condition at error severity is a device error; at report it is not.
      {{"fuser-over-temp-error"}, {"printer.error"}},
      {{"fuser-over-temp-report"}, {}},
      // Queue states and conditions judged elsewhere are no device error.
      {{"paused-error", "offline-error", "cups-insecure-filter-error"}, {}},
  };
  for (const Case& c : cases) {
    auto status = OneQueue();
    for (const auto& r : c.reasons) status.mutable_devices(0)->add_raw_state_reasons(r);
    std::vector<std::string> codes;
    for (const auto& f : JudgePrinters(status, kDefaultJobStuckAfter)) {
      EXPECT_EQ(f.resource(), kUri);
      EXPECT_EQ(f.evidence().at("queue"), "HP-2");
      codes.push_back(f.code());
    }
    std::sort(codes.begin(), codes.end());
    EXPECT_EQ(codes, c.codes) << ::testing::PrintToString(c.reasons);
  }
}

// The evidence shows a supply measured in its own unit as a share of its capacity.
TEST(JudgePrintersTest, SupplyLevelsInTheirOwnUnit) {
  auto status = OneQueue();
  status.mutable_devices(0)->add_raw_state_reasons("toner-low-report");
  auto* sheets = status.mutable_devices(0)->add_supplies();
  sheets->set_type("fuser");
  sheets->set_unit("sheets");
  sheets->set_max_capacity(200);
  sheets->set_level(50);
  auto* toner = status.mutable_devices(0)->add_supplies();
  toner->set_type("toner");
  toner->set_colorant("black");
  toner->set_unit("percent");
  toner->set_max_capacity(100);
  toner->set_level(8);
  const auto findings = JudgePrinters(status, kDefaultJobStuckAfter);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].evidence().at("supplies"), "fuser 25% (50 of 200 sheets), black toner 8%");
}

TEST(JudgePrintersTest, MarkerLevels) {
  struct Case {
    int level, low;
    std::string type;
    std::vector<std::string> codes;
  };
  const Case cases[] = {
      {50, 10, "toner", {}},
      {10, 10, "toner", {"printer.toner_low"}},  // at the device's own low mark
      {0, 10, "ink", {"printer.toner_empty"}},
      {-1, 10, "toner", {}},       // unavailable is not empty
      {-2, 10, "toner", {}},       // unknown is not empty
      {-3, 10, "toner", {}},       // "some remaining" is not below 10
      {5, -1, "toner", {}},        // no low mark: nothing to compare with
      {0, 10, "waste-toner", {}},  // an empty waste bin is good news
  };
  for (const Case& c : cases) {
    auto status = OneQueue();
    auto* m = status.mutable_devices(0)->add_markers();
    m->set_name("Black");
    m->set_type(c.type);
    m->set_level(c.level);
    m->set_low_level(c.low);
    std::vector<std::string> codes;
    for (const auto& f : JudgePrinters(status, kDefaultJobStuckAfter)) codes.push_back(f.code());
    EXPECT_EQ(codes, c.codes) << c.type << " " << c.level << " low " << c.low;
  }
}

TEST(JudgePrintersTest, QueueStates) {
  auto status = OneQueue();
  auto* q = status.mutable_queues(0);
  q->set_state("stopped");
  q->set_state_message("Paused by admin");
  q->set_accepting_jobs(false);
  auto findings = JudgePrinters(status, kDefaultJobStuckAfter);
  EXPECT_THAT(Keys(findings), UnorderedElementsAre(Pair("printer.stopped", "HP-2"),
                                                   Pair("printer.not_accepting", kUri)));
  for (const auto& f : findings) {
    if (f.code() == "printer.stopped") {
      EXPECT_EQ(f.summary(), "print queue HP-2 is stopped: Paused by admin");
    } else {
      EXPECT_EQ(f.summary(), "printer HP-2 at ipp://10.0.0.9/ipp/print does not accept new jobs");
    }
  }
}

TEST(JudgePrintersTest, OfflineFromTheDeviceOrFromCups) {
  auto status = OneQueue();
  status.mutable_devices(0)->set_answered(false);
  status.mutable_devices(0)->set_error("cannot connect to 10.0.0.9:631: Connection refused");
  auto findings = JudgePrinters(status, kDefaultJobStuckAfter);
  ASSERT_THAT(Keys(findings), ElementsAre(Pair("printer.offline", kUri)));
  EXPECT_THAT(findings[0].evidence().at("error"), HasSubstr("Connection refused"));

  // CUPS's "may not exist" with a device that answers now: the device is believed.
  status = OneQueue();
  status.mutable_queues(0)->set_state_message(
      "The printer may not exist or is unavailable at this time.");
  EXPECT_THAT(JudgePrinters(status, kDefaultJobStuckAfter), IsEmpty());

  // A USB queue is not queried: CUPS's word is all there is.
  status = OneQueue();
  status.mutable_queues(0)->set_device_uri("usb://HP/LaserJet");
  status.mutable_queues(0)->set_state_message(
      "The printer may not exist or is unavailable at this time.");
  status.clear_devices();
  EXPECT_THAT(Keys(JudgePrinters(status, kDefaultJobStuckAfter)),
              ElementsAre(Pair("printer.offline", "usb://HP/LaserJet")));
}

TEST(JudgePrintersTest, JobStuckByAgeOrError) {
  auto status = OneQueue();
  auto* q = status.mutable_queues(0);
  auto* job = q->add_jobs();
  job->set_id(17);
  job->set_state("processing");
  *job->mutable_age() = common::ToProtoDuration(absl::Minutes(12));
  q->set_job_count(1);
  *q->mutable_oldest_job_age() = job->age();
  auto findings = JudgePrinters(status, absl::Minutes(10));
  ASSERT_THAT(Keys(findings), ElementsAre(Pair("printer.job_stuck", kUri)));
  EXPECT_EQ(findings[0].evidence().at("jobs"), "HP-2-17 processing for 12m");
  EXPECT_EQ(findings[0].evidence().at("oldest_job_age_s"), "720");
  // Younger than the threshold: waiting is normal.
  EXPECT_THAT(JudgePrinters(status, absl::Minutes(15)), IsEmpty());
  // A job in error is stuck whatever its age.
  q->set_jobs_in_error(1);
  EXPECT_THAT(Keys(JudgePrinters(status, absl::Minutes(15))),
              ElementsAre(Pair("printer.job_stuck", kUri)));
}

// Two queues on one device raise one finding that names both.
TEST(JudgePrintersTest, QueuesSharingADeviceShareFindings) {
  auto status = OneQueue();
  auto* second = status.add_queues();
  *second = status.queues(0);
  second->set_name("HP-2-duplex");
  status.mutable_devices(0)->add_queues("HP-2-duplex");
  status.mutable_devices(0)->add_raw_state_reasons("media-jam-error");
  auto findings = JudgePrinters(status, kDefaultJobStuckAfter);
  ASSERT_THAT(Keys(findings), ElementsAre(Pair("printer.jam", kUri)));
  EXPECT_EQ(findings[0].evidence().at("queue"), "HP-2, HP-2-duplex");
  EXPECT_EQ(findings[0].summary(), "printer HP-2 at ipp://10.0.0.9/ipp/print is jammed");
}

// CUPS's stale backend reasons do not outlive a device that answers without them.
TEST(JudgePrintersTest, AnsweringDeviceOverridesQueueReasons) {
  auto status = OneQueue();
  status.mutable_queues(0)->add_state_reasons("media-jam-report");
  EXPECT_THAT(JudgePrinters(status, kDefaultJobStuckAfter), IsEmpty());
  status.mutable_devices(0)->set_answered(false);
  EXPECT_THAT(Keys(JudgePrinters(status, kDefaultJobStuckAfter)),
              UnorderedElementsAre(Pair("printer.offline", kUri), Pair("printer.jam", kUri)));
}

}  // namespace
}  // namespace medic::agent
