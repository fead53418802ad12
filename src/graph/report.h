// Human, JSON and Graphviz views of a segmented graph, its map and its costs (for `inspect`).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "graph/costs.h"

namespace ll::graph {

std::string summary_text(const Graph& g);
std::string segments_text(const Graph& g, const Segmentation& s, const GraphCosts& c);
std::string map_text(const Graph& g, const Segmentation& s);
nlohmann::json to_json(const Graph& g, const Segmentation& s, const GraphCosts& c);
// Nodes clustered by segment; map edges drawn bold, residual edges dashed.
std::string to_dot(const Graph& g, const Segmentation& s);

}  // namespace ll::graph
