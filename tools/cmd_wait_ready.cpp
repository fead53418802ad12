// lingualinked wait-ready: blocks until a process's ready file (serve/worker --ready-file)
// appears, so scripts wait on an explicit signal with a deadline instead of polling a log.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include <unistd.h>

#include "command.h"
#include "runtime/child_process.h"

namespace ll::tools {
namespace {

struct WaitReadyOpts {
  std::string file;
  double timeout_s = 60;
  int pid = 0;  // 0: no process to watch
};

int run_wait_ready(const WaitReadyOpts& o) {
  int pidfd = -1;
  bool gone = false;  // the process has exited already: only look at the file once
  if (o.pid > 0) {
    pidfd = runtime::open_pidfd(o.pid);
    if (pidfd < 0 && errno != ESRCH) {
      std::fprintf(stderr, "error: --pid %d: %s\n", o.pid, std::strerror(errno));
      return 1;
    }
    gone = pidfd < 0;
  }
  auto line = runtime::wait_for_first_line(o.file, gone ? 0 : o.timeout_s, pidfd);
  if (pidfd >= 0) close(pidfd);
  if (!line.is_ok()) {
    std::string why = line.status().message();
    if (gone || line.status().code() == StatusCode::kCancelled)
      why = "process " + std::to_string(o.pid) + " exited before writing " + o.file;
    std::fprintf(stderr, "error: %s\n", why.c_str());
    return 1;
  }
  std::printf("%s\n", line->c_str());
  return 0;
}

const bool registered = register_command(
    "wait-ready", "Wait for a ready file (serve/worker --ready-file) and print its first line",
    [](CLI::App& sub) {
      auto o = std::make_shared<WaitReadyOpts>();
      sub.add_option("--file", o->file, "The ready file to wait for")->required();
      sub.add_option("--timeout", o->timeout_s, "Seconds to wait at most")
          ->capture_default_str()
          ->check(CLI::Range(0.0, 86400.0));
      sub.add_option("--pid", o->pid, "Fail at once if this process exits before writing it")
          ->check(CLI::Range(1, 1 << 30));
      return [o]() -> int { return run_wait_ready(*o); };
    });

}  // namespace
}  // namespace ll::tools
