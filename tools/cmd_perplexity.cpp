// lingualinked perplexity: the model's perplexity over a text file, as llama-perplexity computes
// it (src/model/perplexity.h), on this device or over a ring of devices.
#include <chrono>
#include <cstdio>
#include <filesystem>

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
  // A ring instead of this device alone: N local devices, or remote workers.
  int cluster = 0;
  std::string workers, key_file, cuts, cache_dir = ".lingualinked-cache";
  bool insecure = false;
};

std::vector<std::string> split_addresses(const std::string& s) {
  std::vector<std::string> out;
  std::string a;
  for (char c : s + ",") {
    if (c != ',') {
      a += c;
    } else if (!a.empty()) {
      out.push_back(a.find("://") == std::string::npos ? "tcp://" + a : a);
      a.clear();
    }
  }
  return out;
}

// The head of a ring over ZeroMQ; local worker processes are started into *local, which must
// outlive the ring.
Result<std::unique_ptr<runtime::NetRing>> make_ring(const model::Model& m, const Opts& o,
                                                    std::unique_ptr<runtime::LocalCluster>* local) {
  runtime::HeadOptions ho;
  ho.insecure = o.insecure;
  ho.n_ctx = o.ctx;
  ho.threads = o.threads;
  ho.cache_dir = o.cache_dir;
  ho.quiet = o.json;
  if (!o.cuts.empty()) {
    LL_ASSIGN_OR_RETURN(auto ids, parse_ids(o.cuts));
    ho.force_cuts.assign(ids.begin(), ids.end());
  }
  if (o.cluster > 0) {
    std::error_code ec;
    const double model_bytes = static_cast<double>(std::filesystem::file_size(o.model, ec));
    if (ec) return io_error("cannot read model '" + o.model + "'");
    const ClusterSpec spec = uniform_spec(o.cluster - 1, o.threads);
    LL_ASSIGN_OR_RETURN(runtime::LocalClusterOptions lo,
                        local_cluster_options(spec, model_bytes, o.insecure, o.cache_dir));
    LL_ASSIGN_OR_RETURN(*local, runtime::LocalCluster::start(lo));
    ho.workers = (*local)->addresses();
    ho.key = (*local)->key();
  } else {
    ho.workers = split_addresses(o.workers);
    if (ho.workers.empty()) return invalid_argument("--workers needs at least one HOST:PORT");
    if (!o.insecure) {
      if (o.key_file.empty())
        return invalid_argument("--workers needs --key FILE (lingualinked keygen) or --insecure");
      LL_ASSIGN_OR_RETURN(ho.key, net::load_cluster_key(o.key_file));
    }
  }
  return runtime::NetRing::create(m, o.model, ho);
}

void print_progress(int c, int n, double ppl, double chunk_s) {
  std::fprintf(stderr, "[%d/%d] ppl %.4f (%.2f s per chunk)\n", c + 1, n, ppl, chunk_s);
}

int run(const Opts& o) {
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

  std::unique_ptr<model::Engine> engine;
  std::unique_ptr<runtime::LocalCluster> local;  // outlives the ring: declared first
  std::unique_ptr<runtime::NetRing> ring;
  model::ChunkScorer scorer;
  if (o.cluster > 0 || !o.workers.empty()) {
    auto r = make_ring(**m, o, &local);
    if (!r.is_ok()) return fail(r.status());
    ring = std::move(*r);
    if (!o.json) std::fprintf(stderr, "scoring on a ring of %d devices\n", ring->n_devices());
    scorer = runtime::ring_scorer(*ring);
  } else {
    auto e = model::Engine::create(**m, o.threads, std::max(o.ctx, 1));
    if (!e.is_ok()) return fail(e.status());
    engine = std::move(*e);
    scorer = model::engine_scorer(*engine);
  }
  auto t0 = std::chrono::steady_clock::now();
  auto progress = [&](int c, int n, double ppl) {
    const auto t1 = std::chrono::steady_clock::now();
    print_progress(c, n, ppl, std::chrono::duration<double>(t1 - t0).count());
    t0 = t1;
  };
  auto r = model::perplexity(tokens, po, scorer, progress);
  ring.reset();
  local.reset();
  if (!r.is_ok()) return fail(r.status());
  if (o.json) {
    nlohmann::json j;
    j["ppl"] = r->ppl;
    j["ppl_stderr"] = r->ppl_stderr;
    j["chunks"] = r->chunks;
    j["ctx"] = r->n_ctx;
    j["tokens_scored"] = r->tokens_scored;
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("Final estimate: PPL = %.4f +/- %.5f (%d chunks of %d, %lld tokens scored)\n",
                r->ppl, r->ppl_stderr, r->chunks, r->n_ctx,
                static_cast<long long>(r->tokens_scored));
  }
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
      sub.add_option("-t,--threads", o->threads, "Threads (on the head device with a ring)")
          ->capture_default_str()
          ->check(CLI::Range(1, 256));
      sub.add_flag("--json", o->json, "Print one JSON object");
      auto* workers = sub.add_option("--workers", o->workers,
                                     "Score on a ring of these workers HOST:PORT,... (the head)");
      sub.add_option("--cluster", o->cluster,
                     "Score on N devices on this machine: this process and N-1 workers")
          ->check(CLI::Range(1, 64))
          ->excludes(workers);
      sub.add_option("--key", o->key_file, "Cluster key file for --workers");
      sub.add_flag("--insecure", o->insecure, "Links without CurveZMQ encryption");
      sub.add_option("--cuts", o->cuts, "Fixed op cuts, one segment per device (skips planning)");
      sub.add_option("--cache-dir", o->cache_dir, "Cache for weight shares and profiles")
          ->capture_default_str();
      return [o] { return run(*o); };
    });

}  // namespace
}  // namespace ll::tools
