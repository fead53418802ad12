// Weight-format conversion and the matrix-vector / matrix-matrix products of the forward pass.
//
// Determinism contract (the distributed runtime compares and splices results from devices):
//  * every output element is computed by one thread with a fixed reduction order, so results
//    are bit-identical for any thread count and on every run with the same Isa;
//  * row b of matmul is bit-identical to matvec on x[b] with the same Isa;
//  * Isa::kScalar uses only IEEE float operations without fused multiply-add, so it gives the
//    same bits on every platform; Isa::kNeon (ARM64) follows the same operation order without
//    fused operations and gives those bits too; AVX2 differs within rounding tolerance.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "core/types.h"

namespace ll::kernels {

enum class Isa { kScalar, kAvx2, kNeon, kBest };

// The fastest Isa this CPU supports. The environment variable LL_ISA=scalar|avx2|neon
// overrides it (if supported), e.g. to make heterogeneous devices produce identical bits.
Isa best_isa();
bool isa_supported(Isa isa);
const char* isa_name(Isa isa);
// kBest -> best_isa(); an unsupported Isa falls back to kScalar.
Isa resolve_isa(Isa isa);

// Converts n floats to type t (GGUF/ggml layouts; for Q8_0/Q4_0 n must be a multiple of 32).
// Q8_0: d = amax / 127, q = round(x / d). Q4_0: d = max / -8 where max is the signed value of
// largest magnitude, q = min(15, trunc(x / d + 8.5)). Matches ggml's reference quantizers.
void quantize_row(DType t, const float* x, void* out, int64_t n);
void dequantize_row(DType t, const void* in, float* y, int64_t n);

// y[r] = dot(row r of W, x) for r < n_rows. W holds n_rows rows of row_bytes(wtype, n_cols)
// bytes each, contiguous. For Q8_0/Q4_0 weights x is first quantized to Q8_0 blocks and dots
// run in integers. pool may be nullptr (single thread).
void matvec(DType wtype, const void* w, int64_t n_rows, int64_t n_cols, const float* x, float* y,
            ThreadPool* pool, Isa isa = Isa::kBest);

// y[b][r] = dot(row r of W, x[b]); x is [n_batch][n_cols], y is [n_batch][n_rows], both
// row-major. Each weight block is reused across several batch rows from registers.
void matmul(DType wtype, const void* w, int64_t n_rows, int64_t n_cols, const float* x,
            int64_t n_batch, float* y, ThreadPool* pool, Isa isa = Isa::kBest);

}  // namespace ll::kernels
