#include "runtime/local_cluster.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace ll::runtime {

namespace fs = std::filesystem;

Result<std::unique_ptr<LocalCluster>> LocalCluster::start(LocalClusterOptions o) {
  std::unique_ptr<LocalCluster> c(new LocalCluster());
  char tmpl[] = "/tmp/lingualinked-cluster-XXXXXX";
  if (!mkdtemp(tmpl)) return io_error(std::string("mkdtemp: ") + std::strerror(errno));
  c->dir_ = tmpl;
  Status st = c->start_all(o);
  if (!st.is_ok()) {
    c->stop(2);
    return st;
  }
  return c;
}

LocalCluster::~LocalCluster() {
  stop();
}

Status LocalCluster::start_all(const LocalClusterOptions& o) {
  if (!o.insecure) {
    key_file_ = o.key_file;
    if (key_file_.empty()) {  // an ephemeral key: this cluster's devices, and nobody else, join
      LL_ASSIGN_OR_RETURN(key_, net::generate_cluster_key());
      key_file_ = dir_ + "/cluster.key";
      LL_RETURN_IF_ERROR(net::save_cluster_key(key_file_, key_, true));
    } else {
      LL_ASSIGN_OR_RETURN(key_, net::load_cluster_key(key_file_));
    }
  }
  o_ = o;
  for (size_t i = 0; i < o.workers.size(); ++i)
    LL_RETURN_IF_ERROR(spawn_worker(i, "tcp://127.0.0.1:0"));
  // All start at once; each has the whole deadline (they start in parallel).
  const double deadline = monotonic_s() + o.ready_timeout_s;
  for (size_t i = 0; i < children_.size(); ++i) {
    auto addr = children_[i]->wait_for_file(ready_file(i), deadline - monotonic_s());
    if (!addr.is_ok()) {
      return unavailable("worker '" + names_[i] + "' did not start: " + addr.status().message());
    }
    addresses_.push_back(*addr);
  }
  return Status::ok();
}

Status LocalCluster::spawn_worker(size_t i, const std::string& listen) {
  const LocalWorkerSpec& w = o_.workers[i];
  std::vector<std::string> argv = {"lingualinked",
                                   "worker",
                                   "--listen",
                                   listen,
                                   "--name",
                                   w.name,
                                   "--ready-file",
                                   ready_file(i),
                                   "--exit-with-parent",
                                   std::to_string(getpid())};
  if (o_.insecure) {
    argv.push_back("--insecure");
  } else {
    argv.insert(argv.end(), {"--key", key_file_});
  }
  argv.insert(argv.end(), w.args.begin(), w.args.end());
  SpawnOptions so;
  // A restarted worker appends to its log, so the log tells its whole story.
  if (o_.logs_to_files) so.log_file = dir_ + "/" + std::to_string(i) + "-" + w.name + ".log";
  so.append_log = true;
  auto child = ChildProcess::spawn(o_.binary, argv, so);
  if (!child.is_ok()) return unavailable("worker '" + w.name + "': " + child.status().message());
  const std::string cg = limit_memory(w, static_cast<int>(i), (*child)->pid());
  std::lock_guard<std::mutex> lk(mu_);
  if (i < children_.size()) {
    children_[i] = std::move(*child);
    if (!mem_cgroups_[i].empty() && mem_cgroups_[i] != cg) rmdir(mem_cgroups_[i].c_str());
    mem_cgroups_[i] = cg;
    return Status::ok();
  }
  children_.push_back(std::move(*child));
  names_.push_back(w.name);
  mem_cgroups_.push_back(cg);
  return Status::ok();
}

void LocalCluster::kill_worker(int i) {
  std::lock_guard<std::mutex> lk(mu_);
  if (i < 0 || i >= static_cast<int>(children_.size()) || children_[i]->exit_status()) return;
  ::kill(children_[i]->pid(), SIGKILL);
  children_[i]->wait_exit(10);
}

Status LocalCluster::restart_worker(int i, double timeout_s) {
  if (i < 0 || i >= static_cast<int>(addresses_.size()))
    return invalid_argument("no worker " + std::to_string(i));
  kill_worker(i);
  std::error_code ec;
  fs::remove(ready_file(i), ec);
  LL_RETURN_IF_ERROR(spawn_worker(static_cast<size_t>(i), addresses_[i]));
  auto addr = children_[i]->wait_for_file(ready_file(i), timeout_s);
  if (!addr.is_ok())
    return unavailable("worker '" + names_[i] + "' did not restart: " + addr.status().message());
  return Status::ok();
}

std::string LocalCluster::address_list(int n) const {
  std::string s;
  for (int i = 0; i < n && i < static_cast<int>(addresses_.size()); ++i)
    s += (i ? "," : "") + addresses_[i];
  return s;
}

Status LocalCluster::check_alive() {
  std::lock_guard<std::mutex> lk(mu_);
  for (size_t i = 0; i < children_.size(); ++i) {
    auto st = children_[i]->exit_status();
    if (!st) continue;
    std::string why;
    if (!mem_cgroups_[i].empty()) {
      std::ifstream in(mem_cgroups_[i] + "/memory.failcnt");
      long failures = 0;
      in >> failures;
      if (failures > 0) {
        std::ifstream lim(mem_cgroups_[i] + "/memory.limit_in_bytes");
        double limit = 0;
        lim >> limit;
        char buf[160];
        std::snprintf(buf, sizeof buf, " (out of memory: it reached its limit of %.0f MiB)",
                      limit / 1048576.0);
        why = buf;
      }
    }
    return unavailable("worker '" + names_[i] + "' " + *st + why);
  }
  return Status::ok();
}

std::string LocalCluster::limit_memory(const LocalWorkerSpec& w, int i, pid_t pid) {
  if (!(w.mem_limit_bytes > 0)) return "";
  const std::string dir = "/sys/fs/cgroup/memory/lingualinked-" + std::to_string(getpid()) + "-" +
                          std::to_string(i) + "-" + w.name;
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    std::fprintf(stderr, "warning: no memory limit for '%s' (cannot create %s: %s)\n",
                 w.name.c_str(), dir.c_str(), std::strerror(errno));
    return "";
  }
  std::ofstream lim(dir + "/memory.limit_in_bytes");
  lim << static_cast<long long>(w.mem_limit_bytes);
  lim.close();
  std::ofstream procs(dir + "/cgroup.procs");
  procs << pid;
  procs.close();
  if (!lim || !procs) {
    std::fprintf(stderr, "warning: no memory limit for '%s' (cannot configure %s)\n",
                 w.name.c_str(), dir.c_str());
    rmdir(dir.c_str());
    return "";
  }
  return dir;
}

void LocalCluster::stop(double grace_s) {
  std::lock_guard<std::mutex> lk(mu_);
  if (stopped_) return;
  stopped_ = true;
  // SIGTERM to all first, so they shut down in parallel, then reap each.
  for (auto& c : children_) {
    if (!c->exit_status()) kill(c->pid(), SIGTERM);
  }
  for (auto& c : children_) c->terminate(grace_s);
  for (const auto& cg : mem_cgroups_) {
    if (!cg.empty()) rmdir(cg.c_str());  // empty once its process has exited
  }
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

StopSignals::StopSignals(std::function<void(int)> on_signal) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
  sfd_ = signalfd(-1, &s, SFD_CLOEXEC);
  wake_ = eventfd(0, EFD_CLOEXEC);
  if (sfd_ < 0 || wake_ < 0) {
    std::fprintf(stderr, "warning: signalfd/eventfd failed (%s): Ctrl-C stops without cleanup\n",
                 std::strerror(errno));
    pthread_sigmask(SIG_UNBLOCK, &s, nullptr);
    return;
  }
  thread_ = std::thread([this, on_signal = std::move(on_signal)] {
    while (true) {
      pollfd p[2] = {{sfd_, POLLIN, 0}, {wake_, POLLIN, 0}};
      if (poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (p[1].revents) return;
      signalfd_siginfo info;
      if (read(sfd_, &info, sizeof info) == sizeof info)
        on_signal(static_cast<int>(info.ssi_signo));
    }
  });
}

StopSignals::~StopSignals() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    if (write(wake_, &one, sizeof one) != sizeof one) std::perror("eventfd write");
    thread_.join();
  }
  if (sfd_ >= 0) close(sfd_);
  if (wake_ >= 0) close(wake_);
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  pthread_sigmask(SIG_UNBLOCK, &s, nullptr);
}

}  // namespace ll::runtime
