// Three views of a plan: a terminal report, JSON with stable keys (docs/plan.md "Plan JSON"),
// and an SVG diagram of the ring.
#pragma once

#include <string>

#include "plan/planner.h"

namespace ll::plan {

std::string render_text(const PlanReport& report);
std::string render_json(const PlanReport& report);
std::string render_svg(const PlanReport& report);

}  // namespace ll::plan
