// Tokenizer throughput: encodes corpora/tinyshakespeare.txt with the 32k SentencePiece
// vocab and with GPT-2's byte-level BPE, printing one JSON object per vocabulary:
//   {"vocab": "...", "bytes": N, "tokens": N, "seconds": S, "mb_per_s": X, "cpu_seconds": C}
// seconds (wall) and cpu_seconds (process CPU time of the same run) are the best of several
// runs after a warm-up; on a shared, oversubscribed machine wall time overstates the cost,
// and the CPU time shows what the code itself needs. Then the pre-tokenizers alone, one row
// of the table each (no vocabulary needed):
//   {"pre_tokenizer": "...", "bytes": N, "pieces": N, "cpu_seconds": C, "mb_per_cpu_s": X}
// Usage: bench_tokenizer [shared_dir] [runs]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"

#ifndef LL_SHARED_DIR
#define LL_SHARED_DIR "../shared"
#endif

static double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  const std::string shared = argc > 1 ? argv[1] : LL_SHARED_DIR;
  const int runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
  const std::string corpus_path = shared + "/corpora/tinyshakespeare.txt";
  std::ifstream in(corpus_path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "bench_tokenizer: cannot read %s\n", corpus_path.c_str());
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();

  for (const char* name : {"llama-spm", "gpt-2"}) {
    const std::string path = shared + "/vocab/ggml-vocab-" + name + ".gguf";
    auto file = ll::gguf::File::open(path);
    if (!file.is_ok()) {
      std::fprintf(stderr, "bench_tokenizer: %s: %s\n", path.c_str(),
                   file.status().to_string().c_str());
      return 2;
    }
    auto tok = ll::tok::Tokenizer::from_gguf(**file);
    if (!tok.is_ok()) {
      std::fprintf(stderr, "bench_tokenizer: %s: %s\n", path.c_str(),
                   tok.status().to_string().c_str());
      return 2;
    }
    size_t n_tokens = (*tok)->encode(text, false, false).size();  // warm-up
    double best = 1e30, best_cpu = 1e30;
    for (int r = 0; r < runs; ++r) {
      const double c0 = cpu_seconds();
      const auto t0 = std::chrono::steady_clock::now();
      n_tokens = (*tok)->encode(text, false, false).size();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::min(best, s);
      best_cpu = std::min(best_cpu, cpu_seconds() - c0);
    }
    std::printf(
        "{\"vocab\": \"%s\", \"bytes\": %zu, \"tokens\": %zu, \"seconds\": %.4f, "
        "\"mb_per_s\": %.2f, \"cpu_seconds\": %.4f}\n",
        name, text.size(), n_tokens, best, text.size() / 1e6 / best, best_cpu);
  }

  for (const char* name : {"gpt-2", "llama-bpe", "qwen2", "falcon", "starcoder", "bloom", "tekken",
                           "gpt-4o", "deepseek-llm", "deepseek-coder"}) {
    const auto pre = ll::tok::PreTokenizer::from_name(name);
    if (!pre) return 2;
    ll::tok::PreTokenizeScratch scratch;
    std::vector<ll::tok::Span> spans;
    double best_cpu = 1e30;
    for (int r = 0; r <= runs; ++r) {  // run 0 is the warm-up
      spans.clear();
      const double c0 = cpu_seconds();
      ll::tok::pre_tokenize(*pre, text, spans, scratch);
      if (r > 0) best_cpu = std::min(best_cpu, cpu_seconds() - c0);
    }
    std::printf(
        "{\"pre_tokenizer\": \"%s\", \"bytes\": %zu, \"pieces\": %zu, \"cpu_seconds\": %.4f, "
        "\"mb_per_cpu_s\": %.2f}\n",
        name, text.size(), spans.size(), best_cpu, text.size() / 1e6 / best_cpu);
  }
  return 0;
}
