// lingualinked perplexity: the model's perplexity over a text file, as llama-perplexity computes
// it (src/model/perplexity.h), on this device or over a ring of devices (runtime/score.h), where
// the figure is the same bit for bit.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cluster_spec.h"
#include "command.h"
#include "common.h"
#include "model/perplexity.h"
#include "net/cluster_key.h"
#include "runtime/local_cluster.h"
#include "runtime/net_ring.h"
#include "runtime/score.h"

namespace ll::tools {
namespace {

struct Opts {
  std::string model, text_file;
  int ctx = 256, chunks = 0, threads = 1;
  bool json = false;
  // A ring instead of this device alone: N devices on this machine (head included, as
  // `cluster` and `serve` count them), or remote workers.
  int n_devices = 1;
  std::string workers, key_file, cuts, cache_dir = ".lingualinked-cache", placement = "plan";
  bool insecure = false;
};

std::vector<std::string> split_addresses(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string a;
  while (std::getline(ss, a, ',')) {
    if (!a.empty()) out.push_back(a.find("://") == std::string::npos ? "tcp://" + a : a);
  }
  return out;
}

// What every ring needs; the workers and the key are the caller's.
runtime::HeadOptions head_options(const Opts& o) {
  runtime::HeadOptions ho;
  ho.insecure = o.insecure;
  ho.n_ctx = o.ctx;
  ho.threads = o.threads;
  ho.cache_dir = o.cache_dir;
  ho.quiet = o.json;
  ho.placement = o.placement;
  // A replay after a lost device rebuilds the KV cache but scores only a pass's last row, so
  // a lost device ends the run with an error naming it instead.
  ho.failover = false;
  return ho;
}

Result<runtime::HeadOptions> remote_head_options(const Opts& o) {
  runtime::HeadOptions ho = head_options(o);
  ho.workers = split_addresses(o.workers);
  if (ho.workers.empty()) return invalid_argument("--workers needs at least one HOST:PORT");
  if (!o.insecure) {
    if (o.key_file.empty())
      return invalid_argument(
          "--workers needs a cluster key: --key FILE (see `lingualinked keygen`), or --insecure");
    LL_ASSIGN_OR_RETURN(ho.key, net::load_cluster_key(o.key_file));
  }
  return ho;
}

// N - 1 worker processes on this machine; stopped when the returned cluster is destroyed.
Result<std::unique_ptr<runtime::LocalCluster>> start_local(const Opts& o) {
  if (o.n_devices < 2 || o.n_devices > 33)
    return invalid_argument("--n-devices must be 1..33 (1: this device alone)");
  std::error_code ec;
  const auto model_bytes = static_cast<double>(std::filesystem::file_size(o.model, ec));
  if (ec) return io_error("cannot read model '" + o.model + "'");
  const ClusterSpec spec = uniform_spec(o.n_devices - 1, o.threads);
  LL_ASSIGN_OR_RETURN(runtime::LocalClusterOptions lo,
                      local_cluster_options(spec, model_bytes, o.insecure, o.cache_dir));
  return runtime::LocalCluster::start(lo);
}

void print_progress(int c, int n, double ppl, double chunk_s) {
  std::fprintf(stderr, "[%d/%d] ppl %.4f (%.2f s per chunk)\n", c + 1, n, ppl, chunk_s);
}

Result<model::PerplexityResult> score_text(const std::vector<int32_t>& tokens,
                                           const model::PerplexityOptions& po,
                                           const model::ChunkScorer& scorer) {
  auto t0 = std::chrono::steady_clock::now();
  auto progress = [&](int c, int n, double ppl) {
    const auto t1 = std::chrono::steady_clock::now();
    print_progress(c, n, ppl, std::chrono::duration<double>(t1 - t0).count());
    t0 = t1;
  };
  return model::perplexity(tokens, po, scorer, progress);
}

// Builds the ring (local workers or remote ones) and scores on it.
// n_devices: the ring's size as deployed (the planner may leave devices out).
Result<model::PerplexityResult> score_on_ring(const model::Model& m, const Opts& o,
                                              const std::vector<int32_t>& tokens,
                                              const model::PerplexityOptions& po,
                                              runtime::LocalCluster** live, std::mutex* mu,
                                              int* n_devices) {
  std::unique_ptr<runtime::LocalCluster> lc;
  runtime::HeadOptions ho = head_options(o);
  if (!o.workers.empty()) {
    LL_ASSIGN_OR_RETURN(ho, remote_head_options(o));
  } else {
    LL_ASSIGN_OR_RETURN(lc, start_local(o));
    std::lock_guard<std::mutex> lk(*mu);
    *live = lc.get();
    ho.workers = lc->addresses();
    ho.key = lc->key();
    ho.cache_dir += "/head";
  }
  if (!o.cuts.empty()) {
    LL_ASSIGN_OR_RETURN(auto ids, parse_ids(o.cuts));
    ho.force_cuts.assign(ids.begin(), ids.end());
  }
  auto ring = runtime::NetRing::create(m, o.model, ho);
  Result<model::PerplexityResult> r =
      ring.is_ok() ? Result<model::PerplexityResult>(internal_error("not scored")) : ring.status();
  if (ring.is_ok()) {
    *n_devices = (*ring)->n_devices();
    if (!o.json) std::fprintf(stderr, "scoring on a ring of %d devices\n", *n_devices);
    r = score_text(tokens, po, runtime::ring_scorer(**ring));
  }
  if (!r.is_ok() && lc) {
    if (Status alive = lc->check_alive(); !alive.is_ok())
      std::fprintf(stderr, "%s\n", alive.message().c_str());  // which device died, and why
  }
  std::lock_guard<std::mutex> lk(*mu);
  *live = nullptr;
  return r;
}

void print_result(const model::PerplexityResult& r, int n_devices, bool json) {
  if (json) {
    nlohmann::json j;
    j["devices"] = n_devices;
    j["ppl"] = r.ppl;
    j["ppl_stderr"] = r.ppl_stderr;
    j["chunks"] = r.chunks;
    j["ctx"] = r.n_ctx;
    j["tokens_scored"] = r.tokens_scored;
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("Final estimate: PPL = %.4f +/- %.5f (%d chunks of %d, %lld tokens scored)\n",
                r.ppl, r.ppl_stderr, r.chunks, r.n_ctx, static_cast<long long>(r.tokens_scored));
  }
}

int run(const Opts& o) {
  const bool on_ring = o.n_devices != 1 || !o.workers.empty();
  if (o.n_devices < 1 || o.n_devices > 33)
    return fail(invalid_argument("--n-devices must be 1..33 (1: this device alone)"));
  // Before any thread starts (see StopSignals): Ctrl-C stops local workers and exits.
  std::mutex mu;
  runtime::LocalCluster* live = nullptr;
  std::optional<runtime::StopSignals> signals;
  if (on_ring && o.workers.empty()) {
    signals.emplace([&](int sig) {
      std::lock_guard<std::mutex> lk(mu);
      std::fprintf(stderr, "signal %d: stopping the local workers\n", sig);
      if (live) live->stop(2);
      _exit(128 + sig);
    });
  }
  auto text = model::read_text_file(o.text_file);
  if (!text.is_ok()) return fail(text.status());
  auto m = model::Model::load(o.model, model::tty_progress("loading " + o.model));
  if (!m.is_ok()) return fail(m.status());
  auto tok = tok::Tokenizer::from_gguf(*(*m)->file);
  if (!tok.is_ok()) return fail(tok.status());
  const tok::Tokenizer& t = **tok;
  // Tokenized once, with BOS when the vocabulary adds one (as llama-perplexity).
  const std::vector<int32_t> tokens = t.encode(*text, /*add_special=*/true, false);
  model::PerplexityOptions po;
  po.n_ctx = o.ctx;
  po.n_chunks = o.chunks;
  po.bos_id = t.add_bos() ? t.bos_id() : -1;
  if (Status st = model::check_perplexity_input(tokens, po); !st.is_ok()) return fail(st);
  if (!o.json)
    std::fprintf(stderr, "%zu tokens, %zu chunks of %d\n", tokens.size(),
                 o.ctx > 0 ? tokens.size() / o.ctx : 0, o.ctx);

  Result<model::PerplexityResult> r = internal_error("not scored");
  int n_devices = 1;
  if (on_ring) {
    r = score_on_ring(**m, o, tokens, po, &live, &mu, &n_devices);
  } else {
    auto e = model::Engine::create(**m, o.threads, std::max(o.ctx, 1));
    if (!e.is_ok()) return fail(e.status());
    r = score_text(tokens, po, model::engine_scorer(**e));
  }
  if (!r.is_ok()) return fail(r.status());
  print_result(*r, n_devices, o.json);
  return 0;
}

const bool registered = register_command(
    "perplexity", "Perplexity of a model over a text file (as llama-perplexity)",
    [](CLI::App& sub) {
      auto o = std::make_shared<Opts>();
      sub.add_option("-m,--model", o->model, "GGUF model file")->required();
      sub.add_option("-f,--file", o->text_file, "Text file to score")->required();
      sub.add_option("--ctx", o->ctx, "Tokens per chunk")->capture_default_str();
      sub.add_option("--chunks", o->chunks, "Chunks to score (default: all)");
      sub.add_option("-t,--threads", o->threads, "Threads (per device with a ring)")
          ->capture_default_str()
          ->check(CLI::Range(1, 256));
      sub.add_flag("--json", o->json, "Print one JSON object");
      auto* workers =
          sub.add_option("--workers", o->workers, "Score on a ring of these workers HOST:PORT,...");
      sub.add_option("--n-devices", o->n_devices,
                     "Devices in all, head included: this process and N-1 worker processes "
                     "(same meaning as in `cluster` and `serve`)")
          ->capture_default_str()
          ->excludes(workers);
      sub.add_option("--key", o->key_file, "Cluster key file for --workers (lingualinked keygen)");
      sub.add_flag("--insecure", o->insecure, "Links without CurveZMQ encryption");
      sub.add_option("--cuts", o->cuts, "Fixed op cuts, one segment per device (skips planning)");
      sub.add_option("--placement", o->placement,
                     "plan (the planner's, which may leave devices out), even (equal layers in "
                     "device order) or memory")
          ->capture_default_str()
          ->check(CLI::IsMember({"plan", "even", "memory"}));
      sub.add_option("--cache-dir", o->cache_dir, "Cache for weight shares and profiles")
          ->capture_default_str();
      return [o] { return run(*o); };
    });

}  // namespace
}  // namespace ll::tools
