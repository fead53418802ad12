// Isa selection and the matvec/matmul drivers: activation quantization and the static split
// of rows across threads. The per-Isa arithmetic lives in matvec_<isa>.cpp.
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/quants.h"
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"

namespace ll::kernels {

using internal::ActRow;
using internal::GemmArgs;
using internal::GemmFn;
using internal::KernelTable;

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "fatal: kernels: %s\n", what);
  std::abort();
}

Isa detect_best() {
  if (const char* env = std::getenv("LL_ISA")) {
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kNeon}) {
      if (std::strcmp(env, isa_name(isa)) == 0 && isa_supported(isa)) return isa;
    }
  }
  if (isa_supported(Isa::kNeon)) return Isa::kNeon;
  if (isa_supported(Isa::kAvx2)) return Isa::kAvx2;
  return Isa::kScalar;
}

// Rows are handed out in groups of 16 so threads never share a cache line of y (16 floats)
// and SIMD row tiles are not cut short at thread boundaries.
constexpr int64_t kRowGroup = 16;
// Below this many multiply-adds a parallel section costs more than it saves.
constexpr int64_t kMinParallelWork = 1 << 15;

// Bytes of the next product each thread prefetches (see GemmArgs::next).
constexpr size_t kNextPrefetchBytes = 16384;

// Thread part of n_threads's share of a's next product, as next_begin/next_len.
GemmArgs with_next_share(const GemmArgs& a, int n_threads, int part) {
  GemmArgs t = a;
  if (a.next == nullptr) return t;
  const int64_t n_groups = (a.next_rows + kRowGroup - 1) / kRowGroup;
  auto [g0, g1] = ThreadPool::split_range(n_groups, n_threads, part);
  const int64_t r0 = g0 * kRowGroup, r1 = std::min(a.next_rows, g1 * kRowGroup);
  if (r1 <= r0) return t;
  t.next_begin = a.next + r0 / 8 * a.next_stride;
  t.next_len = std::min(kNextPrefetchBytes, static_cast<size_t>((r1 - r0) / 8) * a.next_stride);
  return t;
}

void run_gemm(GemmFn fn, const GemmArgs& a, int64_t n_rows, ThreadPool* pool) {
  int64_t work = n_rows * a.n_cols * a.n_batch;
  if (pool == nullptr || pool->size() == 1 || work < kMinParallelWork) {
    // The next product may be split across threads even if this one is not.
    fn(with_next_share(a, pool != nullptr ? pool->size() : 1, 0), 0, n_rows);
    return;
  }
  // A static split, even for memory-bound decode: handing out chunks on demand measured far
  // slower (the two threads' interleaved streams defeat the prefetchers). Packed decode keeps
  // the split as each thread's first claim and lets a finished thread take the others' tails.
  int64_t n_groups = (n_rows + kRowGroup - 1) / kRowGroup;
  constexpr int kMaxClaims = 64;
  if (a.stealable && pool->size() <= kMaxClaims) {
    internal::GroupClaim claims[kMaxClaims];
    const int n = pool->size();
    for (int t = 0; t < n; ++t) {
      auto [g0, g1] = ThreadPool::split_range(n_groups, n, t);
      claims[t].reset(g0 * kRowGroup / 8, std::min(n_rows, g1 * kRowGroup) / 8);
    }
    pool->parallel_range(n, [&](int64_t, int64_t, int t) {
      GemmArgs at = with_next_share(a, n, t);
      at.claims = claims;
      at.n_claims = n;
      at.thread = t;
      fn(at, 0, n_rows);
    });
    return;
  }
  pool->parallel_range(n_groups, [&](int64_t g0, int64_t g1, int t) {
    fn(with_next_share(a, pool->size(), t), g0 * kRowGroup,
       g1 * kRowGroup < n_rows ? g1 * kRowGroup : n_rows);
  });
}

void gemm(DType wtype, const void* w, int64_t n_rows, int64_t n_cols, const float* x,
          int64_t n_batch, float* y, ThreadPool* pool, Isa isa) {
  size_t w_stride = row_bytes(wtype, n_cols);
  if (n_rows <= 0 || n_batch <= 0) return;
  if (w_stride == 0) die("n_cols is not a multiple of the weight block size");
  const KernelTable& kt = internal::table_for(resolve_isa(isa));
  GemmArgs a{wtype,    static_cast<const uint8_t*>(w),
             w_stride, n_cols,
             x,        static_cast<size_t>(n_cols) * sizeof(float),
             n_batch,  y,
             n_rows};
  GemmFn fn = kt.gemm;
  if (!internal::is_base_type(wtype)) fn = kt.gemm_ext ? kt.gemm_ext : internal::gemm_ext_scalar;
  if (internal::is_k_quantized(wtype)) return internal::run_quantized_k(fn, a, n_rows, pool, &kt);
  if (internal::is_quantized(wtype)) return internal::run_quantized(kt, fn, a, n_rows, pool);
  run_gemm(fn, a, n_rows, pool);
}

}  // namespace

namespace internal {

void run_quantized(const KernelTable& kt, GemmFn fn, GemmArgs a, int64_t n_rows, ThreadPool* pool) {
  // Per calling thread, so steady-state calls never allocate. uint64_t keeps rows aligned.
  thread_local std::vector<uint64_t> xq;
  const auto* x = static_cast<const float*>(a.x);
  const int64_t n_cols = a.n_cols, n_batch = a.n_batch;
  const int64_t nb = n_cols / kQK8_0;
  const int sum_scale = internal::act_sum_scale(a.wtype);
  const size_t stride = ActRow::bytes(nb, true);
  if (xq.size() * 8 < stride * n_batch) xq.resize(stride * n_batch / 8);
  auto* xq_data = reinterpret_cast<uint8_t*>(xq.data());
  auto quantize = [&](int64_t b0, int64_t b1, int) {
    for (int64_t b = b0; b < b1; ++b) {
      kt.quantize_act(x + b * n_cols, n_cols, xq_data + b * stride, sum_scale);
    }
  };
  if (pool != nullptr && n_batch > 1 && n_batch * n_cols >= kMinParallelWork) {
    pool->parallel_range(n_batch, quantize);
  } else {
    quantize(0, n_batch, 0);
  }
  a.x = xq_data;
  a.x_stride = stride;
  run_gemm(fn, a, n_rows, pool);
}

void run_quantized_k(GemmFn fn, GemmArgs a, int64_t n_rows, ThreadPool* pool,
                     const KernelTable* kt) {
  thread_local std::vector<uint64_t> xq;
  auto* q8_k =
      kt != nullptr && kt->quantize_q8_k != nullptr ? kt->quantize_q8_k : quants::q8_k_from_float;
  const auto* x = static_cast<const float*>(a.x);
  const int64_t n_cols = a.n_cols, n_batch = a.n_batch;
  const size_t stride = q8k_row_bytes(n_cols);
  if (xq.size() * 8 < stride * n_batch) xq.resize((stride * n_batch + 7) / 8);
  auto* xq_data = reinterpret_cast<uint8_t*>(xq.data());
  auto quantize = [&](int64_t b0, int64_t b1, int) {
    for (int64_t b = b0; b < b1; ++b) q8_k(x + b * n_cols, xq_data + b * stride, n_cols);
  };
  if (pool != nullptr && n_batch > 1 && n_batch * n_cols >= kMinParallelWork) {
    pool->parallel_range(n_batch, quantize);
  } else {
    quantize(0, n_batch, 0);
  }
  a.x = xq_data;
  a.x_stride = stride;
  run_gemm(fn, a, n_rows, pool);
}

}  // namespace internal

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kNeon:
      return "neon";
    case Isa::kBest:
      return "best";
  }
  return "?";
}

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
    case Isa::kBest:
      return true;
    case Isa::kAvx2:
#if defined(__x86_64__)
      return internal::x86_features().avx2_fma_f16c;
#else
      return false;
#endif
    case Isa::kNeon:
#if defined(__aarch64__)
      return true;  // Advanced SIMD is mandatory on AArch64
#else
      return false;
#endif
  }
  return false;
}

Isa best_isa() {
  static const Isa best = detect_best();
  return best;
}

Isa resolve_isa(Isa isa) {
  if (isa == Isa::kBest) return best_isa();
  return isa_supported(isa) ? isa : Isa::kScalar;
}

namespace internal {

#if defined(__x86_64__)
namespace {

X86Features probe_x86() {
  X86Features f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool fma = c >> 12 & 1, osxsave = c >> 27 & 1, avx = c >> 28 & 1, f16c = c >> 29 & 1;
  if (!osxsave || !avx) return f;
  unsigned xcr0_lo, xcr0_hi;
  asm volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  const bool os_ymm = (xcr0_lo & 0x6) == 0x6;
  const bool os_zmm = (xcr0_lo & 0xE6) == 0xE6;  // EVEX encodings need opmask and ZMM state
  if (!os_ymm || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  const bool avx2 = b >> 5 & 1, avx512f = b >> 16 & 1, avx512vl = b >> 31 & 1;
  const bool avx512vnni = c >> 11 & 1;
  f.avx2_fma_f16c = avx2 && fma && f16c;
  f.avx512_vnni_vl = f.avx2_fma_f16c && os_zmm && avx512f && avx512vl && avx512vnni;
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx_vnni = f.avx2_fma_f16c && (a >> 4 & 1);
  return f;
}

}  // namespace

const X86Features& x86_features() {
  static const X86Features features = probe_x86();
  return features;
}
#endif

const KernelTable& table_for(Isa isa) {
  switch (resolve_isa(isa)) {
#if defined(__x86_64__)
    case Isa::kAvx2:
      return avx2_table();
#endif
#if defined(__aarch64__)
    case Isa::kNeon:
      return neon_table();
#endif
    default:
      return scalar_table();
  }
}
}  // namespace internal

void matvec(DType wtype, const void* w, int64_t n_rows, int64_t n_cols, const float* x, float* y,
            ThreadPool* pool, Isa isa) {
  gemm(wtype, w, n_rows, n_cols, x, 1, y, pool, isa);
}

void matmul(DType wtype, const void* w, int64_t n_rows, int64_t n_cols, const float* x,
            int64_t n_batch, float* y, ThreadPool* pool, Isa isa) {
  gemm(wtype, w, n_rows, n_cols, x, n_batch, y, pool, isa);
}

}  // namespace ll::kernels
