// lingualinked quantize: re-encode a GGUF model's weight matrices in another type or mix.
#include <chrono>
#include <cstdio>
#include <thread>

#include "command.h"
#include "common.h"
#include "model/model.h"
#include "model/quantize_file.h"

namespace ll::tools {
namespace {

struct Opts {
  std::string in, out, type;
  int threads = 0;
};

int run(const Opts& o) {
  auto scheme = model::parse_quant_scheme(o.type);
  if (!scheme.is_ok()) return fail(scheme.status());
  model::QuantizeOptions q;
  q.threads = o.threads > 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency());
  q.note = [](const std::string& line) { std::fprintf(stderr, "note: %s\n", line.c_str()); };
  q.progress = model::tty_progress("writing " + o.out);
  auto t0 = std::chrono::steady_clock::now();
  Status st = model::quantize_file(o.in, o.out, *scheme, q);
  if (!st.is_ok()) return fail(st);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "wrote %s (%s) in %.1f s\n", o.out.c_str(), scheme->name.c_str(), s);
  return 0;
}

const bool registered = register_command(
    "quantize", "Re-encode a model's weight matrices in another type", [](CLI::App& sub) {
      auto o = std::make_shared<Opts>();
      sub.add_option("-m,--model", o->in, "Input GGUF (F32, F16 or BF16 weights)")->required();
      sub.add_option("-o,--output", o->out, "Output GGUF path")->required();
      sub.add_option("--type", o->type, model::quant_scheme_names())->required();
      sub.add_option("--threads", o->threads, "Threads (default: all cores)");
      return [o] { return run(*o); };
    });

}  // namespace
}  // namespace ll::tools
