// Model hyperparameters read from GGUF metadata; names follow the GGUF keys.
#pragma once

#include <string>

#include "core/status.h"
#include "gguf/gguf_file.h"

namespace ll::graph {

struct HParams {
  std::string arch;  // general.architecture
  int n_vocab = 0;
  int n_ctx_train = 0;
  int n_embd = 0;
  int n_layer = 0;
  int n_ff = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;  // n_embd / n_head unless attention.key_length says otherwise
  int n_rot = 0;     // rope.dimension_count
  float rope_freq_base = 10000.0f;
  float norm_eps = 1e-5f;    // rms or layer norm epsilon
  bool tied_output = false;  // output.weight absent: LM head uses token_embd

  int n_embd_kv() const { return n_head_kv * head_dim; }
};

// Reads and validates hyperparameters; errors name the missing or inconsistent key.
Result<HParams> read_hparams(const gguf::File& file);

}  // namespace ll::graph
