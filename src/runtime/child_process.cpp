#include "runtime/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

extern char** environ;

namespace ll::runtime {

namespace {

int to_ms(double s) {
  return s <= 0 ? 0 : static_cast<int>(std::min(std::ceil(s * 1e3), 1e9));
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "stopped";
}

// File actions and attributes for posix_spawn, released on every path.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  void configure(const SpawnOptions& o) {
    if (!o.log_file.empty()) {
      posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, o.log_file.c_str(),
                                       O_WRONLY | O_CREAT | (o.append_log ? O_APPEND : O_TRUNC),
                                       0644);
      if (o.stdout_to_log) posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
    }
    // A parent that blocks signals to sigwait() them (serve) must not leave its children deaf
    // to the SIGTERM that stops them: the mask survives exec.
    sigset_t none, dflt;
    sigemptyset(&none);
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGINT);
    sigaddset(&dflt, SIGTERM);
    sigaddset(&dflt, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &dflt);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (o.own_process_group) {
      flags |= POSIX_SPAWN_SETPGROUP;
      posix_spawnattr_setpgroup(&attr, 0);
    }
    posix_spawnattr_setflags(&attr, flags);
  }
};

}  // namespace

int open_pidfd(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

double monotonic_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Result<std::unique_ptr<ChildProcess>> ChildProcess::spawn(const std::string& program,
                                                          const std::vector<std::string>& argv,
                                                          const SpawnOptions& o) {
  if (argv.empty()) return invalid_argument("spawn " + program + ": empty argument list");
  SpawnSetup setup;
  setup.configure(o);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc =
      posix_spawn(&pid, program.c_str(), &setup.actions, &setup.attr, args.data(), environ);
  if (rc != 0) return unavailable("cannot start " + program + ": " + std::strerror(rc));
  const int fd = open_pidfd(pid);
  if (fd < 0) {
    const int err = errno;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return unsupported(std::string("pidfd_open (Linux 5.3+) failed: ") + std::strerror(err));
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, fd, o.log_file));
}

ChildProcess::~ChildProcess() {
  terminate();
  if (pidfd_ >= 0) close(pidfd_);
}

std::string ChildProcess::log() const {
  if (log_file_.empty()) return "";
  std::ifstream in(log_file_);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string ChildProcess::failure(const std::string& what) const {
  std::string tail = log();
  if (tail.size() > 2000) tail = "..." + tail.substr(tail.size() - 2000);
  return tail.empty() ? what : what + "; its log ends:\n" + tail;
}

std::optional<std::string> ChildProcess::exit_status() {
  if (!reaped_) {
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) != pid_) return std::nullopt;
    reaped_ = true;
    status_ = st;
  }
  return describe(status_);
}

int ChildProcess::exit_code() const {
  return reaped_ && WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
}

bool ChildProcess::wait_exit(double timeout_s) {
  if (exit_status()) return true;
  pollfd p{pidfd_, POLLIN, 0};
  const double deadline = monotonic_s() + timeout_s;
  while (true) {
    const int n = poll(&p, 1, to_ms(deadline - monotonic_s()));
    if (n > 0 || (n < 0 && errno != EINTR)) break;
    if (n == 0) return false;
  }
  if (waitpid(pid_, &status_, 0) == pid_) reaped_ = true;
  return reaped_;
}

void ChildProcess::terminate(double grace_s) {
  if (pid_ <= 0 || exit_status()) return;
  kill(pid_, SIGTERM);
  if (wait_exit(grace_s)) return;
  kill(pid_, SIGKILL);
  wait_exit(60);
}

Result<std::string> ChildProcess::wait_for_file(const std::string& path, double timeout_s) {
  auto line = wait_for_first_line(path, timeout_s, pidfd_);
  if (line.is_ok()) return line;
  if (auto st = exit_status()) return unavailable(failure("it " + *st + " before writing " + path));
  if (line.status().code() == StatusCode::kUnavailable)
    return unavailable(failure(line.status().message()));
  return line.status();
}

namespace {

bool readable_now(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

}  // namespace

Result<std::string> wait_for_first_line(const std::string& path, double timeout_s, int pidfd) {
  namespace fs = std::filesystem;
  const std::string dir = fs::path(path).parent_path().empty()
                              ? std::string(".")
                              : fs::path(path).parent_path().string();
  const int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (in < 0) return io_error(std::string("inotify_init1: ") + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{in};
  // Watch first, then look: a file that appears in between still wakes us.
  if (inotify_add_watch(in, dir.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE) < 0)
    return io_error("cannot watch " + dir + ": " + std::strerror(errno));
  const double deadline = monotonic_s() + timeout_s;
  while (true) {
    std::ifstream f(path);
    std::string line;
    if (f && std::getline(f, line) && !line.empty()) return line;
    if (pidfd >= 0 && readable_now(pidfd))
      return Status(StatusCode::kCancelled, "the process exited before writing " + path);
    const double left = deadline - monotonic_s();
    if (left <= 0) return unavailable("no " + path + " within the deadline");
    pollfd p[2] = {{in, POLLIN, 0}, {pidfd, POLLIN, 0}};
    if (poll(p, pidfd >= 0 ? 2 : 1, to_ms(left)) < 0 && errno != EINTR)
      return io_error(std::string("poll: ") + std::strerror(errno));
    char buf[4096];
    while (read(in, buf, sizeof buf) > 0) {
    }
  }
}

}  // namespace ll::runtime
