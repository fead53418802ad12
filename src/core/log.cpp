#include "core/log.h"

#include <atomic>
#include <cstdio>

namespace ll {

namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kWarn)};
const char* kNames[] = {"debug", "info", "warn", "error"};
}  // namespace

void set_log_level(LogLevel level) {
  g_level = static_cast<int>(level);
}
LogLevel log_level() {
  return static_cast<LogLevel>(g_level.load());
}

void log_printf(LogLevel level, const char* fmt, ...) {
  if (static_cast<int>(level) < g_level.load()) return;
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "[%s] %s\n", kNames[static_cast<int>(level)], buf);
}

}  // namespace ll
