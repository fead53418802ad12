// The one JSON form of a DeviceProfile, used by the devices file, the profile cache and the
// PROFILE_RESP message: the devices file's device object (docs/plan.md "Devices file").
// Written with bare numbers in base units (bytes, bytes/s, FLOP/s, seconds); read with units
// too ("2GiB", "10GB/s"), so people and programs share one schema.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/status.h"
#include "plan/profile.h"

namespace ll::plan {

nlohmann::json device_profile_to_json(const DeviceProfile& p);

// Errors name the offending field under `path`, e.g.
//   devices[2].decode.Q9_0: unknown type "Q9_0" (use F32, F16, BF16, Q8_0, Q4_0 or default)
Result<DeviceProfile> device_profile_from_json(const nlohmann::json& j, const std::string& path);
Result<DeviceProfile> device_profile_from_text(std::string_view text, const std::string& path);

}  // namespace ll::plan
