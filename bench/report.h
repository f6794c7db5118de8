// The report of a sweep, written into --out:
//   results.json  everything: the command, the machine, the PostgreSQL
//                 settings, every point with its runs and per-second samples
//   results.csv   one row per (mode, point), for spreadsheets and scripts
//   results.md    the Markdown table docs/benchmarks.md quotes
//   *.svg         the charts (charts.h)
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/flags.h"
#include "bench/point.h"
#include "twopc/status.h"

namespace twopc::bench {

struct MachineInfo {
  int nproc = 0;
  int64_t memory_mb = 0;
  std::string cpu_model;
  std::string kernel;
};
MachineInfo ReadMachineInfo();

struct ReportMeta {
  std::string command_line;
  std::string started_at;  // UTC, ISO 8601
  MachineInfo machine;
  // pg_settings of the first participant's server (name -> setting[unit]).
  std::map<std::string, std::string> postgres;
  const BenchFlags* flags = nullptr;
};

nlohmann::json ResultsToJson(const ReportMeta& meta, const std::vector<PointResult>& points);
std::string ResultsToCsv(const std::vector<PointResult>& points);
std::string ResultsToMarkdown(const ReportMeta& meta, const std::vector<PointResult>& points);

// Writes the three files (and the charts) into `dir`, creating it.
Status WriteReports(const std::string& dir, const ReportMeta& meta,
                    const std::vector<PointResult>& points);

}  // namespace twopc::bench
