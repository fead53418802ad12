// Child processes of the real `lingualinked` binary for end-to-end tests.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/local_cluster.h"
#include "temp_dir.h"

namespace ll::testing {

inline std::string binary() {
  return std::string(LL_BINARY_DIR) + "/tools/lingualinked";
}

// Runs the binary to completion; returns the exit code, stdout and stderr in out/err.
inline int run_binary(const std::vector<std::string>& args, std::string* out,
                      std::string* err = nullptr) {
  std::string cmd = binary();
  for (const auto& a : args) cmd += " '" + a + "'";
  const std::string err_file = temp_path("stderr");
  cmd += " 2>" + err_file;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  out->clear();
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  const int status = pclose(p);
  if (err) {
    std::ifstream in(err_file);
    err->assign(std::istreambuf_iterator<char>(in), {});
  }
  std::remove(err_file.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Worker daemons of the real binary (runtime::LocalCluster), each with its stderr in a log
// file. `args_of(i)` gives worker i's extra flags; the workers use `key_file`.
inline std::unique_ptr<runtime::LocalCluster> start_workers(
    int n, const std::string& tag, const std::string& key_file,
    const std::function<std::vector<std::string>(int)>& args_of) {
  runtime::LocalClusterOptions o;
  o.binary = binary();
  o.key_file = key_file;
  o.logs_to_files = true;
  for (int i = 0; i < n; ++i) o.workers.push_back({tag + "w" + std::to_string(i), args_of(i)});
  auto c = runtime::LocalCluster::start(o);
  EXPECT_TRUE(c.is_ok()) << c.status().to_string();
  return c.is_ok() ? std::move(*c) : nullptr;
}

}  // namespace ll::testing
