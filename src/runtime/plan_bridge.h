// Between the graph and the planner: segment costs become the planner's model profile, and a
// plan's segment-to-device assignment becomes one coarse segment per device.
#pragma once

#include <string>
#include <vector>

#include "graph/costs.h"
#include "plan/planner.h"

namespace ll::runtime {

plan::ModelProfile model_profile(const std::string& name, const graph::Graph& g,
                                 const graph::Segmentation& fine, const graph::GraphCosts& costs,
                                 const graph::WeightSource& weights, int ctx_for_attention);

struct DevicePlacement {
  std::vector<int> devices;    // cluster device indices in ring order (head first)
  graph::Segmentation coarse;  // coarse segment i runs on devices[i]
};
Result<DevicePlacement> placement_from_plan(const graph::Graph& g, const graph::Segmentation& fine,
                                            const std::vector<int>& device_of_segment);

}  // namespace ll::runtime
