// Re-encodes a GGUF model's weight matrices in another type or mix (`lingualinked quantize`).
#pragma once

#include <functional>
#include <string>

#include "core/status.h"
#include "model/quant_mix.h"

namespace ll::model {

struct QuantizeOptions {
  int threads = 1;
  // Called with one line per notable decision (a tensor that falls back to another type).
  std::function<void(const std::string&)> note;
  std::function<void(uint64_t, uint64_t)> progress;
};

// Writes `out` with all of `in`'s metadata and tensors; every 2-D weight matrix is converted to
// the type choose_tensor_type gives (from any type we read, F32/F16/BF16 being the usual),
// 1-D tensors are copied. In a model without output.weight, token_embd is the output matrix
// and gets its choice.
Status quantize_file(const std::string& in, const std::string& out, const QuantScheme& scheme,
                     const QuantizeOptions& opts = {});

// llama.cpp's general.file_type value for a scheme (what other readers show as the file's type).
uint32_t llama_file_type(const QuantScheme& scheme);

}  // namespace ll::model
