// Minimal leveled logging to stderr; quiet by default for library code.
#pragma once

#include <cstdarg>

namespace ll {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();
void log_printf(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace ll

#define LL_LOG_DEBUG(...) ::ll::log_printf(::ll::LogLevel::kDebug, __VA_ARGS__)
#define LL_LOG_INFO(...) ::ll::log_printf(::ll::LogLevel::kInfo, __VA_ARGS__)
#define LL_LOG_WARN(...) ::ll::log_printf(::ll::LogLevel::kWarn, __VA_ARGS__)
#define LL_LOG_ERROR(...) ::ll::log_printf(::ll::LogLevel::kError, __VA_ARGS__)
