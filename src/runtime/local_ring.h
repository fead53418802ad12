// A ring of DeviceNodes in one process: the reference the networked ring is compared with,
// and the runtime's test double. Synchronous by default (a message is handled when it is
// sent); asynchronous on request: a thread per device and queued delivery with random delays
// that keep ZeroMQ's one guarantee (per sender-receiver pair, first in first out), so tests
// see the reorderings a real network produces. Devices can be killed, and messages of an old
// epoch injected, to test failures deterministically.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "runtime/device_node.h"
#include "runtime/ring.h"

namespace ll::runtime {

struct LocalRingOptions {
  bool async = false;      // a thread per device, queued delivery
  double max_delay_s = 0;  // async: every message is held back a uniform [0, max) delay
  uint64_t seed = 1;       // async: the delays' random source
};

class LocalRing : public Ring {
 public:
  static Result<std::unique_ptr<LocalRing>> create(const graph::Graph& g,
                                                   const graph::Segmentation& per_device,
                                                   const graph::WeightSource& weights, int n_ctx,
                                                   int max_seqs, const std::vector<int>& threads,
                                                   LocalRingOptions options = {});
  ~LocalRing() override;

  Status submit(uint32_t step, const graph::Batch& batch) override;
  int n_ctx() const override { return n_ctx_; }
  int n_devices() const { return static_cast<int>(devs_.size()); }
  int live_devices() const override { return n_devices(); }

  // Test double. The device stops as if its process died: queued and later messages to it are
  // lost, and the head hears of it as a lost link, as over ZeroMQ.
  void kill_device(int device);
  // Test double: a forward pass's tensors sent to `to` as if by device `from` in `epoch`.
  void inject_tensors(int from, int to, uint32_t epoch, uint32_t step, const graph::Batch& batch,
                      std::vector<std::pair<int, std::vector<float>>> tensors);
  // Every device and every later message moves to this deployment epoch.
  void set_epoch(uint32_t epoch);
  uint32_t epoch() const { return epoch_; }

 protected:
  Status send_seq_start(const SeqRecord& rec) override;
  Result<TokenEvent> wait_token(double timeout_s) override;
  Status send_seq_end(int32_t seq) override;

 private:
  struct Envelope {
    enum class Kind { kPass, kTensors, kSeqStart, kSeqEnd } kind = Kind::kPass;
    int from = -1;  // -1: the head's token loop
    uint32_t epoch = 0;
    uint32_t step = 0;
    graph::Batch batch;
    std::vector<std::pair<int, std::vector<float>>> tensors;
    SeqStartInfo start;
    double deliver_at = 0;
  };
  struct Device;
  class DeviceOutbox;

  LocalRing() = default;
  void post(int to, Envelope e);
  Status handle(int d, Envelope e);
  Status forward_seq_end(int d, const Envelope& e);
  void device_loop(int d);
  bool pop_ready(Device& dev, std::unique_lock<std::mutex>& lock, Envelope* out);
  void push_token(const TokenEvent& ev);
  void push_failure(const Status& st);

  std::vector<std::unique_ptr<Device>> devs_;
  LocalRingOptions opt_;
  int n_ctx_ = 0;
  std::atomic<uint32_t> epoch_{1};
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
  std::mutex tok_mu_;
  std::condition_variable tok_cv_;
  std::deque<TokenEvent> tokens_;
  std::deque<Status> failures_;
};

}  // namespace ll::runtime
