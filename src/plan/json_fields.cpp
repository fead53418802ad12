#include "plan/json_fields.h"

#include <cmath>
#include <limits>

namespace ll::plan::json_fields {

Status bad(const std::string& path, const std::string& what) {
  return invalid_argument(path + ": " + what);
}

Result<Json> parse(std::string_view text, const std::string& what) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    return corrupt(what + " is not valid JSON: " + e.what());
  }
}

Status only_keys(const Json& obj, const std::string& path,
                 std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, v] : obj.items()) {
    bool ok = false;
    for (std::string_view a : allowed) ok = ok || k == a;
    if (!ok) return bad(path, "unknown field \"" + k + "\"");
  }
  return Status::ok();
}

Result<double> quantity(const Json& v, const std::string& path, const UnitParser& parse,
                        double number_scale) {
  if (v.is_number()) {
    double x = v.get<double>();
    if (!(x >= 0)) return bad(path, "must be >= 0");
    return x * number_scale;
  }
  if (v.is_string()) {
    Result<double> r = parse(v.get<std::string>());
    if (!r.is_ok()) return bad(path, r.status().message());
    return r;
  }
  return bad(path, "expected a number or a string with units");
}

Result<double> one_of(const Json& obj, const std::string& path, const char* with_units,
                      const UnitParser& parse, const char* scaled, double scale) {
  bool a = obj.contains(with_units), b = scaled && obj.contains(scaled);
  if (a && b) {
    return bad(path, std::string("give either ") + with_units + " or " + scaled + ", not both");
  }
  if (a) return quantity(obj[with_units], path + "." + with_units, parse);
  if (b) {
    if (!obj[scaled].is_number()) return bad(path + "." + scaled, "expected a number");
    return quantity(obj[scaled], path + "." + scaled, parse, scale);
  }
  return -1.0;
}

namespace {

Result<RateTable> rate_table(const Json& v, const std::string& path, const UnitParser& parse,
                             double number_scale) {
  RateTable t;
  if (!v.is_object()) {
    LL_ASSIGN_OR_RETURN(t.fallback, quantity(v, path, parse, number_scale));
    return t;
  }
  for (const auto& [k, x] : v.items()) {
    LL_ASSIGN_OR_RETURN(double r, quantity(x, path + "." + k, parse, number_scale));
    if (k == "default") {
      t.fallback = r;
    } else if (auto type = dtype_from_name(k)) {
      t.by_type[*type] = r;
    } else {
      return bad(path, "unknown type \"" + k + "\" (use " + std::string(supported_type_names()) +
                           " or default)");
    }
  }
  return t;
}

Result<const Json*> member(const Json& obj, const char* key, const std::string& path) {
  if (!obj.is_object()) return bad(path, "expected an object");
  auto it = obj.find(key);
  if (it == obj.end()) return bad(path + "." + key, "missing");
  return &*it;
}

}  // namespace

Result<RateTable> rates(const Json& obj, const std::string& path, const char* with_units,
                        const UnitParser& parse, const char* scaled, double scale) {
  bool a = obj.contains(with_units), b = obj.contains(scaled);
  if (a && b) {
    return bad(path, std::string("give either ") + with_units + " or " + scaled + ", not both");
  }
  if (a) return rate_table(obj[with_units], path + "." + with_units, parse, 1);
  if (b) return rate_table(obj[scaled], path + "." + scaled, parse, scale);
  return RateTable{};
}

Result<double> number(const Json& obj, const char* key, const std::string& path) {
  LL_ASSIGN_OR_RETURN(const Json* v, member(obj, key, path));
  if (v->is_null()) return std::numeric_limits<double>::quiet_NaN();
  if (!v->is_number()) return bad(path + "." + key, "expected a number");
  return v->get<double>();
}

Result<int> integer(const Json& obj, const char* key, const std::string& path) {
  LL_ASSIGN_OR_RETURN(const Json* v, member(obj, key, path));
  // Integral values may have been written as doubles ("3.0" never, but 3 from a double).
  if (!v->is_number() || v->get<double>() != std::floor(v->get<double>()) ||
      std::fabs(v->get<double>()) > 2e9) {
    return bad(path + "." + key, "expected an integer");
  }
  return static_cast<int>(v->get<double>());
}

Result<bool> boolean(const Json& obj, const char* key, const std::string& path) {
  LL_ASSIGN_OR_RETURN(const Json* v, member(obj, key, path));
  if (!v->is_boolean()) return bad(path + "." + key, "expected true or false");
  return v->get<bool>();
}

Result<std::string> string(const Json& obj, const char* key, const std::string& path) {
  LL_ASSIGN_OR_RETURN(const Json* v, member(obj, key, path));
  if (!v->is_string()) return bad(path + "." + key, "expected a string");
  return v->get<std::string>();
}

Result<const Json*> array(const Json& obj, const char* key, const std::string& path, int size) {
  LL_ASSIGN_OR_RETURN(const Json* v, member(obj, key, path));
  if (!v->is_array()) return bad(path + "." + key, "expected an array");
  if (size >= 0 && v->size() != static_cast<size_t>(size)) {
    return bad(path + "." + key, "expected " + std::to_string(size) + " elements");
  }
  return v;
}

Result<const Json*> object(const Json& obj, const char* key, const std::string& path) {
  LL_ASSIGN_OR_RETURN(const Json* v, member(obj, key, path));
  if (!v->is_object()) return bad(path + "." + key, "expected an object");
  return v;
}

}  // namespace ll::plan::json_fields
