#include "runtime/ring.h"

#include <algorithm>
#include <chrono>

namespace ll::runtime {

const char* ring_state_name(RingState s) {
  switch (s) {
    case RingState::kServing:
      return "ok";
    case RingState::kDegraded:
      return "degraded";
    case RingState::kDown:
      return "down";
  }
  return "?";
}

RingHealth Ring::wait_health(const std::function<bool(const RingHealth&)>& pred,
                             double timeout_s) const {
  // Real time, not clock(): a FakeClock does not move while a thread sleeps on the condition.
  const double wait_s = timeout_s > 0 ? std::min(timeout_s, 1e7) : 0.0;  // NaN waits not
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(wait_s));
  for (;;) {
    uint64_t seen;
    {
      std::lock_guard<std::mutex> lock(health_wait_mu_);
      seen = health_generation_;
    }
    RingHealth h = health();
    if (pred(h)) return h;
    std::unique_lock<std::mutex> lock(health_wait_mu_);
    if (!health_cv_.wait_until(lock, deadline, [&] { return health_generation_ != seen; })) {
      lock.unlock();
      return health();
    }
  }
}

void Ring::health_changed() const {
  {
    std::lock_guard<std::mutex> lock(health_wait_mu_);
    ++health_generation_;
  }
  health_cv_.notify_all();
}

Status Ring::start_sequence(int32_t seq, const model::SamplerParams& p,
                            const std::vector<int32_t>& history) {
  LL_ASSIGN_OR_RETURN(SeqRecord rec, table_.open(seq, p, history));
  Status st = send_seq_start(rec);
  if (!st.is_ok()) table_.close(seq);
  return st;
}

Result<TokenEvent> Ring::next_token(double timeout_s) {
  LL_ASSIGN_OR_RETURN(TokenEvent ev, wait_token(timeout_s));
  if (!ev.scored) table_.on_token(ev.seq, ev.token, ev.rng_state);
  return ev;
}

Status Ring::end_sequence(int32_t seq) {
  table_.close(seq);
  return send_seq_end(seq);
}

Result<RingGeneration> generate_on_ring(Ring& ring, const std::vector<int32_t>& prompt,
                                        int n_predict, const model::SamplerParams& sampling,
                                        const std::function<bool(int32_t)>& on_token,
                                        const std::function<bool(int32_t)>& is_eog,
                                        double token_timeout_s) {
  if (prompt.empty()) return invalid_argument("the prompt has no tokens");
  if (static_cast<int>(prompt.size()) + n_predict > ring.n_ctx()) {
    return invalid_argument("prompt (" + std::to_string(prompt.size()) + " tokens) plus " +
                            std::to_string(n_predict) + " new tokens exceeds the context of " +
                            std::to_string(ring.n_ctx()));
  }
  const int32_t seq = ring.new_sequence_id();
  RingGeneration r;
  r.prompt_tokens = prompt;
  if (n_predict == 0) return r;
  LL_RETURN_IF_ERROR(ring.start_sequence(seq, sampling, prompt));
  double t0 = ring.clock().now_s();
  Status st = ring.submit(ring.new_pass(), graph::Batch::prompt(prompt, 0, seq));
  int pos = static_cast<int>(prompt.size());
  while (st.is_ok()) {
    auto ev = ring.next_token(token_timeout_s);
    if (!ev.is_ok()) {
      st = ev.status();
      break;
    }
    const double t = ring.clock().now_s();
    if (r.tokens.empty()) {
      r.prefill_s = t - t0;
    } else {
      r.decode_s += t - t0;
      ++r.decode_evals;
    }
    r.tokens.push_back(ev->token);
    if ((on_token && !on_token(ev->token)) || (is_eog && is_eog(ev->token)) ||
        static_cast<int>(r.tokens.size()) == n_predict) {
      break;
    }
    t0 = ring.clock().now_s();
    st = ring.submit(ring.new_pass(), graph::Batch::prompt({ev->token}, pos++, seq));
  }
  Status end = ring.end_sequence(seq);
  LL_RETURN_IF_ERROR(st);
  LL_RETURN_IF_ERROR(end);
  return r;
}

}  // namespace ll::runtime
