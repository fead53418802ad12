// Where tests find ../shared; tests that need it skip with a clear message when it is absent.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace ll::testing {

inline std::string shared_path(const std::string& rel) {
  return std::string(LL_SHARED_DIR) + "/" + rel;
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
