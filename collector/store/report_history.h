#pragma once

// Observation history kept as one row per probe report (table report_history: machine_id,
// probe, at_ms, points), shared by the SQLite and PostgreSQL stores. One row per report instead
// of one per observation: a report of 12 observations is one row and two index entries, not 12
// rows and 24 index entries, which bounded ingest and made the history most of the database.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "medic/v1/health.pb.h"
#include "medic/v1/history_store.pb.h"
#include "medic/v1/technician.pb.h"

namespace medic::collector {

// report_history.points of a report: its observations' names, resources and values.
std::string EncodeReportPoints(const medic::v1::ProbeReport& report);

// Builds GetMachineHistory's answer from report_history rows read oldest first: one series per
// observation name and resource, sorted by name then resource (byte order), points in the
// order they were added.
class HistoryBuilder {
 public:
  // `metrics`: the names to keep (every name when empty). `units`: the unit of each (name,
  // resource), from the machine's latest reports.
  HistoryBuilder(const std::vector<std::string>& metrics,
                 std::map<std::pair<std::string, std::string>, std::string> units);

  // One row. DataLoss, naming the machine and time, when `points` does not decode.
  absl::Status Add(std::string_view machine_id, int64_t at_ms, std::string_view points);

  // Moves the series into `history`.
  void Finish(medic::v1::MachineHistory* history);

 private:
  std::vector<std::string> metrics_;  // sorted, for binary_search
  std::map<std::pair<std::string, std::string>, std::string> units_;
  std::map<std::pair<std::string, std::string>, medic::v1::ObservationSeries> series_;
};

// Regroups the rows of the old per-observation table into reports, for the migration that
// converts it. Feed rows ordered by machine, time and insertion; each run of rows with the same
// machine and time becomes one report_history row (the old table did not say which probe
// reported them, so those rows have an empty probe).
class ObservationRegrouper {
 public:
  struct Row {
    std::string machine_id;
    int64_t at_ms = 0;
    std::string points;
  };
  // Adds one old row; returns the finished report_history row when this one starts another.
  std::optional<Row> Add(std::string_view machine_id, int64_t at_ms, std::string_view metric,
                         std::string_view resource, double value);
  // The last row, if any.
  std::optional<Row> Flush();

 private:
  std::string machine_id_;
  int64_t at_ms_ = 0;
  bool open_ = false;
  medic::v1::ReportPoints points_;
};

// For tests of the conversion from the per-observation table: brings a new SQLite file, or an
// empty PostgreSQL database, to the schema just before report_history replaced observations.
absl::Status CreateSqliteSchemaBeforeReportHistory(const std::string& path);
absl::Status CreatePostgresSchemaBeforeReportHistory(const std::string& uri);

}  // namespace medic::collector
