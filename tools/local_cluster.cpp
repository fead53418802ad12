#include "local_cluster.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

namespace ll::tools {
namespace {

namespace fs = std::filesystem;

std::vector<pid_t> g_children;
std::vector<std::string> g_cgroups;
std::string g_tmpdir;

void cleanup_all() {
  for (pid_t p : g_children) kill(p, SIGTERM);
  for (pid_t p : g_children) waitpid(p, nullptr, 0);
  g_children.clear();
  // Leave our own cgroup before removing it (the head may have been moved into one).
  if (!g_cgroups.empty()) {
    std::ofstream("/sys/fs/cgroup/cpu/cgroup.procs") << getpid();
  }
  for (const auto& cg : g_cgroups) rmdir(cg.c_str());
  g_cgroups.clear();
  if (!g_tmpdir.empty()) {
    std::error_code ec;
    fs::remove_all(g_tmpdir, ec);
    g_tmpdir.clear();
  }
}

void on_signal(int sig) {
  cleanup_all();
  _exit(128 + sig);
}

// A cgroup v1 cpu quota of `share` cores; "" with a warning when cgroups are not writable.
std::string make_cpu_cgroup(const std::string& name, double share) {
  if (share >= 0.999 && share <= 1.001) return "";
  const std::string dir =
      "/sys/fs/cgroup/cpu/lingualinked-" + std::to_string(getpid()) + "-" + name;
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    std::fprintf(stderr,
                 "warning: cannot create cgroup %s (%s): device '%s' runs at full CPU speed\n",
                 dir.c_str(), std::strerror(errno), name.c_str());
    return "";
  }
  const long period = 100000;
  std::ofstream(dir + "/cpu.cfs_period_us") << period;
  std::ofstream q(dir + "/cpu.cfs_quota_us");
  q << static_cast<long>(share * period);
  q.close();
  if (!q) {
    std::fprintf(stderr,
                 "warning: cannot set the CPU quota of %s: device '%s' runs at full CPU speed\n",
                 dir.c_str(), name.c_str());
    rmdir(dir.c_str());
    return "";
  }
  g_cgroups.push_back(dir);
  return dir;
}

Result<std::string> start_worker(const EmulatedDevice& d, int index, const std::string& key_file,
                                 double budget, const std::string& cache_root) {
  const std::string ready = g_tmpdir + "/ready-" + std::to_string(index);
  const std::string cg = make_cpu_cgroup(d.name, d.cpu_share);
  std::vector<std::string> args = {
      "lingualinked", "worker",
      "--listen",     "tcp://127.0.0.1:0",
      "--name",       d.name,
      "--threads",    std::to_string(d.threads),
      "--ready-file", ready,
      "--cache-dir",  cache_root + "/" + d.name + "-cpu" + std::to_string(d.cpu_share)};
  if (key_file.empty()) {
    args.push_back("--insecure");
  } else {
    args.insert(args.end(), {"--key", key_file});
  }
  if (budget > 0)
    args.insert(args.end(), {"--mem-budget", std::to_string(static_cast<long long>(budget))});
  if (d.latency_ms > 0) args.insert(args.end(), {"--latency-ms", std::to_string(d.latency_ms)});
  if (d.bandwidth_bps > 0)
    args.insert(args.end(),
                {"--bandwidth", std::to_string(static_cast<long long>(d.bandwidth_bps))});
  const pid_t pid = fork();
  if (pid < 0) return internal_error("fork failed");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the cluster command
    // A blocked signal mask survives exec: a parent that sigwait()s (serve) must not leave its
    // workers deaf to the SIGTERM that stops them.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (!cg.empty()) std::ofstream(cg + "/cgroup.procs") << getpid();
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  g_children.push_back(pid);
  for (int i = 0; i < 300; ++i) {
    std::ifstream in(ready);
    std::string addr;
    if (in >> addr) return addr;
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid)
      return unavailable("worker '" + d.name + "' exited during start-up");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return unavailable("worker '" + d.name + "' did not start within 30 s");
}

}  // namespace

Result<LocalWorkers> start_local_workers(const ClusterSpec& spec, double model_bytes, bool insecure,
                                         const std::string& cache_root) {
  char tmpl[] = "/tmp/lingualinked-cluster-XXXXXX";
  if (!mkdtemp(tmpl)) return io_error("cannot create a temporary directory");
  g_tmpdir = tmpl;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  LocalWorkers lw;
  // An ephemeral cluster key: this run's devices, and nobody else, can join.
  if (!insecure) {
    LL_ASSIGN_OR_RETURN(lw.key, net::generate_cluster_key());
    lw.key_file = g_tmpdir + "/cluster.key";
    LL_RETURN_IF_ERROR(net::save_cluster_key(lw.key_file, lw.key, true));
  }
  for (size_t i = 0; i < spec.workers.size(); ++i) {
    auto budget = resolve_budget(spec.workers[i].mem_budget, model_bytes);
    if (!budget.is_ok()) return (cleanup_all(), budget.status());
    auto a = start_worker(spec.workers[i], static_cast<int>(i), lw.key_file, *budget, cache_root);
    if (!a.is_ok()) return (cleanup_all(), a.status());
    lw.addresses.push_back(*a);
  }
  const std::string head_cg =
      make_cpu_cgroup(spec.head.name.empty() ? "head" : spec.head.name, spec.head.cpu_share);
  if (!head_cg.empty()) std::ofstream(head_cg + "/cgroup.procs") << getpid();
  return lw;
}

void stop_local_workers() {
  cleanup_all();
}

}  // namespace ll::tools
