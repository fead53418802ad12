// The one JSON form of a plan report (docs/plan.md "Plan JSON"; keys are stable). Unknown
// numbers (NaN) are written as null and read back as NaN.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "core/status.h"
#include "plan/planner.h"

namespace ll::plan {

nlohmann::json plan_report_to_json(const PlanReport& report);

// Errors name the offending field, e.g. "plan.devices[1].segments: expected 2 elements".
Result<PlanReport> plan_report_from_json(const nlohmann::json& j);
Result<PlanReport> plan_report_from_text(std::string_view text);

}  // namespace ll::plan
