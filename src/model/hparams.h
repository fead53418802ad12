// Model hyperparameters read from GGUF metadata; names follow the GGUF keys. The graph keeps
// only their shape facts (graph::ModelDims); the rest parameterize the architecture's builder.
#pragma once

#include <string>

#include "core/status.h"
#include "gguf/gguf_file.h"
#include "graph/graph.h"

namespace ll::model {

struct HParams : graph::ModelDims {
  int n_rot = 0;  // rope.dimension_count (0: the family has no rope)
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;    // 1 / rope.scaling.factor for linear scaling
  bool rope_freq_factors = false;  // rope_freqs.weight: per-dimension divisors (llama 3.1)
  float norm_eps = 1e-5f;          // rms or layer norm epsilon
  int n_pos = 0;                   // learned positions (position_embd.weight rows), 0 if none
};

// Reads the keys every family shares and validates them; errors name the key. The family's
// own reader (model/arch.h) then adds and checks what only it has.
Result<HParams> read_common_hparams(const gguf::File& f);

// Rope keys (<arch>.rope.*): dimension count, base, and linear scaling where a file declares it.
Status read_rope(const gguf::File& f, HParams* hp);

}  // namespace ll::model
