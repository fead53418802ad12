// lingualinked bench: prefill and decode speed on this device, against memory bandwidth.
#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "command.h"
#include "common.h"
#include "core/clock.h"
#include "graph/costs.h"
#include "kernels/bandwidth.h"
#include "kernels/kernels.h"
#include "model/engine.h"

namespace ll::tools {
namespace {

struct Opts {
  std::string model;
  int threads = 1, n_prompt = 128, n_gen = 64, reps = 1;
  bool json = false;
};

int run(const Opts& o) {
  auto m = model::Model::load(o.model, model::tty_progress("loading " + o.model));
  if (!m.is_ok()) return fail(m.status());
  const auto& g = (*m)->graph;
  auto whole = graph::segment_at(g, {});
  auto costs = graph::compute_costs(g, *whole, *(*m)->weights);
  if (!costs.is_ok()) return fail(costs.status());
  double bytes_per_token = 0;
  for (auto& [t, b] : costs->segments[0].weight_bytes_streamed) bytes_per_token += b;

  auto engine = model::Engine::create(**m, o.threads, o.n_prompt + o.n_gen + 1);
  if (!engine.is_ok()) return fail(engine.status());
  std::vector<int32_t> prompt(o.n_prompt);
  for (int i = 0; i < o.n_prompt; ++i) prompt[i] = 1 + (i * 7919) % (g.hp.n_vocab - 1);

  // The bandwidth is probed before the first repetition and after each one, and the best
  // probe is the reference: on a shared machine one probe can land in a neighbour's burst,
  // and a low reference would flatter the achieved fraction.
  double bw_gbs = kernels::measure_read_bandwidth_gbs((*engine)->pool());
  double best_prefill = 1e30, best_decode = 1e30;
  for (int rep = 0; rep < std::max(1, o.reps); ++rep) {
    double t0 = mono_now_s();
    auto r = (*engine)->eval(graph::Batch::prompt(prompt, 0));
    if (!r.is_ok()) return fail(r.status());
    best_prefill = std::min(best_prefill, mono_now_s() - t0);
    t0 = mono_now_s();
    for (int i = 0; i < o.n_gen; ++i) {
      r = (*engine)->eval(graph::Batch::prompt({prompt[i % o.n_prompt]}, o.n_prompt + i));
      if (!r.is_ok()) return fail(r.status());
    }
    best_decode = std::min(best_decode, mono_now_s() - t0);
    (*engine)->release(0);
    bw_gbs = std::max(bw_gbs, kernels::measure_read_bandwidth_gbs((*engine)->pool()));
  }
  const double prefill_tok_s = o.n_prompt / best_prefill;
  const double decode_tok_s = o.n_gen / best_decode;
  const double achieved_gbs = bytes_per_token * decode_tok_s / 1e9;
  nlohmann::json j;
  j["model"] = o.model;
  j["threads"] = o.threads;
  j["isa"] = kernels::isa_name(kernels::best_isa());
  j["n_prompt"] = o.n_prompt;
  j["n_gen"] = o.n_gen;
  j["prefill_tok_s"] = prefill_tok_s;
  j["decode_tok_s"] = decode_tok_s;
  j["prefill_over_decode"] = prefill_tok_s / decode_tok_s;
  j["weight_bytes_per_token"] = bytes_per_token;
  j["achieved_gb_s"] = achieved_gbs;
  j["memory_read_gb_s"] = bw_gbs;
  j["fraction_of_bandwidth"] = achieved_gbs / bw_gbs;
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s\n", j.dump(2).c_str());
  }
  return 0;
}

const bool registered = register_command(
    "bench", "Measure prefill/decode speed and memory bandwidth", [](CLI::App& sub) {
      auto o = std::make_shared<Opts>();
      sub.add_option("-m,--model", o->model, "GGUF model file")->required();
      sub.add_option("-t,--threads", o->threads, "Threads")
          ->capture_default_str()
          ->check(CLI::Range(1, 256));
      sub.add_option("-p,--n-prompt", o->n_prompt, "Prompt tokens for prefill")
          ->capture_default_str()
          ->check(CLI::Range(1, 1 << 16));
      sub.add_option("-n,--n-gen", o->n_gen, "Decode tokens")
          ->capture_default_str()
          ->check(CLI::Range(1, 1 << 16));
      sub.add_option("--reps", o->reps, "Repetitions (best is reported)")->capture_default_str();
      sub.add_flag("--json", o->json, "One-line JSON");
      return [o] { return run(*o); };
    });

}  // namespace
}  // namespace ll::tools
