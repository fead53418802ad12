// lingualinked perplexity: the model's perplexity over a text file, as llama-perplexity computes
// it (src/model/perplexity.h), on this device.
#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "command.h"
#include "common.h"
#include "model/perplexity.h"

namespace ll::tools {
namespace {

struct Opts {
  std::string model, text_file;
  int ctx = 256, chunks = 0, threads = 1;
  bool json = false;
};

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

  auto engine = model::Engine::create(**m, o.threads, std::max(o.ctx, 1));
  if (!engine.is_ok()) return fail(engine.status());
  const model::ChunkScorer scorer = model::engine_scorer(**engine);
  auto t0 = std::chrono::steady_clock::now();
  auto progress = [&](int c, int n, double ppl) {
    const auto t1 = std::chrono::steady_clock::now();
    print_progress(c, n, ppl, std::chrono::duration<double>(t1 - t0).count());
    t0 = t1;
  };
  auto r = model::perplexity(tokens, po, scorer, progress);
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

const bool registered =
    register_command("perplexity", "Perplexity of a model over a text file (as llama-perplexity)",
                     [](CLI::App& sub) {
                       auto o = std::make_shared<Opts>();
                       sub.add_option("-m,--model", o->model, "GGUF model file")->required();
                       sub.add_option("-f,--file", o->text_file, "Text file to score")->required();
                       sub.add_option("--ctx", o->ctx, "Tokens per chunk")->capture_default_str();
                       sub.add_option("--chunks", o->chunks, "Chunks to score (default: all)");
                       sub.add_option("-t,--threads", o->threads, "Threads")
                           ->capture_default_str()
                           ->check(CLI::Range(1, 256));
                       sub.add_flag("--json", o->json, "Print one JSON object");
                       return [o] { return run(*o); };
                     });

}  // namespace
}  // namespace ll::tools
