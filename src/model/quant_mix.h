// Which type each tensor gets when a model is quantized (`quantize`, `synth --type`): one type
// for every matrix, or a mix in the manner of llama.cpp's Q4_K_M/Q5_K_M/Q3_K_M, which spend
// more bits on the tensors that matter most. The choices are documented in
// docs/quantization.md; they need not equal llama.cpp's, any choice gives a valid file.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/types.h"

namespace ll::model {

struct QuantScheme {
  std::string name;  // "Q4_K_M", "Q8_0", ...
  DType base = DType::kF32;
  bool mix = false;
};

// A plain type name (any supported type but the activation-only Q8_K) or Q4_K_M, Q5_K_M, Q3_K_M.
Result<QuantScheme> parse_quant_scheme(const std::string& name);
// "F32, F16, ..., Q3_K_M" for help texts and errors.
std::string quant_scheme_names();

struct TensorType {
  DType type;    // what the tensor is written as
  DType wanted;  // what the scheme asked for; differs when the rows are not whole blocks
};

// The type of a 2-D weight tensor `name` (GGUF names: token_embd, output, blk.N.attn_v, ...)
// whose rows have ne0 elements, in a model of n_layer blocks. 1-D tensors (norms, biases) are
// not asked: they stay F32.
TensorType choose_tensor_type(const QuantScheme& s, const std::string& name, int64_t ne0,
                              int n_layer);

// The type used instead of `wanted` when ne0 is not a multiple of its block size: a 32-element
// type of similar precision for the K-quants, F16 when ne0 is not a multiple of 32 either.
DType fallback_type(DType wanted, int64_t ne0);

}  // namespace ll::model
