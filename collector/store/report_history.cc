#include "collector/store/report_history.h"

#include <algorithm>

#include "common/strings/str_cat.h"
#include "common/time/clock.h"

namespace medic::collector {

std::string EncodeReportPoints(const medic::v1::ProbeReport& report) {
  medic::v1::ReportPoints points;
  points.mutable_metric()->Reserve(report.observations_size());
  points.mutable_resource()->Reserve(report.observations_size());
  points.mutable_value()->Reserve(report.observations_size());
  for (const auto& o : report.observations()) {
    points.add_metric(o.metric());
    points.add_resource(o.resource());
    points.add_value(o.value());
  }
  return points.SerializeAsString();
}

HistoryBuilder::HistoryBuilder(const std::vector<std::string>& metrics,
                               std::map<std::pair<std::string, std::string>, std::string> units)
    : metrics_(metrics), units_(std::move(units)) {
  std::sort(metrics_.begin(), metrics_.end());
}

absl::Status HistoryBuilder::Add(std::string_view machine_id, int64_t at_ms,
                                 std::string_view points) {
  medic::v1::ReportPoints decoded;
  if (!decoded.ParseFromArray(points.data(), static_cast<int>(points.size())) ||
      decoded.resource_size() != decoded.metric_size() ||
      decoded.value_size() != decoded.metric_size()) {
    return absl::DataLossError(common::StrCat("the stored history of machine ", machine_id, " at ",
                                              at_ms, " ms is corrupt"));
  }
  const google::protobuf::Timestamp at = common::ToProtoTime(absl::FromUnixMillis(at_ms));
  for (int i = 0; i < decoded.metric_size(); ++i) {
    const std::string& metric = decoded.metric(i);
    if (!metrics_.empty() && !std::binary_search(metrics_.begin(), metrics_.end(), metric)) {
      continue;
    }
    std::pair<std::string, std::string> key(metric, decoded.resource(i));
    auto [series, added] = series_.try_emplace(key);
    if (added) {
      series->second.set_metric(key.first);
      series->second.set_resource(key.second);
      if (auto unit = units_.find(key); unit != units_.end()) series->second.set_unit(unit->second);
    }
    medic::v1::HistoryPoint* point = series->second.add_points();
    *point->mutable_at() = at;
    point->set_value(decoded.value(i));
  }
  return absl::OkStatus();
}

void HistoryBuilder::Finish(medic::v1::MachineHistory* history) {
  for (auto& [key, series] : series_) *history->add_series() = std::move(series);
  series_.clear();
}

std::optional<ObservationRegrouper::Row> ObservationRegrouper::Add(std::string_view machine_id,
                                                                   int64_t at_ms,
                                                                   std::string_view metric,
                                                                   std::string_view resource,
                                                                   double value) {
  std::optional<Row> done;
  if (open_ && (machine_id != machine_id_ || at_ms != at_ms_)) done = Flush();
  if (!open_) {
    machine_id_ = std::string(machine_id);
    at_ms_ = at_ms;
    open_ = true;
  }
  points_.add_metric(std::string(metric));
  points_.add_resource(std::string(resource));
  points_.add_value(value);
  return done;
}

std::optional<ObservationRegrouper::Row> ObservationRegrouper::Flush() {
  if (!open_) return std::nullopt;
  Row row{std::move(machine_id_), at_ms_, points_.SerializeAsString()};
  points_.Clear();
  machine_id_.clear();
  open_ = false;
  return row;
}

}  // namespace medic::collector
