// Quantized weights re-laid out once, at load time, for the integer dot products.
//
// In GGUF's layout each row is a run of blocks, so a SIMD dot product spends most of its
// instructions unpacking one row's nibbles and folding 8 lanes of one row back into a single
// sum. Packing interleaves 8 rows: for each block, lane r of a 32-byte vector holds 4 quants of
// row r, so one VPDPBUSD (or maddubs + madd) advances 8 different dots at once, every lane
// useful, and a block's 8 scales convert with one instruction. Decode streams the bytes once
// per token, and Q4_0 decode stops being compute-bound; prefill needs roughly a third of the
// instructions.
//
// Layout of a packed matrix: n_rows / 8 groups, each group_bytes() long:
//   d[nb][8]      fp16 scales of the group's 8 rows per block, padded to a multiple of 32 bytes
//   Q4_0 quants   [nb][4][8][4] bytes: vector j lane r = row r's qs[4j .. 4j+3] (low nibbles are
//                 elements 4j.., high nibbles elements 16+4j.., as in the GGUF block)
//   Q8_0 quants   [nb][8][8][4] bytes: vector j lane r = row r's qs[4j .. 4j+3] + 128, as u8
// Activations are quantized to 8 bits per 32-element block, as for the plain layout.
//
// Canonical form of every packed dot (what makes every Isa, thread count and batch size give
// the same bits): per block k the exact integer sum s_k = sum_e w_e * x_e, then
//   acc = acc + float(s_k) * (d_w[k] * d_x[k])      (three IEEE roundings, no fused ops)
// from acc = 0 over k in order; y = acc. Integer sums are exact, so the scalar reference and
// every SIMD path agree bit for bit.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "core/types.h"
#include "kernels/kernels.h"

namespace ll::kernels {

constexpr int64_t kPackRows = 8;

// Whether a [n_rows][n_cols] matrix of type t can be packed: Q8_0 or Q4_0, rows a multiple
// of kPackRows, columns a multiple of the block size.
bool packable(DType t, int64_t n_rows, int64_t n_cols);
size_t packed_group_bytes(DType t, int64_t n_cols);

// Asks the OS for transparent huge pages on the whole 2 MiB pages inside [p, p + n), before
// they are first touched. Used for the buffers that are streamed: packed weights and the
// bandwidth probe (so the probe is measured under the same conditions).
void advise_huge_pages(void* p, size_t n);

class PackedMatrix {
 public:
  PackedMatrix() = default;
  // Copies w (GGUF row layout, n_rows rows of row_bytes(t, n_cols)) into the packed layout.
  // Requires packable(t, n_rows, n_cols).
  static PackedMatrix pack(DType t, const void* w, int64_t n_rows, int64_t n_cols);
  // Several matrices with the same columns stacked into one (rows in order): products that
  // share an input (Q, K and V; gate and up) then run as one parallel section and one stream.
  struct Part {
    const void* w;
    int64_t n_rows;
  };
  static PackedMatrix pack(DType t, const std::vector<Part>& parts, int64_t n_cols);

  // y[b][r] = dot(row r, x[b]) for x [n_batch][n_cols], y [n_batch][n_rows]: the same contract
  // as matmul (row b is bit-identical for any n_batch and thread count), in the canonical
  // form above.
  // next: the product that will run after this one, if known. Q8_0/Q4_0 products of up to
  // kPackedStreamBatch rows (decode, pipelined streams) then prefetch its first bytes while
  // finishing, which hides its start-up misses.
  void matmul(const float* x, int64_t n_batch, float* y, ThreadPool* pool, Isa isa = Isa::kBest,
              const PackedMatrix* next = nullptr) const;

  DType type() const { return type_; }
  int64_t n_rows() const { return n_rows_; }
  int64_t n_cols() const { return n_cols_; }
  size_t bytes() const { return static_cast<size_t>(n_rows_ / kPackRows) * group_bytes_; }
  const uint8_t* data() const { return data_.get(); }
  // Row r back in GGUF's layout (row_bytes(type, n_cols) bytes): tests check packing with it.
  void unpack_row(int64_t r, void* out) const;

 private:
  struct Free {
    void operator()(uint8_t* p) const;
  };
  DType type_ = DType::kQ8_0;
  int64_t n_rows_ = 0, n_cols_ = 0;
  size_t group_bytes_ = 0;
  std::unique_ptr<uint8_t[], Free> data_;  // [n_rows / 8][group_bytes_], 64-byte aligned
};

}  // namespace ll::kernels
