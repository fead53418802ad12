// lingualinked synth: random-weight GGUF models of realistic shape.
#include <chrono>
#include <cstdio>

#include "command.h"
#include "common.h"
#include "model/quant_mix.h"
#include "model/synth.h"

namespace ll::tools {
namespace {

struct Opts {
  std::string preset = "tiny", type = "F32", out, arch = "llama";
  uint64_t seed = 42;
};

int run(const Opts& o) {
  auto spec = model::synth_preset(o.arch, o.preset);
  if (!spec.is_ok()) return fail(spec.status());
  auto scheme = model::parse_quant_scheme(o.type);
  if (!scheme.is_ok()) return fail(scheme.status());
  if (scheme->base == DType::kBF16) return fail(invalid_argument("synth does not write BF16"));
  spec->type = scheme->base;
  if (scheme->mix) spec->mix = scheme->name;
  spec->seed = o.seed;
  auto t0 = std::chrono::steady_clock::now();
  Status st = model::write_synth(*spec, o.out, model::tty_progress("writing " + o.out));
  if (!st.is_ok()) return fail(st);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "wrote %s (%s %s, %d layers, n_embd %d) in %.1f s\n", o.out.c_str(),
               o.preset.c_str(), o.type.c_str(), spec->n_layer, spec->n_embd, s);
  return 0;
}

const bool registered = register_command("synth", "Write a random-weight model", [](CLI::App& sub) {
  auto o = std::make_shared<Opts>();
  sub.add_option("--preset", o->preset, "tiny, 110m or 1b (shapes typical of the arch)")
      ->capture_default_str();
  sub.add_option("--type", o->type, model::quant_scheme_names())->capture_default_str();
  sub.add_option("--arch", o->arch, "llama, qwen2, gpt2, bloom, phi3 or falcon")
      ->capture_default_str();
  sub.add_option("--seed", o->seed, "Seed")->capture_default_str();
  sub.add_option("-o,--output", o->out, "Output GGUF path")->required();
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace ll::tools
