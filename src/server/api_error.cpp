#include "server/api_error.h"

namespace ll::server {

nlohmann::json ApiError::to_json() const {
  nlohmann::json e;
  e["message"] = message;
  e["type"] = type;
  e["param"] = param.empty() ? nlohmann::json() : nlohmann::json(param);
  e["code"] = code.empty() ? nlohmann::json() : nlohmann::json(code);
  return nlohmann::json{{"error", e}};
}

}  // namespace ll::server
