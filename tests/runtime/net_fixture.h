// In-process workers (the real worker code on its own thread, loopback ZeroMQ) and a
// synthetic model, for tests of the networked ring (net_ring_test, failover_test).
#pragma once

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "model/synth.h"
#include "runtime/net_ring.h"
#include "runtime/worker.h"
#include "temp_dir.h"

namespace ll::runtime::testing {

struct InProcessWorker {
  std::atomic<bool> stop{false};
  std::thread thread;
  std::string address;

  // listen: "tcp://127.0.0.1:*" for a free port, or a dead worker's address to restart it.
  InProcessWorker(const std::string& model_path, const std::string& cache_dir,
                  const std::string& listen = "tcp://127.0.0.1:*") {
    std::promise<std::string> listening;
    auto f = listening.get_future();
    thread = std::thread([this, model_path, cache_dir, listen, &listening] {
      WorkerOptions o;
      o.listen = listen;
      // Node names route messages between workers: unique within the process.
      static std::atomic<int> n_workers{0};
      o.name = "worker-" + std::to_string(n_workers++);
      o.insecure = true;
      o.model_path = model_path;
      o.cache_dir = cache_dir;
      Status st =
          run_worker(o, stop, nullptr, [&](const std::string& a) { listening.set_value(a); });
      if (!st.is_ok()) ADD_FAILURE() << st.to_string();
    });
    if (f.wait_for(std::chrono::seconds(20)) != std::future_status::ready) std::abort();
    address = f.get();
  }
  // Stops the worker: it closes its links, which its peers see as the device lost.
  void kill() {
    stop = true;
    if (thread.joinable()) thread.join();
  }
  ~InProcessWorker() { kill(); }
};

struct Fixture {
  std::string path, cache;
  std::unique_ptr<model::Model> model;
  std::vector<std::unique_ptr<InProcessWorker>> workers;

  // own_model: the workers have the model file; without it, each is shipped its share.
  explicit Fixture(int n_workers, model::SynthSpec spec = {}, bool own_model = true) {
    spec.type = DType::kQ8_0;
    path = ::ll::testing::temp_path("net_ring.gguf");
    cache = ::ll::testing::temp_path("net_ring_cache");
    EXPECT_TRUE(model::write_synth(spec, path).is_ok());
    model = model::Model::load(path).value();
    // Without the model, a cache of its own: what it holds is what was shipped to it.
    static std::atomic<int> n_caches{0};
    for (int i = 0; i < n_workers; ++i) {
      workers.push_back(own_model ? std::make_unique<InProcessWorker>(path, cache)
                                  : std::make_unique<InProcessWorker>(
                                        "", cache + "/worker" + std::to_string(n_caches++)));
    }
  }
  Result<std::unique_ptr<NetRing>> ring(const std::vector<int>& cuts, int max_seqs,
                                        HeadOptions o = {}) {
    for (auto& w : workers) o.workers.push_back(w->address);
    o.insecure = true;
    o.n_ctx = 128;
    o.max_seqs = max_seqs;
    o.cache_dir = cache;
    o.force_cuts = cuts;
    o.quiet = true;
    return NetRing::create(*model, path, o);
  }
};

}  // namespace ll::runtime::testing
