// Reading JSON objects field by field with errors that name the field's path
// ("devices[2].mem_budget: ..."). Shared by the devices file, profile and plan (de)serializers.
#pragma once

#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/status.h"
#include "plan/profile.h"

namespace ll::plan::json_fields {

using Json = nlohmann::json;
using UnitParser = std::function<Result<double>(std::string_view)>;

Status bad(const std::string& path, const std::string& what);

// Parses `text`; `what` names the document in the error ("devices file", "plan").
Result<Json> parse(std::string_view text, const std::string& what);

// Rejects keys outside `allowed`, so a misspelt field is an error rather than ignored.
Status only_keys(const Json& obj, const std::string& path,
                 std::initializer_list<std::string_view> allowed);

// A quantity given as a string with units, or as a bare number times `number_scale`.
Result<double> quantity(const Json& v, const std::string& path, const UnitParser& parse,
                        double number_scale = 1);

// Reads one of two spellings of a field: `with_units` (string or base-unit number) or
// `scaled` (a plain number in a documented unit). Returns -1 when neither is present.
Result<double> one_of(const Json& obj, const std::string& path, const char* with_units,
                      const UnitParser& parse, const char* scaled, double scale);

// A rate per DType under `with_units` or `scaled`: one value for all types, or
// {"Q8_0": ..., "default": ...}. Empty when neither key is present.
Result<RateTable> rates(const Json& obj, const std::string& path, const char* with_units,
                        const UnitParser& parse, const char* scaled, double scale);

// Required members of an object. `number` reads null as NaN (unknown values are written as
// null); the others reject null.
Result<double> number(const Json& obj, const char* key, const std::string& path);
Result<int> integer(const Json& obj, const char* key, const std::string& path);
Result<bool> boolean(const Json& obj, const char* key, const std::string& path);
Result<std::string> string(const Json& obj, const char* key, const std::string& path);
// The member `key`, which must be an array (of `size` elements when size >= 0).
Result<const Json*> array(const Json& obj, const char* key, const std::string& path, int size = -1);
Result<const Json*> object(const Json& obj, const char* key, const std::string& path);

}  // namespace ll::plan::json_fields
