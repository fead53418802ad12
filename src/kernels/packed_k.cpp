// The packed (8-row interleaved) layouts of Q4_K and Q6_K; see packed.h.
#include <cstring>

#include "core/quants.h"
#include "kernels/kernels_internal.h"

namespace ll::kernels::internal {

size_t packed_k_block_bytes(DType t) {
  return t == DType::kQ4_K ? kPackedQ4KBytes : kPackedQ6KBytes;
}

void pack_k_group(DType t, const uint8_t* const rows[8], int64_t nb, uint8_t* grp) {
  const size_t pb = packed_k_block_bytes(t);
  for (int64_t k = 0; k < nb; ++k) {
    uint8_t* p = grp + k * pb;
    for (int r = 0; r < 8; ++r) {
      if (t == DType::kQ4_K) {
        const auto& b = reinterpret_cast<const BlockQ4_K*>(rows[r])[k];
        std::memcpy(p + 2 * r, &b.d, 2);
        std::memcpy(p + 16 + 2 * r, &b.dmin, 2);
        for (int j = 0; j < 8; ++j) {
          int sc, m;
          quants::scale_min_k4(b.scales, j, &sc, &m);
          p[32 + j * 8 + r] = static_cast<uint8_t>(sc);
          p[96 + (j / 2 * 8 + r) * 2 + j % 2] = static_cast<uint8_t>(m);
        }
        for (int v = 0; v < 32; ++v) std::memcpy(p + 160 + v * 32 + r * 4, b.qs + 4 * v, 4);
      } else {
        const auto& b = reinterpret_cast<const BlockQ6_K*>(rows[r])[k];
        std::memcpy(p + 2 * r, &b.d, 2);
        for (int j = 0; j < 16; ++j) p[16 + j * 8 + r] = static_cast<uint8_t>(b.scales[j]);
        for (int v = 0; v < 32; ++v) std::memcpy(p + 144 + v * 32 + r * 4, b.ql + 4 * v, 4);
        for (int v = 0; v < 16; ++v) std::memcpy(p + 1168 + v * 32 + r * 4, b.qh + 4 * v, 4);
      }
    }
  }
}

void unpack_k_row(DType t, const uint8_t* grp, int r, int64_t nb, uint8_t* out) {
  const size_t pb = packed_k_block_bytes(t);
  for (int64_t k = 0; k < nb; ++k) {
    const uint8_t* p = grp + k * pb;
    if (t == DType::kQ4_K) {
      auto& b = reinterpret_cast<BlockQ4_K*>(out)[k];
      std::memcpy(&b.d, p + 2 * r, 2);
      std::memcpy(&b.dmin, p + 16 + 2 * r, 2);
      uint8_t sc[8], m[8];
      for (int j = 0; j < 8; ++j) {
        sc[j] = p[32 + j * 8 + r];
        m[j] = p[96 + (j / 2 * 8 + r) * 2 + j % 2];
      }
      quants::pack_scales_k4(sc, m, b.scales);
      for (int v = 0; v < 32; ++v) std::memcpy(b.qs + 4 * v, p + 160 + v * 32 + r * 4, 4);
    } else {
      auto& b = reinterpret_cast<BlockQ6_K*>(out)[k];
      std::memcpy(&b.d, p + 2 * r, 2);
      for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<int8_t>(p[16 + j * 8 + r]);
      for (int v = 0; v < 32; ++v) std::memcpy(b.ql + 4 * v, p + 144 + v * 32 + r * 4, 4);
      for (int v = 0; v < 16; ++v) std::memcpy(b.qh + 4 * v, p + 1168 + v * 32 + r * 4, 4);
    }
  }
}

}  // namespace ll::kernels::internal
