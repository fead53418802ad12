#include "kernels/packed.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "kernels/kernels_internal.h"

namespace ll::kernels {

namespace {

bool is_k(DType t) {
  return t == DType::kQ4_K || t == DType::kQ6_K;
}

size_t block_bytes(DType t) {
  return t == DType::kQ8_0 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
}

// Quant bytes of one packed block of 8 rows.
size_t packed_quant_bytes(DType t) {
  return kPackRows * (t == DType::kQ8_0 ? 32 : 16);
}

size_t scale_bytes(int64_t nb) {
  return internal::packed_scale_bytes(nb);
}

}  // namespace

void advise_huge_pages(void* p, size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Decode streams every packed byte per token; 2 MiB pages save ~500 TLB misses per MiB.
  // Only whole huge pages inside the buffer are advised; a refusal costs nothing.
  constexpr uintptr_t kHuge = 2u << 20;
  const uintptr_t b = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + n) & ~(kHuge - 1);
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_HUGEPAGE);
#else
  (void)p;
  (void)n;
#endif
}

bool packable(DType t, int64_t n_rows, int64_t n_cols) {
  if (n_rows <= 0 || n_rows % kPackRows != 0 || n_cols <= 0) return false;
  if (is_k(t)) return n_cols % kQK_K == 0;
  return (t == DType::kQ8_0 || t == DType::kQ4_0) && n_cols % kQK8_0 == 0;
}

size_t packed_group_bytes(DType t, int64_t n_cols) {
  if (is_k(t)) return static_cast<size_t>(n_cols / kQK_K) * internal::packed_k_block_bytes(t);
  const int64_t nb = n_cols / kQK8_0;
  return scale_bytes(nb) + static_cast<size_t>(nb) * packed_quant_bytes(t);
}

void PackedMatrix::Free::operator()(uint8_t* p) const {
  std::free(p);
}

PackedMatrix PackedMatrix::pack(DType t, const void* w, int64_t n_rows, int64_t n_cols) {
  return pack(t, std::vector<Part>{{w, n_rows}}, n_cols);
}

PackedMatrix PackedMatrix::pack(DType t, const std::vector<Part>& parts, int64_t n_cols) {
  int64_t n_rows = 0;
  bool ok = !parts.empty();
  for (const Part& p : parts) {
    ok = ok && packable(t, p.n_rows, n_cols);
    n_rows += p.n_rows;
  }
  if (!ok) {
    std::fprintf(stderr, "fatal: kernels: PackedMatrix::pack on an unpackable matrix\n");
    std::abort();
  }
  PackedMatrix m;
  m.type_ = t;
  m.n_rows_ = n_rows;
  m.n_cols_ = n_cols;
  m.group_bytes_ = packed_group_bytes(t, n_cols);
  const size_t total = (m.bytes() + 63) / 64 * 64;
  // Buffers of a huge page or more start on a huge-page boundary: only whole 2 MiB pages can be
  // huge, and from a 64-byte aligned start a 2-3 MiB matrix (a 1B model's attention products)
  // would get none, so decode would stream it through 4 KiB pages and their TLB misses.
  constexpr size_t kHuge = size_t{2} << 20;
  void* buf = nullptr;
  if (posix_memalign(&buf, total >= kHuge ? kHuge : 64, total) != 0) buf = nullptr;
  m.data_.reset(static_cast<uint8_t*>(buf));
  if (!m.data_) {
    std::fprintf(stderr, "fatal: kernels: out of memory packing %zu bytes\n", total);
    std::abort();
  }
  advise_huge_pages(m.data_.get(), total);
  if (is_k(t)) {
    const size_t row_b = row_bytes(t, n_cols);
    int64_t g = 0;
    for (const Part& part : parts) {
      const auto* src = static_cast<const uint8_t*>(part.w);
      for (int64_t pg = 0; pg < part.n_rows / kPackRows; ++pg, ++g) {
        const uint8_t* rows[kPackRows];
        for (int i = 0; i < kPackRows; ++i) rows[i] = src + (pg * kPackRows + i) * row_b;
        internal::pack_k_group(t, rows, n_cols / kQK_K, m.data_.get() + g * m.group_bytes_);
      }
    }
    return m;
  }
  const int64_t nb = n_cols / kQK8_0;
  const size_t row_b = row_bytes(t, n_cols), bb = block_bytes(t);
  const size_t qbytes = packed_quant_bytes(t), sbytes = scale_bytes(nb);
  const int n_vec = t == DType::kQ8_0 ? 8 : 4;  // 32-byte vectors per packed block
  int64_t g = 0;                                // next group of the packed matrix
  for (const Part& part : parts) {
    const auto* src = static_cast<const uint8_t*>(part.w);
    for (int64_t pg = 0; pg < part.n_rows / kPackRows; ++pg, ++g) {
      uint8_t* grp = m.data_.get() + g * m.group_bytes_;
      std::memset(grp + nb * kPackRows * 2, 0, sbytes - nb * kPackRows * 2);  // scale padding
      for (int64_t i = 0; i < kPackRows; ++i) {
        const uint8_t* row = src + (pg * kPackRows + i) * row_b;
        for (int64_t k = 0; k < nb; ++k) {
          const uint8_t* blk = row + k * bb;
          std::memcpy(grp + (k * kPackRows + i) * 2, blk, 2);
          uint8_t* q = grp + sbytes + k * qbytes;
          for (int j = 0; j < n_vec; ++j) {
            uint8_t* lane = q + j * 32 + i * 4;
            std::memcpy(lane, blk + 2 + 4 * j, 4);
            if (t == DType::kQ8_0) {
              for (int e = 0; e < 4; ++e) lane[e] ^= 0x80;  // int8 w -> uint8 w + 128
            }
          }
        }
      }
    }
  }
  return m;
}

void PackedMatrix::unpack_row(int64_t r, void* out) const {
  if (is_k(type_)) {
    return internal::unpack_k_row(type_, data_.get() + r / kPackRows * group_bytes_,
                                  static_cast<int>(r % kPackRows), n_cols_ / kQK_K,
                                  static_cast<uint8_t*>(out));
  }
  const int64_t nb = n_cols_ / kQK8_0, g = r / kPackRows, i = r % kPackRows;
  const uint8_t* grp = data_.get() + g * group_bytes_;
  const size_t bb = block_bytes(type_), qbytes = packed_quant_bytes(type_),
               sbytes = scale_bytes(nb);
  const int n_vec = type_ == DType::kQ8_0 ? 8 : 4;
  auto* dst = static_cast<uint8_t*>(out);
  for (int64_t k = 0; k < nb; ++k) {
    uint8_t* blk = dst + k * bb;
    std::memcpy(blk, grp + (k * kPackRows + i) * 2, 2);
    const uint8_t* q = grp + sbytes + k * qbytes;
    for (int j = 0; j < n_vec; ++j) {
      std::memcpy(blk + 2 + 4 * j, q + j * 32 + i * 4, 4);
      if (type_ == DType::kQ8_0) {
        for (int e = 0; e < 4; ++e) blk[2 + 4 * j + e] ^= 0x80;
      }
    }
  }
}

void PackedMatrix::matmul(const float* x, int64_t n_batch, float* y, ThreadPool* pool, Isa isa,
                          const PackedMatrix* next) const {
  if (n_batch <= 0 || n_rows_ == 0) return;
  const internal::KernelTable& kt = internal::table_for(resolve_isa(isa));
  internal::GemmArgs a{type_, data_.get(), group_bytes_, n_cols_, x, 0, n_batch, y, n_rows_};
  a.stealable = internal::packed_stealable(n_rows_, n_batch);
  if (next != nullptr && a.stealable) {
    a.next = next->data();
    a.next_stride = next->group_bytes_;
    a.next_rows = next->n_rows_;
  }
  if (is_k(type_)) {
    // No next-product prefetch here: the K kernels' own prefetch runs ahead of the stream.
    a.next = nullptr;
    return internal::run_quantized_k(
        kt.gemm_packed_k ? kt.gemm_packed_k : internal::gemm_packed_k_scalar, a, n_rows_, pool,
        &kt);
  }
  internal::run_quantized(kt, kt.gemm_packed, a, n_rows_, pool);
}

}  // namespace ll::kernels
