// Which device runs which ops: the value a deployment is made from. The head builds it from a
// plan (or forced cuts), deploy() sends it to the workers under a new epoch, and failover and
// load balancing (issues 12, 13) deploy a changed one on the same live workers.
#pragma once

#include <string>
#include <vector>

namespace ll::runtime {

struct RingDevice {
  std::string name;     // routing name: the head's node name, or the worker's address
  std::string address;  // empty for the head
  int node_begin = 0;   // graph op range [node_begin, node_end) this device runs
  int node_end = 0;
  bool operator==(const RingDevice&) const = default;
};

// Graph ops [begin, end).
struct OpRange {
  int begin = 0;
  int end = 0;
  bool covers(int b, int e) const { return begin <= b && e <= end; }
};

struct RingLayout {
  std::vector<RingDevice> devices;  // ring order; devices[0] is the head

  int size() const { return static_cast<int>(devices.size()); }
  // Op indices where devices 1.. start (graph::segment_at's cuts).
  std::vector<int> cuts() const {
    std::vector<int> c;
    for (size_t i = 1; i < devices.size(); ++i) c.push_back(devices[i].node_begin);
    return c;
  }
};

}  // namespace ll::runtime
