// A child process started with posix_spawn and supervised without signal handlers: a pidfd
// tells when it exits, inotify when it writes its ready file, and every wait has a deadline.
// The destructor stops it (SIGTERM, then SIGKILL after a grace period) and reaps it.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace ll::runtime {

struct SpawnOptions {
  std::string log_file;  // the child's stderr goes here (truncated); "" = inherited
  bool stdout_to_log = false;
  bool append_log = false;  // a restarted process continues its log
  // A process group of its own, so a terminal's Ctrl-C reaches only the parent, which stops its
  // children in order (the head before the workers it talks to).
  bool own_process_group = true;
};

class ChildProcess {
 public:
  // argv[0] is the program's name as the child sees it; `program` is the file executed.
  static Result<std::unique_ptr<ChildProcess>> spawn(const std::string& program,
                                                     const std::vector<std::string>& argv,
                                                     const SpawnOptions& o = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_file() const { return log_file_; }
  std::string log() const;  // the log file's contents ("" without one)

  // The first line of `path` once it exists, waiting up to timeout_s. Writers create the file
  // complete (write elsewhere, then rename), as the worker's --ready-file does. Fails early,
  // with the end of the log, if the child exits first.
  Result<std::string> wait_for_file(const std::string& path, double timeout_s);

  // How the child ended ("exited with status 1", "killed by signal 9"), or nullopt while it
  // runs. Reaps it once it has exited.
  std::optional<std::string> exit_status();
  // Waits up to timeout_s for the child to exit; true when it has.
  bool wait_exit(double timeout_s);
  // SIGTERM, then SIGKILL if it has not exited within grace_s; reaps it. Idempotent.
  void terminate(double grace_s = 10);
  // Exit code when it exited normally, -1 otherwise (or still running).
  int exit_code() const;

 private:
  ChildProcess(pid_t pid, int pidfd, std::string log) : pid_(pid), pidfd_(pidfd), log_file_(log) {}
  std::string failure(const std::string& what) const;  // `what` plus the log's tail

  pid_t pid_ = -1;
  int pidfd_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string log_file_;
};

// Seconds on the monotonic clock.
double monotonic_s();

// A pidfd (readable once the process exits) for any process, not only a child; -1 and errno on
// failure.
int open_pidfd(pid_t pid);

// The first line of `path` once it exists and is not empty, waiting up to timeout_s with inotify
// on its directory (no polling). Writers create the file complete: write elsewhere, then rename.
// With a pidfd (-1: none), fails at once with kCancelled when that process exits first; at the
// deadline, kUnavailable.
Result<std::string> wait_for_first_line(const std::string& path, double timeout_s, int pidfd = -1);

}  // namespace ll::runtime
