#include "plan/units.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <utility>

namespace ll::plan {
namespace {

using UnitTable = std::initializer_list<std::pair<std::string_view, double>>;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "<number>[ ]<unit>" with the unit from `units` ("" allowed when listed).
Result<double> parse_with_units(std::string_view text, UnitTable units, const char* example,
                                const char* what) {
  std::string_view s = trim(text);
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  auto fail = [&] {
    return invalid_argument(std::string("expected ") + what + " like \"" + example + "\", got \"" +
                            std::string(text) + "\"");
  };
  if (ec != std::errc() || !std::isfinite(v) || v < 0) return fail();
  std::string_view unit = trim(s.substr(end - s.data()));
  for (const auto& [name, scale] : units) {
    if (unit == name) return v * scale;
  }
  return fail();
}

constexpr double kKi = 1024.0, kMi = kKi * 1024, kGi = kMi * 1024, kTi = kGi * 1024;

std::string printf_string(const char* fmt, double v, const char* unit) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v, unit);
  return buf;
}

}  // namespace

Result<double> parse_size(std::string_view text) {
  return parse_with_units(text,
                          {{"", 1},
                           {"B", 1},
                           {"kB", 1e3},
                           {"KB", 1e3},
                           {"MB", 1e6},
                           {"GB", 1e9},
                           {"TB", 1e12},
                           {"KiB", kKi},
                           {"kiB", kKi},
                           {"MiB", kMi},
                           {"GiB", kGi},
                           {"TiB", kTi},
                           {"kib", kKi},
                           {"mib", kMi},
                           {"gib", kGi},
                           {"tib", kTi}},
                          "2GiB", "size");
}

Result<double> parse_bandwidth(std::string_view text) {
  return parse_with_units(text,
                          {{"", 1},
                           {"bit/s", 1 / 8.0},
                           {"kbit/s", 1e3 / 8},
                           {"Kbit/s", 1e3 / 8},
                           {"Mbit/s", 1e6 / 8},
                           {"Gbit/s", 1e9 / 8},
                           {"bps", 1 / 8.0},
                           {"kbps", 1e3 / 8},
                           {"Kbps", 1e3 / 8},
                           {"Mbps", 1e6 / 8},
                           {"Gbps", 1e9 / 8},
                           {"B/s", 1},
                           {"kB/s", 1e3},
                           {"KB/s", 1e3},
                           {"MB/s", 1e6},
                           {"GB/s", 1e9},
                           {"KiB/s", kKi},
                           {"MiB/s", kMi},
                           {"GiB/s", kGi}},
                          "100Mbit/s", "bandwidth");
}

Result<double> parse_flop_rate(std::string_view text) {
  return parse_with_units(text,
                          {{"", 1},
                           {"FLOP/s", 1},
                           {"FLOPS", 1},
                           {"kFLOP/s", 1e3},
                           {"MFLOP/s", 1e6},
                           {"GFLOP/s", 1e9},
                           {"TFLOP/s", 1e12},
                           {"kFLOPS", 1e3},
                           {"MFLOPS", 1e6},
                           {"GFLOPS", 1e9},
                           {"TFLOPS", 1e12}},
                          "50GFLOP/s", "FLOP rate");
}

Result<double> parse_duration(std::string_view text) {
  return parse_with_units(
      text, {{"", 1}, {"s", 1}, {"ms", 1e-3}, {"us", 1e-6}, {"\xC2\xB5s", 1e-6}, {"ns", 1e-9}},
      "5ms", "duration");
}

std::string format_bytes(double b) {
  if (b >= kGi) return printf_string("%.2f %s", b / kGi, "GiB");
  if (b >= kMi) return printf_string("%.1f %s", b / kMi, "MiB");
  if (b >= kKi) return printf_string("%.1f %s", b / kKi, "KiB");
  return printf_string("%.0f %s", b, "B");
}

std::string format_bandwidth(double bps) {
  double bits = bps * 8;
  if (bits >= 1e9) return printf_string("%.2f %s", bits / 1e9, "Gbit/s");
  if (bits >= 1e6) return printf_string("%.1f %s", bits / 1e6, "Mbit/s");
  return printf_string("%.1f %s", bits / 1e3, "kbit/s");
}

std::string format_ms(double s) {
  double ms = s * 1e3;
  if (ms < 0.1) return printf_string("%.3f %s", ms, "ms");
  if (ms < 10) return printf_string("%.2f %s", ms, "ms");
  return printf_string("%.1f %s", ms, "ms");
}

}  // namespace ll::plan
