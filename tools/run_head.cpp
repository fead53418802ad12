#include "run_head.h"

#include <cstdio>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "plan/units.h"
#include "runtime/net_ring.h"
#include "tokenizer/tokenizer.h"

namespace ll::tools {

void HeadFlags::add(CLI::App& sub) {
  sub.add_option("-m,--model", model, "GGUF model file")->required();
  sub.add_option("-p,--prompt", prompt, "Prompt text (\"\" = BOS only)");
  sub.add_option("--prompt-ids", prompt_ids, "Prompt as token ids");
  sub.add_option("-n,--n-predict", n_predict, "Tokens to generate")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  sub.add_option("--objective", objective, "latency or throughput")->capture_default_str();
  sub.add_option("-t,--threads", threads, "Threads on the head device")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  sub.add_option("--ctx", ctx, "Context length (default: prompt + n, at least 256)");
  sub.add_option("--max-seqs", max_seqs, "Concurrent sequences the KV caches hold")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  sub.add_option("--mem-budget", mem_budget, "Head device memory budget");
  sub.add_option("--cache-dir", cache_dir, "Head cache (weight shares, profiles)")
      ->capture_default_str();
  sub.add_option("--cuts", cuts, "Fixed op cuts, one segment per device (skips planning)");
  sub.add_option("--placement", placement,
                 "plan (the planner's), even (equal layers in device order) or memory (layers in "
                 "proportion to memory budgets)")
      ->capture_default_str()
      ->check(CLI::IsMember({"plan", "even", "memory"}));
  sub.add_flag("--insecure", insecure, "Run without CurveZMQ encryption");
  sub.add_flag("--no-bos", no_bos, "Do not add BOS");
  sub.add_flag("--json", json, "Print one JSON object");
  sub.add_flag("--show-plan", show_plan, "Print the plan before generating");
  sub.add_flag("--chat", chat, "Interactive: read prompts from stdin, one per line");
  sub.add_option("--heartbeat", heartbeat_s,
                 "Seconds without any traffic after which a worker is lost")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 60.0));
  sub.add_option("--rebalance", rebalance,
                 "on: move work off devices that become slow while generating "
                 "(docs/balance.md)")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off"}));
  sub.add_option("--streams", streams,
                 "Concurrent requests with the same prompt (seeds seed, seed+1, ...); --json then "
                 "reports the aggregate decode rate")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  sub.add_option("--timeline", timeline_s,
                 "With --streams and --json: each device's forward passes over the last S seconds "
                 "before the run is halfway (\"timeline\")")
      ->check(CLI::Range(0.0, 60.0));
  sub.add_flag("--no-failover", no_failover,
               "A lost worker ends the run instead of being replanned around");
  sampling.add(sub);
}

nlohmann::json devices_json(const nlohmann::json& stats, double n_steps) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& d : stats) {
    const double steps = std::max(1.0, d.value("steps", 1.0));
    out.push_back({{"name", d.value("name", "")},
                   {"stage_ms", d.value("steps", 0) > 0 ? 1e3 * d.value("busy_s", 0.0) / steps : 0},
                   {"bytes_sent_per_token", d.value("bytes_sent", 0.0) / n_steps},
                   {"bytes_received_per_token", d.value("bytes_received", 0.0) / n_steps}});
  }
  return out;
}

nlohmann::json timeline_json(const nlohmann::json& stats, double window_s) {
  double t_end = 0;
  for (const auto& d : stats) {
    for (const auto& p : d.value("trace", nlohmann::json::array()))
      t_end = std::max(t_end, p[1].get<double>());
  }
  nlohmann::json out = {{"window_s", window_s}, {"devices", nlohmann::json::array()}};
  const double t0 = t_end - window_s;  // the last seconds before the stats were taken
  for (const auto& d : stats) {
    nlohmann::json passes = nlohmann::json::array();
    for (const auto& p : d.value("trace", nlohmann::json::array())) {
      const double a = p[0].get<double>(), b = p[1].get<double>();
      if (b > t0) passes.push_back({std::max(0.0, a - t0), b - t0});
    }
    out["devices"].push_back({{"name", d.value("name", "")}, {"passes", passes}});
  }
  return out;
}

int run_head(const HeadFlags& f, const std::vector<std::string>& workers,
             const net::ClusterKey& key) {
  auto m = model::Model::load(f.model, model::tty_progress("loading " + f.model));
  if (!m.is_ok()) return fail(m.status());
  auto tok = tok::Tokenizer::from_gguf(*(*m)->file);
  const tok::Tokenizer* t = tok.is_ok() ? tok->get() : nullptr;
  auto objective = plan::objective_from_name(f.objective);
  if (!objective) return fail(invalid_argument("--objective must be latency or throughput"));
  auto prompt = prompt_tokens(t, f.prompt, f.prompt_ids, f.no_bos);
  if (!prompt.is_ok()) return fail(prompt.status());

  runtime::HeadOptions ho;
  ho.workers = workers;
  ho.key = key;
  ho.insecure = f.insecure;
  ho.objective = *objective;
  ho.threads = f.threads;
  ho.max_seqs = std::max(f.max_seqs, f.streams);
  ho.cache_dir = f.cache_dir;
  ho.quiet = f.json;
  ho.added_latency_s = f.head_latency_s;
  ho.bandwidth_bytes_per_s = f.head_bandwidth;
  ho.latency_p95_s = f.head_latency_p95_s;
  ho.loss_rate = f.head_loss;
  ho.speed = f.head_speed;
  ho.speed_schedule = f.head_schedule;
  ho.placement = f.placement;
  ho.display_name = f.head_name;
  ho.failover = !f.no_failover;
  ho.rebalance = f.rebalance == "on";
  ho.heartbeat_timeout_s = f.heartbeat_s;
  ho.attn_pos = static_cast<double>(prompt->size()) + f.n_predict / 2.0;
  ho.n_ctx = f.ctx > 0 ? f.ctx
                       : std::min((*m)->hp().n_ctx_train,
                                  std::max(256, static_cast<int>(prompt->size()) + f.n_predict));
  if (!f.mem_budget.empty()) {
    auto b = plan::parse_size(f.mem_budget);
    if (!b.is_ok()) return fail(b.status());
    ho.mem_budget_bytes = *b;
  }
  if (!f.cuts.empty()) {
    auto ids = parse_ids(f.cuts);
    if (!ids.is_ok()) return fail(ids.status());
    ho.force_cuts.assign(ids->begin(), ids->end());
  }
  auto ring = runtime::NetRing::create(**m, f.model, ho);
  if (!ring.is_ok()) return fail(ring.status());
  if (f.show_plan && !f.json) std::fprintf(stderr, "%s\n", (*ring)->plan_text().c_str());

  auto generate_one = [&](const std::vector<int32_t>& ids, bool json) -> int {
    std::optional<tok::StreamDecoder> dec;
    if (t) {
      dec.emplace(*t);
      dec->prime(ids);
    }
    std::string text;
    auto on_token = [&](int32_t id) {
      if (!dec) return true;
      std::string piece = dec->push(id);
      text += piece;
      if (!json) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
      }
      return true;
    };
    auto is_eog = [&](int32_t id) { return t && t->is_eog(id); };
    auto r =
        runtime::generate_on_ring(**ring, ids, f.n_predict, f.sampling.params(), on_token, is_eog);
    if (!r.is_ok()) return fail(r.status());
    if (dec) text += dec->flush();
    if (!json) {
      std::printf("\n");
      std::fprintf(
          stderr,
          "[%zu prompt tokens, %.1f tok/s prefill; %zu tokens, %.1f tok/s decode on %d devices]\n",
          r->prompt_tokens.size(), r->prefill_tok_s(), r->tokens.size(), r->decode_tok_s(),
          (*ring)->n_devices());
      return 0;
    }
    nlohmann::json j;
    j["prompt_tokens"] = r->prompt_tokens;
    j["tokens"] = r->tokens;
    j["text"] = text;
    j["prefill_tok_s"] = r->prefill_tok_s();
    j["decode_tok_s"] = r->decode_tok_s();
    j["predicted_tok_s"] = (*ring)->predicted_tok_s();
    j["plan"] = (*ring)->plan_json();
    auto stats = (*ring)->device_stats();
    const double n_steps = 1.0 + r->decode_evals;
    double stage_sum = 0;
    if (stats.is_ok()) {
      j["devices"] = devices_json(*stats, n_steps);
      for (const auto& d : j["devices"]) stage_sum += d.value("stage_ms", 0.0) / 1e3;
    }
    // What a decode step costs beyond the devices' own compute, per hop of the ring.
    if (r->decode_evals > 0) {
      const double per_token = r->decode_s / r->decode_evals;
      j["hop_overhead_us"] = 1e6 * std::max(0.0, per_token - stage_sum) / (*ring)->n_devices();
    }
    j["weight_bytes_sent"] = (*ring)->weight_bytes_sent();
    const runtime::RingHealth h = (*ring)->health();
    j["failovers"] = h.failovers;
    j["failover_s"] = h.failover_s;
    j["moves"] = h.moves;
    for (const auto& mv : h.move_log) j["move_log"].push_back(mv.text);
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  };

  if (f.streams > 1) {
    if (f.chat) return fail(invalid_argument("--streams and --chat do not go together"));
    return run_streams(f, **ring, *prompt, t);
  }
  if (!f.chat) return generate_one(*prompt, f.json);
  std::string line;
  std::fprintf(stderr, "> ");
  while (std::getline(std::cin, line)) {
    auto ids = prompt_tokens(t, line, "", f.no_bos);
    if (!ids.is_ok()) return fail(ids.status());
    if (int rc = generate_one(*ids, false); rc != 0) return rc;
    std::fprintf(stderr, "> ");
  }
  return 0;
}

}  // namespace ll::tools
