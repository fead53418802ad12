// Errors in OpenAI's wire format: {"error":{"message","type","param","code"}} plus the HTTP
// status, so every rejection path produces the same shape clients already parse.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace ll::server {

struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // "" = null
  std::string code;   // "" = null

  nlohmann::json to_json() const;
};

inline ApiError bad_request(std::string message, std::string param = "") {
  return ApiError{400, std::move(message), "invalid_request_error", std::move(param), ""};
}

// A value or an ApiError: request parsing reports the field it rejects.
template <typename T>
struct ApiResult {
  ApiResult(T v) : value(std::move(v)), ok(true) {}          // NOLINT: implicit by design
  ApiResult(ApiError e) : error(std::move(e)), ok(false) {}  // NOLINT
  T value{};
  ApiError error;
  bool ok = false;
};

}  // namespace ll::server
