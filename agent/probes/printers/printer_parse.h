#pragma once

// Pure logic of the printers probe: IPP value normalisation (state reasons, marker levels,
// printer-supply and printer-input-tray strings) and the judgement of queues and devices into
// findings. No I/O; builds everywhere.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "medic/v1/health.pb.h"

namespace medic::agent {

inline constexpr std::string_view kPrinterOffline = "printer.offline";
inline constexpr std::string_view kPrinterStopped = "printer.stopped";
inline constexpr std::string_view kPrinterNotAccepting = "printer.not_accepting";
inline constexpr std::string_view kPrinterJobStuck = "printer.job_stuck";
inline constexpr std::string_view kPrinterTonerLow = "printer.toner_low";
inline constexpr std::string_view kPrinterTonerEmpty = "printer.toner_empty";
inline constexpr std::string_view kPrinterPaperEmpty = "printer.paper_empty";
inline constexpr std::string_view kPrinterJam = "printer.jam";
inline constexpr std::string_view kPrinterDoorOpen = "printer.door_open";
inline constexpr std::string_view kPrinterError = "printer.error";

inline constexpr absl::Duration kDefaultJobStuckAfter = absl::Minutes(10);

// A printer-state-reasons keyword split per RFC 8011 §5.4.12: "media-jam-error" is keyword
// "media-jam" at severity "error". severity is "report", "warning", "error" or "" (none given).
struct StateReason {
  std::string keyword;
  std::string severity;
  bool operator==(const StateReason&) const = default;
};
StateReason NormaliseStateReason(std::string_view raw);

// The keywords of `raw`, normalised, without "none" and without repeats, in first-seen order.
std::vector<std::string> NormaliseStateReasons(const std::vector<std::string>& raw);

// How a marker or supply level reads for people: "42%", or what the IPP special values mean
// (-1 "unavailable", -2 "unknown", -3 "some remaining"); other negatives are "invalid".
std::string DescribeLevel(int level);

// A level that can be compared with a mark: 0–100. False for the IPP special values.
inline bool IsMeasuredLevel(int level) { return level >= 0 && level <= 100; }

// Parses one printer-supply value (PWG 5100.13): "index=1;class=supplyThatIsConsumed;
// type=toner;unit=percent;maxcapacity=100;level=75;colorantname=black;". Unknown keys are
// ignored; a missing level or maxcapacity is -1 (unknown). InvalidArgument when a field is not
// key=value or a number does not parse.
absl::StatusOr<medic::v1::PrinterSupply> ParseSupply(std::string_view text);

// Parses one printer-input-tray value: "type=sheetFeedAutoRemovableTray;mediafeed=0;
// mediaxfeed=0;maxcapacity=250;level=100;status=0;name=main". Missing level or maxcapacity is
// -2 (unknown, as PWG 5100.13 uses for trays). InvalidArgument like ParseSupply.
absl::StatusOr<medic::v1::PrinterInputTray> ParseInputTray(std::string_view text);

// The markers from the parallel marker-* attributes, one per name; a value a list lacks is ""
// or -1 (low level) / -1 (level, unknown).
std::vector<medic::v1::PrinterMarker> BuildMarkers(const std::vector<std::string>& names,
                                                   const std::vector<std::string>& types,
                                                   const std::vector<int>& levels,
                                                   const std::vector<int>& low_levels,
                                                   const std::vector<std::string>& colors);

// What a device URI's scheme lets the probe ask: kIpp (ipp, ipps, http, https:
// Get-Printer-Attributes), kTcp (socket, lpd: whether it accepts a connection), kNone (usb,
// file, dnssd…: only CUPS's view).
enum class DeviceAccess { kNone, kIpp, kTcp };
DeviceAccess DeviceAccessOf(std::string_view uri);

// The scheme of a URI ("ipp"), lower case; "" when there is none.
std::string UriScheme(std::string_view uri);

// The IPP enum names: printer-state 3/4/5 idle/processing/stopped, job-state 3 pending,
// 4 held, 5 processing, 6 stopped, 7 canceled, 8 aborted, 9 completed; else "unknown".
std::string PrinterStateName(int state);
std::string JobStateName(int state);

// Whether a job counts as in error: stopped, or a job-state-reason ending in "-error".
bool JobInError(const medic::v1::PrinterJob& job);

// The findings for `status`. Device findings (offline, not_accepting, job_stuck, toner_low,
// toner_empty, paper_empty, jam, door_open, error) have resource the device URI (the queue's
// name when it has none) and one finding stands for every queue printing to that device;
// printer.stopped has resource the queue's name. A device that was queried and answered is
// believed over CUPS's "may not exist" message; one not queried is judged by CUPS's view.
// job_stuck: a queue's oldest job is older than `job_stuck_after`, or a job is in error.
std::vector<medic::v1::Finding> JudgePrinters(const medic::v1::PrintersStatus& status,
                                              absl::Duration job_stuck_after);

}  // namespace medic::agent
