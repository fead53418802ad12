#include "runtime/local_ring.h"

#include <chrono>

#include "core/clock.h"
#include "runtime/wire.h"

namespace ll::runtime {

struct LocalRing::Device {
  std::unique_ptr<DeviceNode> node;
  std::unique_ptr<DeviceOutbox> outbox;
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  std::map<int, std::deque<Envelope>> inbox;  // by sender: each queue is FIFO
  std::map<int, double> last_at;              // by sender: latest delivery time queued
  bool stop = false;
  bool dead = false;
};

class LocalRing::DeviceOutbox : public Outbox {
 public:
  DeviceOutbox(LocalRing* ring, int d) : ring_(ring), d_(d) {}
  Status send_tensors(int to, uint32_t step, const graph::Batch& batch,
                      std::vector<std::pair<int, std::vector<float>>> tensors) override {
    Envelope e;
    e.kind = Envelope::Kind::kTensors;
    e.from = d_;
    e.epoch = ring_->devs_[d_]->node->epoch();
    e.step = step;
    e.batch = batch;
    e.tensors = std::move(tensors);
    ring_->post(to, std::move(e));
    return Status::ok();
  }
  Status send_token(int32_t seq, uint32_t step, int32_t token, uint64_t rng_state) override {
    ring_->push_token(TokenEvent{seq, step, token, rng_state});
    return Status::ok();
  }
  Status send_scores(int32_t seq, uint32_t step, std::vector<double> log_probs) override {
    ring_->push_token(scores_event(seq, step, std::move(log_probs)));
    return Status::ok();
  }

 private:
  LocalRing* ring_;
  int d_;
};

Result<std::unique_ptr<LocalRing>> LocalRing::create(const graph::Graph& g,
                                                     const graph::Segmentation& per_device,
                                                     const graph::WeightSource& weights, int n_ctx,
                                                     int max_seqs, const std::vector<int>& threads,
                                                     LocalRingOptions options) {
  std::unique_ptr<LocalRing> r(new LocalRing());
  r->n_ctx_ = n_ctx;
  r->opt_ = options;
  r->rng_.seed(options.seed);
  r->table().configure(max_seqs, per_device.size());
  for (int i = 0; i < per_device.size(); ++i) {
    const int t = threads.empty() ? 1 : threads[i % threads.size()];
    auto dev = std::make_unique<Device>();
    LL_ASSIGN_OR_RETURN(dev->node,
                        DeviceNode::create(g, per_device, i, weights, n_ctx, max_seqs, t));
    dev->node->set_epoch(r->epoch_);
    dev->outbox = std::make_unique<DeviceOutbox>(r.get(), i);
    r->devs_.push_back(std::move(dev));
  }
  if (options.async) {
    for (int i = 0; i < r->n_devices(); ++i)
      r->devs_[i]->thread = std::thread([p = r.get(), i] { p->device_loop(i); });
  }
  return r;
}

LocalRing::~LocalRing() {
  for (auto& d : devs_) {
    {
      std::lock_guard<std::mutex> lock(d->mu);
      d->stop = true;
    }
    d->cv.notify_all();
  }
  for (auto& d : devs_) {
    if (d->thread.joinable()) d->thread.join();
  }
}

void LocalRing::post(int to, Envelope e) {
  Device& dev = *devs_[to];
  if (!opt_.async) {
    if (dev.dead) return;
    Status st = handle(to, std::move(e));
    if (!st.is_ok()) push_failure(st);
    return;
  }
  double delay = 0;
  if (opt_.max_delay_s > 0) {
    std::lock_guard<std::mutex> lock(rng_mu_);
    delay = std::uniform_real_distribution<double>(0, opt_.max_delay_s)(rng_);
  }
  {
    std::lock_guard<std::mutex> lock(dev.mu);
    if (dev.dead) return;  // lost, as a message to a dead process
    double& last = dev.last_at[e.from];
    e.deliver_at = std::max(mono_now_s() + delay, last);
    last = e.deliver_at;
    dev.inbox[e.from].push_back(std::move(e));
  }
  dev.cv.notify_one();
}

// The queued message due first, if it is due; waits (with the lock released) otherwise.
bool LocalRing::pop_ready(Device& dev, std::unique_lock<std::mutex>& lock, Envelope* out) {
  std::deque<Envelope>* best = nullptr;
  for (auto& [from, q] : dev.inbox) {
    if (!q.empty() && (!best || q.front().deliver_at < best->front().deliver_at)) best = &q;
  }
  if (!best) {
    dev.cv.wait(lock);
    return false;
  }
  const double wait = best->front().deliver_at - mono_now_s();
  if (wait > 0) {
    dev.cv.wait_for(lock, std::chrono::duration<double>(wait));
    return false;
  }
  *out = std::move(best->front());
  best->pop_front();
  return true;
}

void LocalRing::device_loop(int d) {
  Device& dev = *devs_[d];
  std::unique_lock<std::mutex> lock(dev.mu);
  while (!dev.stop) {
    Envelope e;
    if (!pop_ready(dev, lock, &e)) continue;
    lock.unlock();
    Status st = handle(d, std::move(e));
    if (!st.is_ok()) push_failure(st);
    lock.lock();
  }
}

Status LocalRing::handle(int d, Envelope e) {
  static const char* kNames[] = {"pass", "STEP", "SEQ_START", "SEQ_END"};
  DeviceNode& n = *devs_[d]->node;
  const std::string from = e.from < 0 ? "the head" : "device " + std::to_string(e.from);
  auto accept = n.accepts(e.epoch, kNames[static_cast<int>(e.kind)], from);
  if (!accept.is_ok()) return accept.status();
  if (!*accept) return Status::ok();
  Status st;
  switch (e.kind) {
    case Envelope::Kind::kPass:
      n.submit(e.step, e.batch);
      st = n.run_ready(devs_[d]->outbox.get());
      break;
    case Envelope::Kind::kTensors:
      for (auto& [t, data] : e.tensors) {
        st = n.receive(e.step, e.batch, t, std::move(data));
        if (!st.is_ok()) break;
      }
      if (st.is_ok()) st = n.run_ready(devs_[d]->outbox.get());
      break;
    case Envelope::Kind::kSeqStart:
      st = n.start_sequence(e.start);
      // Along the sequential links, ahead of the sequence's first pass on each of them.
      if (st.is_ok() && !n.is_tail()) {
        e.from = d;
        post(d + 1, std::move(e));
      }
      break;
    case Envelope::Kind::kSeqEnd:
      st = forward_seq_end(d, e);
      break;
  }
  if (!st.is_ok())
    return Status(st.code(), "device " + std::to_string(d) + " failed: " + st.message());
  return st;
}

// The end follows the sequence's last pass on every link its activations take.
Status LocalRing::forward_seq_end(int d, const Envelope& e) {
  DeviceNode& n = *devs_[d]->node;
  n.end_sequence(e.start.seq);
  for (int to : n.consumers()) {
    Envelope f = e;
    f.from = d;
    post(to, std::move(f));
  }
  return Status::ok();
}

Status LocalRing::submit(uint32_t step, const graph::Batch& batch) {
  Envelope e;
  e.kind = Envelope::Kind::kPass;
  e.epoch = epoch_;
  e.step = step;
  e.batch = batch;
  post(0, std::move(e));
  return Status::ok();
}

Status LocalRing::send_seq_start(const SeqRecord& rec) {
  Envelope e;
  e.kind = Envelope::Kind::kSeqStart;
  e.epoch = epoch_;
  e.start = seq_start_info(rec, 0);
  post(0, std::move(e));
  return Status::ok();
}

Status LocalRing::send_seq_end(int32_t seq) {
  Envelope e;
  e.kind = Envelope::Kind::kSeqEnd;
  e.epoch = epoch_;
  e.start.seq = seq;
  post(0, std::move(e));
  return Status::ok();
}

void LocalRing::push_token(const TokenEvent& ev) {
  {
    std::lock_guard<std::mutex> lock(tok_mu_);
    tokens_.push_back(ev);
  }
  tok_cv_.notify_all();
}

void LocalRing::push_failure(const Status& st) {
  {
    std::lock_guard<std::mutex> lock(tok_mu_);
    failures_.push_back(st);
  }
  tok_cv_.notify_all();
}

Result<TokenEvent> LocalRing::wait_token(double timeout_s) {
  std::unique_lock<std::mutex> lock(tok_mu_);
  auto ready = [this] { return !tokens_.empty() || !failures_.empty(); };
  if (opt_.async) tok_cv_.wait_for(lock, std::chrono::duration<double>(timeout_s), ready);
  if (!failures_.empty()) {
    Status st = failures_.front();
    failures_.pop_front();
    return st;
  }
  if (tokens_.empty()) return unavailable("timeout: no token pending in the local ring");
  TokenEvent e = tokens_.front();
  tokens_.pop_front();
  return e;
}

void LocalRing::kill_device(int device) {
  Device& dev = *devs_[device];
  {
    std::lock_guard<std::mutex> lock(dev.mu);
    dev.dead = dev.stop = true;
    dev.inbox.clear();
  }
  dev.cv.notify_all();
  if (dev.thread.joinable()) dev.thread.join();
  // Not kUnavailable: that code means "nothing yet" to the token loops.
  push_failure(internal_error("device " + std::to_string(device) + " lost: its link closed"));
}

void LocalRing::inject_tensors(int from, int to, uint32_t epoch, uint32_t step,
                               const graph::Batch& batch,
                               std::vector<std::pair<int, std::vector<float>>> tensors) {
  Envelope e;
  e.kind = Envelope::Kind::kTensors;
  e.from = from;
  e.epoch = epoch;
  e.step = step;
  e.batch = batch;
  e.tensors = std::move(tensors);
  post(to, std::move(e));
}

void LocalRing::set_epoch(uint32_t epoch) {
  epoch_ = epoch;
  // Only safe while no device thread handles a message: tests call it between generations.
  for (auto& d : devs_) {
    std::lock_guard<std::mutex> lock(d->mu);
    d->node->set_epoch(epoch);
  }
}

}  // namespace ll::runtime
