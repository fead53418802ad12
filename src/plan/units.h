// Human units in the devices file ("1.5GiB", "100Mbit/s", "5ms", "50GFLOP/s") and back.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace ll::plan {

// A bare number is taken in the base unit (bytes, bytes/s, FLOP/s, seconds).
Result<double> parse_size(std::string_view text);  // -> bytes; B kB MB GB TB KiB MiB GiB TiB
Result<double> parse_bandwidth(
    std::string_view text);  // -> bytes/s; bit/s Mbit/s Gbps MB/s GiB/s..
Result<double> parse_flop_rate(std::string_view text);  // -> FLOP/s; FLOP/s GFLOP/s TFLOPS ..
Result<double> parse_duration(std::string_view text);   // -> seconds; s ms us ns

std::string format_bytes(double bytes);            // "1.50 GiB", "600 MiB", "512 B"
std::string format_bandwidth(double bytes_per_s);  // "100 Mbit/s"
std::string format_ms(double seconds);             // "12.3 ms"

}  // namespace ll::plan
