// The devices file: a JSON description of the cluster (see docs/plan.md "Devices file").
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "plan/profile.h"

namespace ll::plan {

struct DevicesFile {
  Cluster cluster;
  std::optional<RunConfig> run;  // present when the file has a "run" object
};

// Errors name the offending field, e.g.
//   devices[2].mem_budget: expected size like "2GiB", got "abc"
Result<DevicesFile> parse_devices_json(std::string_view text);
Result<DevicesFile> load_devices_file(const std::string& path);

}  // namespace ll::plan
