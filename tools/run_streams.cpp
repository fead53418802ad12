// `cluster`/`run` with --streams N: N requests at once through the scheduler, as a server's
// clients would send them; the aggregate decode rate against the planner's prediction for N
// sequences in flight (bench/paper.sh's "multi-threaded" figures).
#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <mutex>

#include "run_head.h"
#include "runtime/scheduler.h"
#include "runtime/stream_rates.h"

namespace ll::tools {

namespace {

// The deployed layout's entry of the plan JSON: the plan, or the baseline that was run.
const nlohmann::json* deployed_plan(const nlohmann::json& plan, const std::string& placement) {
  if (placement != "plan" && plan.contains("baselines") && plan["baselines"].contains(placement))
    return &plan["baselines"][placement];
  return plan.contains("plan") ? &plan["plan"] : nullptr;
}

}  // namespace

double predicted_for_streams(const nlohmann::json& plan, const std::string& placement,
                             int streams) {
  const nlohmann::json* p = deployed_plan(plan, placement);
  if (!p) return 0;
  return streams <= 1 ? p->value("single_stream_tok_s", 0.0)
                      : p->value("pipelined_tok_s_at_n_seqs", 0.0);
}

int run_streams(const HeadFlags& f, runtime::NetRing& ring, const std::vector<int32_t>& prompt,
                const tok::Tokenizer* t) {
  runtime::SchedulerOptions so;
  so.max_seqs = f.streams;
  runtime::Scheduler sched(ring, so);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::vector<int32_t>> tokens(f.streams);
  std::vector<std::string> errors;
  runtime::StreamRates rates(f.streams);
  int n_done = 0;
  const size_t halfway = static_cast<size_t>(f.streams) * f.n_predict / 2;
  std::future<Result<nlohmann::json>> timeline;  // device stats taken mid-run
  if (f.timeline_s > 0) ring.set_stats_trace_s(f.timeline_s);
  for (int i = 0; i < f.streams; ++i) {
    runtime::GenRequest g;
    g.prompt = prompt;
    g.n_predict = f.n_predict;
    g.sampling = f.sampling.params();
    g.sampling.seed += i;  // seeded streams differ; greedy ones are the same text
    g.on_token = [&, i](int32_t id) {
      const double now = mono_now_s();
      std::lock_guard<std::mutex> lock(mu);
      rates.on_token(i, now);
      tokens[i].push_back(id);
      if (rates.n_tokens() == halfway && f.timeline_s > 0)
        timeline = std::async(std::launch::async, [&ring] { return ring.device_stats(); });
      return true;
    };
    g.on_done = [&](const Status& st, const std::string&) {
      std::lock_guard<std::mutex> lock(mu);
      if (!st.is_ok()) errors.push_back(st.to_string());
      ++n_done;
      cv.notify_all();
    };
    if (auto id = sched.submit(std::move(g)); !id.is_ok()) return fail(id.status());
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return n_done == f.streams; });
  if (!errors.empty()) return fail(internal_error("a stream failed: " + errors.front()));
  const double decode_tok_s = rates.decode_tok_s(), steady_tok_s = rates.steady_tok_s();
  if (!f.json) {
    std::fprintf(stderr,
                 "[%d streams: %zu tokens, %.1f tok/s decode in all, %.1f while all generated, on "
                 "%d devices]\n",
                 f.streams, rates.n_tokens(), decode_tok_s, steady_tok_s, ring.n_devices());
    return 0;
  }
  nlohmann::json j;
  j["streams"] = f.streams;
  j["placement"] = f.placement;
  j["decode_tok_s"] = decode_tok_s;
  // null when the streams hardly overlapped (StreamRates::steady_tok_s)
  j["steady_tok_s"] = steady_tok_s > 0 ? nlohmann::json(steady_tok_s) : nlohmann::json();
  j["predicted_tok_s"] = predicted_for_streams(ring.plan_json(), f.placement, f.streams);
  const runtime::RingHealth h = ring.health();
  j["moves"] = h.moves;  // a balancer's moves change the placement the prediction was for
  j["move_log"] = nlohmann::json::array();
  for (const auto& mv : h.move_log) j["move_log"].push_back(mv.text);
  j["tokens"] = tokens;
  if (t) j["text"] = t->decode(tokens[0]);
  j["plan"] = ring.plan_json();
  auto stats = ring.device_stats();
  if (stats.is_ok()) j["devices"] = devices_json(*stats, 1.0 * rates.n_tokens() / f.streams);
  if (timeline.valid()) {
    auto tl = timeline.get();
    if (tl.is_ok()) j["timeline"] = timeline_json(*tl, f.timeline_s);
  }
  std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return 0;
}

}  // namespace ll::tools
