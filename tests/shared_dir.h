// Where tests find ../shared; tests that need it skip with a clear message when it is absent.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace ll::testing {

// The LL_SHARED_DIR environment variable, when set, wins over the configured directory, so one
// build can be run as on a fresh machine: LL_SHARED_DIR=/nonexistent ctest.
inline std::string shared_path(const std::string& rel) {
  const char* env = std::getenv("LL_SHARED_DIR");
  return std::string(env && *env ? env : LL_SHARED_DIR) + "/" + rel;
}

inline bool shared_exists(const std::string& rel) {
  return std::filesystem::exists(shared_path(rel));
}

}  // namespace ll::testing

#define LL_REQUIRE_SHARED(rel)                                                         \
  do {                                                                                 \
    if (!::ll::testing::shared_exists(rel))                                            \
      GTEST_SKIP() << "skipped: " << ::ll::testing::shared_path(rel)                   \
                   << " not found (../shared is missing; models are not in the repo)"; \
  } while (0)
