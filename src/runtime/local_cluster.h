// Worker daemons on this machine as child processes: the emulated devices of `cluster`,
// `serve --cluster` and the end-to-end tests. RAII: the destructor stops every worker, removes
// the cluster's temporary directory (ephemeral key, ready files, logs).
// Readiness is explicit: each worker writes its bound address to a ready file, awaited with a
// deadline (ChildProcess::wait_for_file), never by sleeping.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "net/cluster_key.h"
#include "runtime/child_process.h"

namespace ll::runtime {

struct LocalWorkerSpec {
  std::string name;               // --name; also names its log file and cgroup
  std::vector<std::string> args;  // more worker flags (--threads, --speed, --model, ...)
  // A cgroup v1 memory limit (0 = none), so an overrun is an OOM kill as on a phone. Where
  // cgroups are not writable: a warning, and the worker's own --mem-budget check remains.
  double mem_limit_bytes = 0;
};

struct LocalClusterOptions {
  std::string binary = "/proc/self/exe";  // the lingualinked binary
  std::vector<LocalWorkerSpec> workers;
  bool insecure = false;  // else --key: key_file, or an ephemeral key made for this cluster
  std::string key_file;
  bool logs_to_files = false;  // each worker's stderr to <dir>/<name>.log (else inherited)
  double ready_timeout_s = 60;
};

class LocalCluster {
 public:
  // Starts every worker at once, then waits for each one's ready file; on failure stops the
  // ones started and names the worker that failed.
  static Result<std::unique_ptr<LocalCluster>> start(LocalClusterOptions o);
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  const std::vector<std::string>& addresses() const { return addresses_; }
  std::string address_list(int n) const;  // the first n addresses, comma-separated
  const net::ClusterKey& key() const { return key_; }
  const std::string& key_file() const { return key_file_; }
  const std::string& dir() const { return dir_; }
  int size() const { return static_cast<int>(children_.size()); }
  ChildProcess& worker(int i) { return *children_[i]; }

  // An error naming the first worker that has exited, if any (and an OOM kill as such).
  Status check_alive();
  // Chaos for failover tests: SIGKILL worker i and reap it; start it again on its address (its
  // weight cache kept, so a re-admitted worker loads without shipping), waiting until ready.
  void kill_worker(int i);
  Status restart_worker(int i, double timeout_s = 60);
  // Stops every worker (SIGTERM, SIGKILL after grace_s) and removes the directory.
  // Idempotent and safe from another thread (the SIGINT watcher).
  void stop(double grace_s = 10);

 private:
  LocalCluster() = default;
  Status start_all(const LocalClusterOptions& o);
  // Starts worker i listening on `listen`; its ready file is ready_file(i).
  Status spawn_worker(size_t i, const std::string& listen);
  std::string ready_file(size_t i) const { return dir_ + "/ready-" + std::to_string(i); }
  // The memory cgroup of worker i ("" when none); removed by stop().
  std::string limit_memory(const LocalWorkerSpec& w, int i, pid_t pid);

  std::mutex mu_;
  LocalClusterOptions o_;
  std::string dir_;
  net::ClusterKey key_;
  std::string key_file_;
  std::vector<std::unique_ptr<ChildProcess>> children_;
  std::vector<std::string> names_;
  std::vector<std::string> addresses_;
  std::vector<std::string> mem_cgroups_;  // per worker; "" = no limit
  bool stopped_ = false;
};

// Delivers SIGINT and SIGTERM to a callback on a thread of its own, through a signalfd, so
// the callback runs as ordinary code (no async-signal-safety limits). Construct it before
// starting any thread: the signals are blocked in the constructing thread, and threads
// created later inherit that. The destructor stops the thread and unblocks the signals.
class StopSignals {
 public:
  explicit StopSignals(std::function<void(int)> on_signal);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  int sfd_ = -1, wake_ = -1;
  std::thread thread_;
};

}  // namespace ll::runtime
