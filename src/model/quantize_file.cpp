#include "model/quantize_file.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <vector>

#include "core/thread_pool.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "kernels/kernels.h"

namespace ll::model {
namespace {

bool is_matrix(const gguf::TensorInfo& t) {
  const std::string suffix = ".weight";
  return t.ne.size() >= 2 && t.name.size() > suffix.size() &&
         t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Converts rows [0, rows) of src (type from) to type to, n_cols per row, split across pool.
void convert(const uint8_t* src, DType from, uint8_t* dst, DType to, int64_t rows, int64_t n_cols,
             ThreadPool* pool) {
  const size_t in_rb = row_bytes(from, n_cols), out_rb = row_bytes(to, n_cols);
  if (from == to) {
    std::memcpy(dst, src, in_rb * rows);
    return;
  }
  pool->parallel_range(rows, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> row(n_cols);
    for (int64_t r = r0; r < r1; ++r) {
      type_traits(from).to_float(src + r * in_rb, row.data(), n_cols);
      type_traits(to).from_float(row.data(), dst + r * out_rb, n_cols);
    }
  });
}

}  // namespace

uint32_t llama_file_type(const QuantScheme& s) {
  if (s.mix) {
    if (s.name == "Q3_K_M") return 12;
    if (s.name == "Q4_K_M") return 15;
    if (s.name == "Q5_K_M") return 17;
  }
  // One type throughout; the K-quants without a mix are llama.cpp's "_S" variants.
  static const std::map<DType, uint32_t> plain = {
      {DType::kF32, 0},   {DType::kF16, 1},   {DType::kQ4_0, 2},  {DType::kQ4_1, 3},
      {DType::kQ8_0, 7},  {DType::kQ5_0, 8},  {DType::kQ5_1, 9},  {DType::kQ2_K, 10},
      {DType::kQ3_K, 11}, {DType::kQ4_K, 14}, {DType::kQ5_K, 16}, {DType::kQ6_K, 18},
      {DType::kBF16, 32}};
  auto it = plain.find(s.base);
  return it != plain.end() ? it->second : 0;
}

Status quantize_file(const std::string& in, const std::string& out, const QuantScheme& scheme,
                     const QuantizeOptions& opts) {
  LL_ASSIGN_OR_RETURN(auto file, gguf::File::open(in));
  const std::string arch = file->architecture();
  const int n_layer = static_cast<int>(file->get_int_or(arch + ".block_count", 0));
  const bool has_output = file->find_tensor("output.weight") != nullptr;
  gguf::Writer w;
  for (const auto& [key, value] : file->metadata()) {
    if (key == "general.alignment" || key == "general.file_type" ||
        key == "general.quantization_version")
      continue;
    w.set_value(key, value);
  }
  w.set_u32("general.file_type", llama_file_type(scheme));
  w.set_u32("general.quantization_version", 2);
  w.alignment = static_cast<uint32_t>(file->alignment());
  auto pool = std::make_shared<ThreadPool>(std::max(1, opts.threads));
  const gguf::File* src = file.get();
  for (const gguf::TensorInfo& t : src->tensors()) {
    if (!t.dtype) {
      return unsupported(
          in + ": tensor '" + t.name + "' has ggml type id " + std::to_string(t.type_id) +
          ", which quantize cannot read (supported: " + std::string(supported_type_names()) + ")");
    }
    DType to = *t.dtype;
    if (is_matrix(t)) {
      const std::string role =
          t.name == "token_embd.weight" && !has_output ? "output.weight" : t.name;
      const TensorType choice = choose_tensor_type(scheme, role, t.ne[0], n_layer);
      to = choice.type;
      if (choice.type != choice.wanted && opts.note) {
        opts.note(t.name + ": rows of " + std::to_string(t.ne[0]) + " are not a multiple of " +
                  std::to_string(dtype_info(choice.wanted).block_size) + ", written as " +
                  std::string(dtype_name(to)) + " instead of " +
                  std::string(dtype_name(choice.wanted)));
      }
    }
    const DType from = *t.dtype;
    w.add_tensor(t.name, t.ne, to, [=, &t](uint8_t* dst, size_t) {
      convert(t.data, from, dst, to, t.rows(), t.ne[0], pool.get());
    });
  }
  return w.write(out, opts.progress);
}

}  // namespace ll::model
