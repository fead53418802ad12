// AVX2 + FMA + F16C kernels (compiled with those flags, selected at run time). Quantized
// weights use gemm_avx2.h, float weights the tiles below; see gemm_avx2.h for the reduction
// order every dot follows.
#include <cmath>

#include "kernels/gemm_avx2.h"
#include "kernels/packed_avx2.h"

namespace ll::kernels::internal {
namespace {

// ---- Float weights x float activations ----

struct WF32 {
  static constexpr int kElemBytes = 4;
  static __m256 load8(const uint8_t* row, int64_t k) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + k);
  }
  static float at(const uint8_t* row, int64_t k) {
    float v;
    std::memcpy(&v, row + 4 * k, 4);
    return v;
  }
};

struct WF16 {
  static constexpr int kElemBytes = 2;
  static __m256 load8(const uint8_t* row, int64_t k) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * k)));
  }
  static float at(const uint8_t* row, int64_t k) { return _cvtsh_ss(load_u16(row + 2 * k)); }
};

struct WBF16 {
  static constexpr int kElemBytes = 2;
  static __m256 load8(const uint8_t* row, int64_t k) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * k));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static float at(const uint8_t* row, int64_t k) { return bfloat_to_float(load_u16(row + 2 * k)); }
};

template <class W>
struct FloatTile {
  static constexpr int kRowsVec = 4, kRowsMat = 3, kBatchMat = 4;

  template <int R, int B>
  static void tile(const GemmArgs& a, int64_t r, int64_t b) {
    const int64_t n = a.n_cols, n8 = n & ~int64_t{7};
    const uint8_t* w = a.w + r * a.w_stride;
    const auto* x =
        reinterpret_cast<const float*>(static_cast<const uint8_t*>(a.x) + b * a.x_stride);
    const int64_t xs = a.x_stride / sizeof(float);
    __m256 acc[R][B];
    for (int i = 0; i < R; ++i) {
      for (int j = 0; j < B; ++j) acc[i][j] = _mm256_setzero_ps();
    }
    for (int64_t k = 0; k < n8; k += 8) {
      __m256 wv[R];
      for (int i = 0; i < R; ++i) {
        if constexpr (B == 1) {
          if ((k * W::kElemBytes) % 64 == 0) {
            prefetch_ahead(w + i * a.w_stride + k * W::kElemBytes, 64, R * a.w_stride);
          }
        }
        wv[i] = W::load8(w + i * a.w_stride, k);
      }
      for (int j = 0; j < B; ++j) {
        __m256 xv = _mm256_loadu_ps(x + j * xs + k);
        for (int i = 0; i < R; ++i) acc[i][j] = _mm256_fmadd_ps(wv[i], xv, acc[i][j]);
      }
    }
    for (int i = 0; i < R; ++i) {
      for (int j = 0; j < B; ++j) {
        float s = hsum(acc[i][j]);
        for (int64_t k = n8; k < n; ++k) s = s + W::at(w + i * a.w_stride, k) * x[j * xs + k];
        a.y[(b + j) * a.y_stride + r + i] = s;
      }
    }
  }
};

void gemm_float(const GemmArgs& a, int64_t r0, int64_t r1) {
  switch (a.wtype) {
    case DType::kF32:
      return gemm_rows<FloatTile<WF32>>(a, r0, r1);
    case DType::kF16:
      return gemm_rows<FloatTile<WF16>>(a, r0, r1);
    case DType::kBF16:
      return gemm_rows<FloatTile<WBF16>>(a, r0, r1);
    default:
      return;
  }
}

void gemm_madd(const GemmArgs& a, int64_t r0, int64_t r1) {
  if (is_quantized(a.wtype)) return gemm_quant<MaddDot>(a, r0, r1);
  gemm_float(a, r0, r1);
}

GemmFn detect_vnni(bool packed) {
  // 512-bit packed decode: half the instructions per byte, which measured a few percent more
  // of the memory bandwidth for Q4_0 (same bits as the 256-bit tiles).
  if (packed && x86_features().avx512_vnni_vl) return gemm_packed_avx512;
  if (x86_features().avx_vnni) return packed ? gemm_packed_avxvnni : gemm_quant_avxvnni;
  if (x86_features().avx512_vnni_vl) return packed ? gemm_packed_avx512vnni : gemm_quant_avx512vnni;
  return nullptr;
}

void gemm_packed_madd(const GemmArgs& a, int64_t r0, int64_t r1) {
  gemm_packed_quant<MaddDot>(a, r0, r1);
}

void gemm_vnni(const GemmArgs& a, int64_t r0, int64_t r1) {
  if (is_quantized(a.wtype)) return avx2_vnni_quant_gemm()(a, r0, r1);
  gemm_float(a, r0, r1);
}

void quantize_act(const float* x, int64_t n, void* out, int sum_scale) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i neg_scale = _mm256_set1_epi16(static_cast<int16_t>(-sum_scale));
  const int64_t nb = n / kQK8_0;
  auto* qs = static_cast<int8_t*>(out);
  auto* ds = reinterpret_cast<float*>(qs + nb * 32);
  auto* negsums = reinterpret_cast<int32_t*>(qs + nb * 36);
  auto* bsums = reinterpret_cast<int32_t*>(qs + nb * 68);
  for (int64_t i = 0; i < nb; ++i) {
    __m256 v[4];
    for (int j = 0; j < 4; ++j) v[j] = _mm256_loadu_ps(x + i * kQK8_0 + 8 * j);
    __m256 m01 = _mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask));
    __m256 m23 = _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask));
    __m256 m = _mm256_max_ps(m01, m23);
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float d = _mm_cvtss_f32(m4) / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    ds[i] = d;
    __m256 idv = _mm256_set1_ps(id);
    __m256i q[4];
    // cvtps rounds to nearest-even under the default MXCSR, matching the scalar quantizer.
    for (int j = 0; j < 4; ++j) q[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], idv));
    __m256i packed =
        _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    // The packs work per 128-bit lane; restore element order.
    packed = _mm256_permutevar8x32_epi32(packed, order);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + i * kQK8_0), packed);
    if (sum_scale != 0) {
      __m256i pairs = _mm256_maddubs_epi16(_mm256_set1_epi8(1), packed);
      __m256i sums = _mm256_madd_epi16(pairs, neg_scale);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(negsums + i * 8), sums);
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
      bsums[i] = _mm_cvtsi128_si32(s4);
    }
  }
}

float dot_f32(const float* a, const float* b, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), acc);
  float s = hsum(acc);
  for (; k < n; ++k) s = s + a[k] * b[k];
  return s;
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
  __m256 av = _mm256_set1_ps(a);
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    _mm256_storeu_ps(y + k, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k)));
  }
  for (; k < n; ++k) y[k] = y[k] + a * x[k];
}

// quants::q8_k_from_float with the same operations per element, so the same bytes: amax by
// `a > amax ? a : amax` (lanes, then across lanes: the same maximum, NaNs never chosen), q by
// truncating (x * id + 1.5 * 2^23) - 1.5 * 2^23 to int and keeping its low byte, as the scalar
// casts do, and the 16 sums of each super-block.
void quantize_q8_k(const float* x, void* out, int64_t n) {
  constexpr float kMagic = 12582912.0f;
  auto* blocks = static_cast<BlockQ8_K*>(out);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256i low_byte = _mm256_set1_epi32(0xFF), ones8 = _mm256_set1_epi8(1);
  const __m256i ones16 = _mm256_set1_epi16(1), order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* xb = x + i * kQK_K;
    BlockQ8_K& b = blocks[i];
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < kQK_K / 8; ++j) {
      m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(xb + 8 * j), abs_mask), m);
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, m);
    float amax = 0.0f;
    for (float a : lanes) amax = a > amax ? a : amax;
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b.d = d;
    const __m256 idv = _mm256_set1_ps(id), magic = _mm256_set1_ps(kMagic);
    for (int v = 0; v < kQK_K / 32; ++v) {
      __m256i q[4];
      for (int j = 0; j < 4; ++j) {
        const __m256 r = _mm256_sub_ps(
            _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(xb + 32 * v + 8 * j), idv), magic), magic);
        q[j] = _mm256_and_si256(_mm256_cvttps_epi32(r), low_byte);
      }
      // Low bytes through unsigned packs (no saturation at 0..255), then element order.
      __m256i bytes =
          _mm256_packus_epi16(_mm256_packus_epi32(q[0], q[1]), _mm256_packus_epi32(q[2], q[3]));
      bytes = _mm256_permutevar8x32_epi32(bytes, order);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(b.qs + 32 * v), bytes);
      // Sums of elements 0..15 and 16..31: lanes 0-3 and 4-7 of the 4-element sums.
      __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, bytes), ones16);
      s = _mm256_hadd_epi32(s, s);
      s = _mm256_hadd_epi32(s, s);
      b.bsums[2 * v] = static_cast<int16_t>(_mm256_extract_epi32(s, 0));
      b.bsums[2 * v + 1] = static_cast<int16_t>(_mm256_extract_epi32(s, 4));
    }
  }
}

// attend_head_generic over dot_f32 and axpy_f32 above with the same operations per element, in
// the same order: four keys' dots at once (each its own accumulator, as dot_f32) and the output
// kept in registers across positions (each element's chain of FMAs as axpy_f32 makes it).
template <int V>  // head_dim / 8
void attend_head_v(const AttendHead& h) {
  const int64_t ps = h.pos_stride;
  __m256 q[V];
  for (int c = 0; c < V; ++c) q[c] = _mm256_loadu_ps(h.q + 8 * c);
  float max = -INFINITY;
  auto finish = [&](int j, __m256 acc) {
    float s = hsum(acc) * h.scale;
    if (h.alibi_slope != nullptr) s = s + *h.alibi_slope * static_cast<float>(j - (h.n_kv - 1));
    h.scores[j] = s;
    max = s > max ? s : max;
  };
  int j = 0;
  for (; j + 4 <= h.n_kv; j += 4) {
    __m256 acc[4];
    for (int u = 0; u < 4; ++u) acc[u] = _mm256_setzero_ps();
    for (int c = 0; c < V; ++c) {
      for (int u = 0; u < 4; ++u) {
        acc[u] = _mm256_fmadd_ps(q[c], _mm256_loadu_ps(h.k + (j + u) * ps + 8 * c), acc[u]);
      }
    }
    for (int u = 0; u < 4; ++u) finish(j + u, acc[u]);
  }
  for (; j < h.n_kv; ++j) {
    __m256 acc = _mm256_setzero_ps();
    for (int c = 0; c < V; ++c)
      acc = _mm256_fmadd_ps(q[c], _mm256_loadu_ps(h.k + j * ps + 8 * c), acc);
    finish(j, acc);
  }
  __m256 o[V];
  for (int c = 0; c < V; ++c) o[c] = _mm256_setzero_ps();
  float sum = 0.0f;
  for (j = 0; j < h.n_kv; ++j) {
    const float e = std::exp(h.scores[j] - max);
    sum = sum + e;
    const __m256 ev = _mm256_set1_ps(e);
    for (int c = 0; c < V; ++c)
      o[c] = _mm256_fmadd_ps(ev, _mm256_loadu_ps(h.v + j * ps + 8 * c), o[c]);
  }
  const __m256 inv = _mm256_set1_ps(1.0f / sum);
  for (int c = 0; c < V; ++c) _mm256_storeu_ps(h.out + 8 * c, _mm256_mul_ps(o[c], inv));
}

bool attend_head(const AttendHead& h) {
  if (h.n_kv <= 0) return false;
  switch (h.head_dim) {
    case 32:
      return attend_head_v<4>(h), true;
    case 64:
      return attend_head_v<8>(h), true;
    case 128:
      return attend_head_v<16>(h), true;
    default:
      return false;
  }
}

uint64_t read_sum(const void* p, size_t n) {
  const auto* bytes = static_cast<const uint8_t*>(p);
  __m256i s[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                  _mm256_setzero_si256()};
  for (size_t off = 0; off + 256 <= n; off += 256) {
    // Prefetching like the matvec kernels: the ceiling they are compared against must not be
    // lower than what they can reach.
    for (size_t line = 0; line < 256; line += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(bytes + off + line + kReadAheadL1), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(bytes + off + line + kReadAheadL2), _MM_HINT_T1);
    }
    const auto* v = reinterpret_cast<const __m256i*>(bytes + off);
    for (int j = 0; j < 8; ++j) s[j & 3] = _mm256_add_epi64(s[j & 3], _mm256_load_si256(v + j));
  }
  __m256i t = _mm256_add_epi64(_mm256_add_epi64(s[0], s[1]), _mm256_add_epi64(s[2], s[3]));
  alignas(32) uint64_t out[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(out), t);
  return out[0] + out[1] + out[2] + out[3];
}

}  // namespace

GemmFn avx2_vnni_quant_gemm() {
  static const GemmFn fn = detect_vnni(false);
  return fn;
}

GemmFn avx2_vnni_packed_gemm() {
  static const GemmFn fn = detect_vnni(true);
  return fn;
}

std::vector<std::pair<const char*, GemmFn>> packed_gemm_variants() {
  std::vector<std::pair<const char*, GemmFn>> v{{"avx2-maddubs", gemm_packed_madd}};
  if (x86_features().avx_vnni) v.push_back({"avx-vnni", gemm_packed_avxvnni});
  if (x86_features().avx512_vnni_vl) {
    v.push_back({"avx512-vnni-ymm", gemm_packed_avx512vnni});
    v.push_back({"avx512-vnni-zmm", gemm_packed_avx512});
  }
  return v;
}

const KernelTable& avx2_table(bool use_vnni) {
  static const KernelTable madd{
      Isa::kAvx2, quantize_act, gemm_madd,     gemm_packed_madd,   dot_f32,
      axpy_f32,   read_sum,     gemm_ext_avx2, gemm_packed_k_avx2, attend_head};
  static const KernelTable vnni{
      Isa::kAvx2,
      quantize_act,
      avx2_vnni_quant_gemm() ? gemm_vnni : gemm_madd,
      avx2_vnni_packed_gemm() ? avx2_vnni_packed_gemm() : gemm_packed_madd,
      dot_f32,
      axpy_f32,
      read_sum,
      gemm_ext_avx2,
      x86_features().avx512_vnni_vl ? gemm_packed_k_avx512
      : x86_features().avx_vnni     ? gemm_packed_k_avxvnni
                                    : gemm_packed_k_avx2,
      attend_head,
      quantize_q8_k};
  return use_vnni ? vnni : madd;
}

}  // namespace ll::kernels::internal
