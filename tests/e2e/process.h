// Child processes of the real `lingualinked` binary for end-to-end tests.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

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

// A worker daemon in the background, stopped by the destructor.
class WorkerProcess {
 public:
  WorkerProcess(const std::string& name, const std::vector<std::string>& extra) : name_(name) {
    // Paths are made before fork(): the child must not be the one to create temp_dir().
    ready_ = temp_path("ready_" + name);
    log_ = temp_path("log_" + name);
    std::remove(ready_.c_str());
    std::vector<std::string> args = {binary(), "worker", "--listen",     "tcp://127.0.0.1:0",
                                     "--name", name,     "--ready-file", ready_};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = std::freopen(log_.c_str(), "w", stderr);
      (void)f;
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 200 && address_.empty(); ++i) {
      std::ifstream in(ready_);
      in >> address_;
      if (address_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~WorkerProcess() { stop(); }
  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  const std::string& address() const { return address_; }
  std::string log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  std::string name_, ready_, log_, address_;
  pid_t pid_ = -1;
};

}  // namespace ll::testing
