// Two views of a plan for people: a terminal report and an SVG diagram of the ring (the JSON
// form is plan_json.h).
#pragma once

#include <string>

#include "plan/planner.h"

namespace ll::plan {

std::string render_text(const PlanReport& report);
std::string render_svg(const PlanReport& report);

}  // namespace ll::plan
