// lingualinked generate: single-device text generation, streamed, or one JSON object.
#include <cstdio>
#include <optional>

#include <nlohmann/json.hpp>

#include "command.h"
#include "common.h"
#include "model/engine.h"
#include "model/generate.h"

namespace ll::tools {
namespace {

struct Opts {
  std::string model, prompt, prompt_ids;
  int n_predict = 64, threads = 1, ctx = 0;
  bool json = false, no_bos = false;
  SamplingFlags sampling;
};

int run(const Opts& o) {
  auto m = model::Model::load(o.model, model::tty_progress("loading " + o.model));
  if (!m.is_ok()) return fail(m.status());
  auto tok = tok::Tokenizer::from_gguf(*(*m)->file);
  const tok::Tokenizer* t = tok.is_ok() ? tok->get() : nullptr;
  auto prompt = prompt_tokens(t, o.prompt, o.prompt_ids, o.no_bos);
  if (!prompt.is_ok()) return fail(prompt.status());
  const int ctx =
      o.ctx > 0 ? o.ctx
                : std::min((*m)->hp().n_ctx_train, static_cast<int>(prompt->size()) + o.n_predict);
  auto engine = model::Engine::create(**m, o.threads, std::max(ctx, 1));
  if (!engine.is_ok()) return fail(engine.status());
  model::Sampler sampler(o.sampling.params());
  std::optional<tok::StreamDecoder> dec;
  if (t) {
    dec.emplace(*t);
    dec->prime(*prompt);  // SPM: the first new token keeps its leading space
  }
  std::string text;
  auto on_token = [&](int32_t id) {
    if (!t) return true;
    std::string piece = dec->push(id);
    text += piece;
    if (!o.json) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  };
  auto is_eog = [&](int32_t id) { return t && t->is_eog(id); };
  auto r = model::generate(**engine, *prompt, o.n_predict, sampler, on_token, is_eog);
  if (!r.is_ok()) return fail(r.status());
  if (t) text += dec->flush();
  if (o.json) {
    nlohmann::json j;
    j["prompt_tokens"] = r->prompt_tokens;
    j["tokens"] = r->tokens;
    j["text"] = text;
    j["prefill_tok_s"] = r->prefill_tok_s();
    j["decode_tok_s"] = r->decode_tok_s();
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("\n");
    std::fprintf(stderr, "[%zu prompt tokens, %.1f tok/s prefill; %zu tokens, %.1f tok/s decode]\n",
                 r->prompt_tokens.size(), r->prefill_tok_s(), r->tokens.size(), r->decode_tok_s());
  }
  return 0;
}

const bool registered =
    register_command("generate", "Generate text on this device", [](CLI::App& sub) {
      auto o = std::make_shared<Opts>();
      sub.add_option("-m,--model", o->model, "GGUF model file")->required();
      sub.add_option("-p,--prompt", o->prompt, "Prompt text (\"\" = BOS only)");
      sub.add_option("--prompt-ids", o->prompt_ids, "Prompt as token ids, e.g. 1,2,3");
      sub.add_option("-n,--n-predict", o->n_predict, "Tokens to generate")
          ->capture_default_str()
          ->check(CLI::Range(0, 1 << 20));
      sub.add_option("-t,--threads", o->threads, "Threads")
          ->capture_default_str()
          ->check(CLI::Range(1, 256));
      sub.add_option("--ctx", o->ctx, "Context length (default: prompt + n)");
      sub.add_flag("--no-bos", o->no_bos, "Do not add BOS");
      sub.add_flag("--json", o->json, "Print one JSON object instead of streaming text");
      o->sampling.add(sub);
      return [o] { return run(*o); };
    });

}  // namespace
}  // namespace ll::tools
