// Per-Isa kernel tables and helpers shared by the scalar and SIMD implementations.
// Not part of the public API (tests use it to check the pieces individually).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "core/types.h"
#include "kernels/kernels.h"

namespace ll::kernels::internal {

// One product y[b * y_stride + r] = dot(W row r, x row b). x rows are float for F32/F16/BF16
// weights and ActRow layouts (below) for Q8_0/Q4_0 weights.
struct GemmArgs {
  DType wtype;
  const uint8_t* w;
  size_t w_stride;  // bytes per weight row
  int64_t n_cols;
  const void* x;
  size_t x_stride;  // bytes per x row
  int64_t n_batch;
  float* y;
  int64_t y_stride;  // floats per y row
  // Packed decode only: the next product's packed weights (nullptr if unknown). Each thread
  // prefetches the start of its share of them as its own stream runs out, so the next product
  // does not begin with a burst of misses. run_gemm turns it into next_begin/next_len.
  const uint8_t* next = nullptr;
  size_t next_stride = 0;  // bytes per 8-row group of next
  int64_t next_rows = 0;
  const uint8_t* next_begin = nullptr;
  size_t next_len = 0;
  // Packed decode only: run_gemm's work claims (see GroupClaim), this thread's index in them.
  struct GroupClaim* claims = nullptr;
  int n_claims = 0, thread = 0;
  bool stealable = false;  // set by the caller: fn understands claims
};

// One thread's range of 8-row groups, (front << 32) | back. Its owner takes groups from the
// front, in order, so its share stays one sequential stream; a thread that has finished takes
// groups from the back of the others' ranges. Threads rarely get equal shares of DRAM
// bandwidth, and without this the faster one idles at every product's end. Which thread
// computes a row never changes its bits.
struct alignas(64) GroupClaim {
  std::atomic<uint64_t> range{0};

  void reset(int64_t front, int64_t back) {
    range.store(static_cast<uint64_t>(front) << 32 | static_cast<uint64_t>(back),
                std::memory_order_relaxed);
  }
  int64_t front() const {
    return static_cast<int64_t>(range.load(std::memory_order_relaxed) >> 32);
  }
  int64_t back() const {
    return static_cast<int64_t>(range.load(std::memory_order_relaxed) & 0xFFFFFFFFu);
  }
  // The next group from the front, or -1 when the range is empty.
  int64_t take_front() {
    uint64_t r = range.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t f = r >> 32, b = r & 0xFFFFFFFFu;
      if (f >= b) return -1;
      if (range.compare_exchange_weak(r, (f + 1) << 32 | b, std::memory_order_relaxed)) {
        return static_cast<int64_t>(f);
      }
    }
  }
  // The next groups from the front: up to max_n, but no more than a quarter of what is left
  // (at least 2) so the others can still take the tail. Returns how many (0 when the range is
  // empty) and the first in *first. One locked instruction per chunk: each drains the core's
  // outstanding loads, which a claim per group paid every few KiB of the stream.
  int64_t take_front_chunk(int64_t max_n, int64_t* first) {
    uint64_t r = range.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t f = r >> 32, b = r & 0xFFFFFFFFu;
      if (f >= b) return 0;
      const uint64_t left = b - f, quarter = left / 4;
      uint64_t n = quarter < 2 ? 2 : quarter;
      if (n > static_cast<uint64_t>(max_n)) n = static_cast<uint64_t>(max_n);
      if (n > left) n = left;
      if (range.compare_exchange_weak(r, (f + n) << 32 | b, std::memory_order_relaxed)) {
        *first = static_cast<int64_t>(f);
        return static_cast<int64_t>(n);
      }
    }
  }
  // The last group, or -1 when the range is empty.
  int64_t take_back() {
    uint64_t r = range.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t f = r >> 32, b = r & 0xFFFFFFFFu;
      if (f >= b) return -1;
      if (range.compare_exchange_weak(r, f << 32 | (b - 1), std::memory_order_relaxed)) {
        return static_cast<int64_t>(b - 1);
      }
    }
  }
};

using GemmFn = void (*)(const GemmArgs& args, int64_t r0, int64_t r1);

// Packed products of up to this many batch rows (pipelined streams' small batches) run as
// decode does: each thread streams its groups once, prefetched, with work claims, and every
// batch row meets a group while it is still in the core's caches. Bigger batches (prefill) are
// blocked for the caches instead.
constexpr int64_t kPackedStreamBatch = 8;

// Whether a packed product hands its gemm work claims (GemmArgs::stealable).
inline bool packed_stealable(int64_t n_rows, int64_t n_batch) {
  return n_rows % 8 == 0 && n_batch <= kPackedStreamBatch;
}

// One head of single-query attention (attention.cpp): scores of q against n_kv cached keys,
// softmax, weighted sum of the cached values into out[head_dim]. k and v point at position 0 of
// this head's rows, pos_stride floats apart; alibi_slope is nullptr or the head's slope; scores
// is scratch of n_kv floats.
struct AttendHead {
  const float* q;
  const float* k;
  const float* v;
  int n_kv;
  int64_t pos_stride;
  int head_dim;
  float scale;
  const float* alibi_slope;
  float* scores;
  float* out;
};

struct KernelTable {
  Isa isa;
  // Activation quantizer for the integer paths, writing an ActRow (with negsums if
  // sum_scale != 0): d = amax / 127, q = round-to-nearest-even(x * (1 / d)). n is a multiple
  // of 32. Every Isa writes the same bytes.
  void (*quantize_act)(const float* x, int64_t n, void* out, int sum_scale);
  // Computes rows [r0, r1) for every batch row. Each dot must use the same operation sequence
  // whatever r0, r1 and n_batch are (that is what makes threads and batching bit-exact).
  GemmFn gemm;
  // The same products over weights in the packed layout (packed.h): w is the packed buffer,
  // w_stride the bytes of one 8-row group, rows [r0, r1) multiples of kPackRows. Every Isa
  // gives the same bits (the canonical form is in packed.h).
  GemmFn gemm_packed;
  float (*dot_f32)(const float* a, const float* b, int64_t n);
  void (*axpy_f32)(float a, const float* x, float* y, int64_t n);  // y += a * x
  // Reads every byte of p (n a multiple of 256, p 64-byte aligned) with software prefetch
  // kReadAheadL1/L2 bytes ahead; the result defeats dead-code elimination and is otherwise
  // meaningless.
  uint64_t (*read_sum)(const void* p, size_t n);
  // Products for the types gemm does not cover (is_base_type false): Q4_1, Q5_0, Q5_1 on
  // ActRows, the K-quants on Q8_K rows. nullptr: the scalar reference (gemm_ext_scalar).
  GemmFn gemm_ext = nullptr;
  // Q4_K/Q6_K weights in the packed layout (packed.h) on Q8_K rows, same contract as
  // gemm_packed. nullptr: the scalar reference (gemm_packed_k_scalar).
  GemmFn gemm_packed_k = nullptr;
  // One attention head with exactly the bits of attend_head_generic over this table's dot_f32
  // and axpy_f32, faster; false if it does not handle the shape (then the generic loop runs).
  // nullptr: always the generic loop.
  bool (*attend_head)(const AttendHead& h) = nullptr;
  // quants::q8_k_from_float, the same bytes, faster (decode quantizes every product's input on
  // one thread while the others wait). nullptr: quants::q8_k_from_float.
  void (*quantize_q8_k)(const float* x, void* out, int64_t n) = nullptr;
};

// The attention loop over a table's dot_f32 and axpy_f32 (attention.cpp).
void attend_head_generic(const KernelTable& kt, const AttendHead& h);

// Packed Q4_K/Q6_K (packed_k.cpp): bytes of one super-block of an 8-row group, packing a group
// from 8 GGUF rows of nb super-blocks, and row r of a group back in GGUF's layout.
constexpr size_t kPackedQ4KBytes = 1184, kPackedQ6KBytes = 1680;
size_t packed_k_block_bytes(DType t);
void pack_k_group(DType t, const uint8_t* const rows[8], int64_t nb, uint8_t* grp);
void unpack_k_row(DType t, const uint8_t* grp, int r, int64_t nb, uint8_t* out);
// Reference: unpacks each row and runs the scalar dot (kquants_scalar.cpp).
void gemm_packed_k_scalar(const GemmArgs& args, int64_t r0, int64_t r1);
#if defined(__x86_64__)
void gemm_packed_k_avx2(const GemmArgs& args, int64_t r0, int64_t r1);
void gemm_packed_k_avxvnni(const GemmArgs& args, int64_t r0, int64_t r1);
void gemm_packed_k_avx512vnni(const GemmArgs& args, int64_t r0, int64_t r1);
// Two 8-row groups per 512-bit vector (kquants_avx512vnni_avx2.cpp); needs avx512_vnni_vl.
void gemm_packed_k_avx512(const GemmArgs& args, int64_t r0, int64_t r1);
#endif
#if defined(__aarch64__)
void gemm_packed_k_neon(const GemmArgs& args, int64_t r0, int64_t r1);
void gemm_packed_k_neon_dotprod(const GemmArgs& args, int64_t r0, int64_t r1);  // needs dotprod
#endif

// The types every table's gemm runs; the others go through KernelTable::gemm_ext.
inline bool is_base_type(DType t) {
  return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16 || t == DType::kQ8_0 ||
         t == DType::kQ4_0;
}

// Scalar reference products for the other types (kquants_scalar.cpp), in the canonical form
// every SIMD version reproduces bit for bit.
void gemm_ext_scalar(const GemmArgs& args, int64_t r0, int64_t r1);
#if defined(__x86_64__)
void gemm_ext_avx2(const GemmArgs& args, int64_t r0, int64_t r1);  // kquants_avx2.cpp
#endif

// Bytes of one row of n_cols activations as Q8_K blocks, padded so batch rows stay aligned.
inline size_t q8k_row_bytes(int64_t n_cols) {
  return (static_cast<size_t>(n_cols / kQK_K) * sizeof(BlockQ8_K) + 63) / 64 * 64;
}

// Prefetch distances of read_sum, tuned on a streaming read (2 KiB into L1, 16 KiB into L2).
constexpr size_t kReadAheadL1 = 2048, kReadAheadL2 = 16384;

const KernelTable& scalar_table();
#if defined(__x86_64__)
// CPU and OS support (CPUID + XGETBV), probed once. Compilers' __builtin_cpu_supports does not
// know every feature name everywhere (clang 14 lacks "f16c" and "avxvnni").
struct X86Features {
  bool avx2_fma_f16c = false;
  bool avx_vnni = false;
  bool avx512_vnni_vl = false;
};
const X86Features& x86_features();

// With use_vnni, quantized gemm uses VPDPBUSD when the CPU has AVX-VNNI or AVX512-VNNI; the
// bits are identical either way (tests compare both).
const KernelTable& avx2_table(bool use_vnni = true);
GemmFn avx2_vnni_quant_gemm();  // nullptr if the CPU has no VNNI
// Quantized-weight gemm with VPDPBUSD (matvec_avxvnni_avx2.cpp, matvec_avx512vnni_avx2.cpp).
void gemm_quant_avxvnni(const GemmArgs& args, int64_t r0, int64_t r1);
void gemm_quant_avx512vnni(const GemmArgs& args, int64_t r0, int64_t r1);
void gemm_packed_avxvnni(const GemmArgs& args, int64_t r0, int64_t r1);
void gemm_packed_avx512vnni(const GemmArgs& args, int64_t r0, int64_t r1);
void gemm_packed_avx512(const GemmArgs& args, int64_t r0, int64_t r1);
GemmFn avx2_vnni_packed_gemm();  // nullptr if the CPU has no VNNI
// Every packed gemm this CPU can run, by name (tests compare them all).
std::vector<std::pair<const char*, GemmFn>> packed_gemm_variants();
#endif
#if defined(__aarch64__)
// NEON kernels (matvec_neon.cpp). With use_dotprod, quantized products use SDOT when the CPU has
// the ARMv8.2 dot-product extension; the bits are identical either way, and equal the scalar
// reference's for every entry (tests compare them).
const KernelTable& neon_table(bool use_dotprod = true);
bool neon_has_dotprod();  // from the kernel's HWCAP_ASIMDDP, probed once
// Quantized-weight gemm with SDOT (matvec_dotprod_neon.cpp); call only if neon_has_dotprod().
void gemm_quant_neon_dotprod(const GemmArgs& args, int64_t r0, int64_t r1);
void gemm_packed_neon_dotprod(const GemmArgs& args, int64_t r0, int64_t r1);
#endif

// Table for a resolved Isa (see resolve_isa).
const KernelTable& table_for(Isa isa);

// Quantizes a's float activations (a.x, a.x_stride ignored: rows are n_cols floats) into ActRows
// and runs fn over rows [0, n_rows), split across the pool in 16-row groups.
void run_quantized(const KernelTable& kt, GemmFn fn, GemmArgs a, int64_t n_rows, ThreadPool* pool);
// The same with Q8_K activation rows (q8k_row_bytes each), for the K-quants.
// kt: whose quantize_q8_k to use (nullptr: the scalar quantizer; the bytes are the same).
void run_quantized_k(GemmFn fn, GemmArgs a, int64_t n_rows, ThreadPool* pool,
                     const KernelTable* kt = nullptr);

// Helpers below live in an unnamed namespace: the SIMD translation units include this header
// with wider instruction sets enabled, and a shared inline definition could be merged by the
// linker into the copy compiled for AVX2 and then run on a CPU without it.
namespace {

// Bytes of a packed group's scale block (packed.h): 8 fp16 scales per block, padded to 32.
inline size_t packed_scale_bytes(int64_t nb) {
  return (static_cast<size_t>(nb) * 16 + 31) / 32 * 32;
}

// Requests [p, p + n) into the cache (kLocality 3: L1, 2: L2), one request per line.
template <int kLocality>
inline void prefetch_bytes(const uint8_t* p, size_t n) {
  for (size_t off = 0; off < n; off += 64) __builtin_prefetch(p + off, 0, kLocality);
}

// Runs stolen(g) for each group this thread takes from the back of the other threads' ranges
// (GroupClaim), once its own range is done. A stolen group is not part of a stream the
// prefetchers follow, so all of it is requested before stolen(g) runs. Groups are packed:
// a.w_stride bytes each.
template <class Stolen>
inline void for_each_stolen_group(const GemmArgs& a, Stolen stolen) {
  for (int o = 1; o < a.n_claims; ++o) {
    GroupClaim& other = a.claims[(a.thread + o) % a.n_claims];
    for (int64_t g; (g = other.take_back()) >= 0;) {
      prefetch_bytes<3>(a.w + g * a.w_stride, a.w_stride);
      stolen(g);
    }
  }
}

// Runs own(g) for each group this thread claims from the front of its range, in order, then
// stolen(g) as above.
template <class Own, class Stolen>
inline void for_each_claimed_group(const GemmArgs& a, Own own, Stolen stolen) {
  for (int64_t g; (g = a.claims[a.thread].take_front()) >= 0;) own(g);
  for_each_stolen_group(a, stolen);
}

// The groups [first, last) a packed decode thread streams: its claim, or rows [r0, r1). The
// tiles prefetch `ahead` bytes ahead of themselves, so the stream's first `ahead` bytes are
// requested here: a decode step runs ~90 products, each would otherwise start with misses.
struct DecodeStream {
  int64_t first, last;
  const uint8_t* end;  // one past the stream's last byte
};
inline DecodeStream start_decode_stream(const GemmArgs& a, int64_t r0, int64_t r1, size_t ahead) {
  const GroupClaim* own = a.claims != nullptr ? &a.claims[a.thread] : nullptr;
  DecodeStream s{own ? own->front() : r0 / 8, own ? own->back() : r1 / 8, nullptr};
  const size_t bytes = static_cast<size_t>(s.last > s.first ? s.last - s.first : 0) * a.w_stride;
  prefetch_bytes<2>(a.w + s.first * a.w_stride, bytes < ahead ? bytes : ahead);
  s.end = a.w + s.last * a.w_stride;
  return s;
}

// A row of activations quantized to 8 bits for the integer paths, in nb = n / 32 blocks:
//   qs[nb][32] int8, then d[nb] float (exact fp32 scales: activations are re-quantized on
//   every call, so nothing forces the lossy fp16 scale of weights on them), then optionally
//   negsums[nb][8] int32 = -sum_scale * (qs[4l] + ... + qs[4l+3]), then bsums[nb] int32 =
//   -sum_scale * (qs[0] + ... + qs[31]). Kernels that multiply weights offset to unsigned
//   bytes (w + sum_scale) by x use them to cancel the offset: per 4-element lane (plain
//   layout) or per block (packed layout).
struct ActRow {
  const int8_t* qs;
  const float* d;
  const int32_t* negsums;
  const int32_t* bsums;

  static size_t bytes(int64_t nb, bool with_sums) {
    size_t n = static_cast<size_t>(nb) * (with_sums ? 72 : 36);
    return (n + 63) / 64 * 64;  // rows stay 64-byte aligned in a batch
  }
  static ActRow at(const void* base, int64_t nb) {
    auto* p = static_cast<const uint8_t*>(base);
    return {reinterpret_cast<const int8_t*>(p), reinterpret_cast<const float*>(p + nb * 32),
            reinterpret_cast<const int32_t*>(p + nb * 36),
            reinterpret_cast<const int32_t*>(p + nb * 68)};
  }
};

// The weight offset whose negsums a weight type's integer kernels need.
inline int act_sum_scale(DType wtype) {
  switch (wtype) {
    case DType::kQ4_0:
      return 8;
    case DType::kQ5_0:
      return 16;
    case DType::kQ4_1:
    case DType::kQ5_1:
      return -1;  // bsums = +sum(x): the weights' offsets m multiply it
    default:
      return 128;
  }
}

// Weights whose dots run on activations quantized to 8 bits in 32-element blocks (ActRow).
inline bool is_quantized(DType t) {
  return type_traits(t).vec_dot_type == DType::kQ8_0;
}

// Weights whose dots run on Q8_K activation rows.
inline bool is_k_quantized(DType t) {
  return type_traits(t).vec_dot_type == DType::kQ8_K;
}

inline uint16_t load_u16(const void* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float bfloat_to_float(uint16_t h) {
  return bits_to_float(static_cast<uint32_t>(h) << 16);
}

// Exact half -> float without a table or F16C, branch-free: normal halves are rebased by
// shifting the exponent field and scaling by 2^-112; subnormals are rebuilt as
// (0.5 + m * 2^-24) - 0.5 using a float whose exponent makes the mantissa units 2^-24.
inline float half_to_float(uint16_t h) {
  uint32_t w = static_cast<uint32_t>(h) << 16;
  uint32_t sign = w & 0x80000000u;
  uint32_t two_w = w + w;  // drops the sign
  float normal = bits_to_float((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
  float subnormal = bits_to_float((two_w >> 17) | (126u << 23)) - 0.5f;
  uint32_t bits = two_w < (1u << 27) ? float_to_bits(subnormal) : float_to_bits(normal);
  return bits_to_float(sign | bits);
}

}  // namespace
}  // namespace ll::kernels::internal
