// result.json: the public contract between producers (parsers, migmon, fixtures) and consumers
// (migtest-report, CI dashboards). Keys may be added freely and are never renamed. Durations are
// integers with the unit in the key (`downtime_ms`, plus `downtime_us` where precision matters);
// rates are MiB/s; a figure the source did not report is absent, never 0.
//
// **Example**:
//
//   nlohmann::json j = run;                      // to_json
//   auto back = j.get<migtest::RunResult>();     // from_json; throws nlohmann::json::exception
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "migtest/results/model.hpp"

namespace migtest {

inline constexpr std::string_view kResultSchema = "migtest.result/1";

void to_json(nlohmann::json& j, const Phase& v);
void from_json(const nlohmann::json& j, Phase& v);
void to_json(nlohmann::json& j, const Iteration& v);
void from_json(const nlohmann::json& j, Iteration& v);
void to_json(nlohmann::json& j, const DeviceDowntime& v);
void from_json(const nlohmann::json& j, DeviceDowntime& v);
void to_json(nlohmann::json& j, const Stall& v);
void from_json(const nlohmann::json& j, Stall& v);
void to_json(nlohmann::json& j, const LatencyDistribution& v);
void from_json(const nlohmann::json& j, LatencyDistribution& v);
void to_json(nlohmann::json& j, const MigrationResult& v);
void from_json(const nlohmann::json& j, MigrationResult& v);
void to_json(nlohmann::json& j, const Spike& v);
void from_json(const nlohmann::json& j, Spike& v);
void to_json(nlohmann::json& j, const ProbeResult& v);
void from_json(const nlohmann::json& j, ProbeResult& v);
void to_json(nlohmann::json& j, const DirtyResult& v);
void from_json(const nlohmann::json& j, DirtyResult& v);
void to_json(nlohmann::json& j, const ConsoleLine& v);
void from_json(const nlohmann::json& j, ConsoleLine& v);
void to_json(nlohmann::json& j, const GuestResult& v);
void from_json(const nlohmann::json& j, GuestResult& v);
void to_json(nlohmann::json& j, const TestVerdict& v);
void from_json(const nlohmann::json& j, TestVerdict& v);
void to_json(nlohmann::json& j, const RunResult& v);    // adds "schema"
void from_json(const nlohmann::json& j, RunResult& v);  // checks "schema" when present

// One result.json document; `indent` < 0 prints it on one line.
std::string ToJsonString(const RunResult& run, int indent = -1);

}  // namespace migtest
