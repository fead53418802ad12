// Forward-pass operators against straightforward double-precision references.
#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/bandwidth.h"
#include "kernels/kernels_internal.h"

namespace ll::kernels {
namespace {

using testing::random_floats;

// Float results of O(n) work with fixed-order float sums: a few ulps per element of slack,
// plus an optional absolute term per element where the formula itself cancels in float.
void expect_close(const std::vector<float>& got, const std::vector<double>& ref, double rel,
                  const char* what, const std::vector<double>& abs_tol = {}) {
  ASSERT_EQ(got.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    double tol = rel * (std::fabs(ref[i]) + 1e-3) + (abs_tol.empty() ? 0.0 : abs_tol[i]);
    ASSERT_NEAR(got[i], ref[i], tol) << what << " at " << i;
  }
}

TEST(OpsTest, RmsNorm) {
  std::mt19937 rng(21);
  for (int64_t n : {1, 7, 64, 2051}) {
    std::vector<float> x = random_floats(rng, n, 3.0f), w = random_floats(rng, n), y(n);
    double ss = 0.0;
    for (float v : x) ss += double{v} * v;
    double scale = 1.0 / std::sqrt(ss / n + 1e-5);
    std::vector<double> ref(n), ref_now(n);
    for (int64_t i = 0; i < n; ++i) {
      ref[i] = x[i] * scale * w[i];
      ref_now[i] = x[i] * scale;
    }
    rms_norm(x.data(), w.data(), y.data(), n, 1e-5f);
    expect_close(y, ref, 2e-6, "rms_norm");
    rms_norm(x.data(), nullptr, x.data(), n, 1e-5f);  // in place, no weight
    expect_close(x, ref_now, 2e-6, "rms_norm in place");
  }
}

TEST(OpsTest, LayerNorm) {
  std::mt19937 rng(22);
  const int64_t n = 301;
  std::vector<float> x = random_floats(rng, n, 2.0f), w = random_floats(rng, n),
                     b = random_floats(rng, n), y(n);
  for (float& v : x) v += 5.0f;  // an offset the normalization must remove
  double mean = 0.0, var = 0.0;
  for (float v : x) mean += v;
  mean /= n;
  for (float v : x) var += (v - mean) * (v - mean);
  var /= n;
  double inv = 1.0 / std::sqrt(var + 1e-5);
  std::vector<double> ref(n), ref_plain(n), cancel(n), cancel_w(n);
  for (int64_t i = 0; i < n; ++i) {
    ref_plain[i] = (x[i] - mean) * inv;
    ref[i] = ref_plain[i] * w[i] + b[i];
    // x - mean in float loses the rounding error of x's magnitude.
    cancel[i] = 4 * 0x1p-24 * (std::fabs(x[i]) + std::fabs(mean)) * inv;
    cancel_w[i] = cancel[i] * std::fabs(w[i]);
  }
  layer_norm(x.data(), w.data(), b.data(), y.data(), n, 1e-5f);
  expect_close(y, ref, 1e-5, "layer_norm", cancel_w);
  layer_norm(x.data(), nullptr, nullptr, y.data(), n, 1e-5f);
  expect_close(y, ref_plain, 1e-5, "layer_norm plain", cancel);
}

TEST(OpsTest, SoftmaxSiluGeluMulAdd) {
  std::mt19937 rng(23);
  const int64_t n = 133;
  std::vector<float> x = random_floats(rng, n, 4.0f);
  x[5] = 80.0f;  // exp would overflow without subtracting the max
  std::vector<double> ref(n);
  double max = *std::max_element(x.begin(), x.end()), sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - max);
  for (int64_t i = 0; i < n; ++i) ref[i] = std::exp(x[i] - max) / sum;
  std::vector<float> s = x;
  softmax_inplace(s.data(), n);
  expect_close(s, ref, 1e-5, "softmax");

  std::vector<float> y(n), z = random_floats(rng, n);
  for (int64_t i = 0; i < n; ++i) ref[i] = x[i] / (1.0 + std::exp(-double{x[i]}));
  silu(x.data(), y.data(), n);
  expect_close(y, ref, 1e-5, "silu");
  for (int64_t i = 0; i < n; ++i) {
    double v = x[i];
    ref[i] = 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
  }
  // For negative x, 1 + tanh(...) cancels: the float error is relative to x, not the result.
  std::vector<double> cancel(n);
  for (int64_t i = 0; i < n; ++i) cancel[i] = 4 * 0x1p-24 * std::fabs(x[i]);
  gelu(x.data(), y.data(), n);
  expect_close(y, ref, 1e-5, "gelu", cancel);
  EXPECT_NEAR(y[0], ref[0], 1e-5);
  mul(x.data(), z.data(), y.data(), n);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], x[i] * z[i]);
  add(x.data(), z.data(), y.data(), n);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], x[i] + z[i]);
}

TEST(OpsTest, RopeBothStyles) {
  std::mt19937 rng(24);
  const int n_head = 3, head_dim = 16, n_rot = 12, pos = 37;
  const float base = 10000.0f;
  std::vector<float> x = random_floats(rng, n_head * head_dim);
  for (RopeStyle style : {RopeStyle::kNormal, RopeStyle::kNeox}) {
    std::vector<double> ref(x.begin(), x.end());
    for (int h = 0; h < n_head; ++h) {
      for (int i = 0; i < n_rot / 2; ++i) {
        double theta = pos * std::pow(double{base}, -2.0 * i / n_rot);
        int a = style == RopeStyle::kNormal ? 2 * i : i;
        int b = style == RopeStyle::kNormal ? 2 * i + 1 : i + n_rot / 2;
        double x0 = x[h * head_dim + a], x1 = x[h * head_dim + b];
        ref[h * head_dim + a] = x0 * std::cos(theta) - x1 * std::sin(theta);
        ref[h * head_dim + b] = x0 * std::sin(theta) + x1 * std::cos(theta);
      }
    }
    std::vector<float> y = x;
    rope_inplace(y.data(), n_head, head_dim, n_rot, pos, base, style);
    expect_close(y, ref, 1e-5, style == RopeStyle::kNormal ? "rope normal" : "rope neox");
    for (int h = 0; h < n_head; ++h) {  // dims past n_rot untouched
      for (int d = n_rot; d < head_dim; ++d) ASSERT_EQ(y[h * head_dim + d], x[h * head_dim + d]);
    }
    y = x;
    rope_inplace(y.data(), n_head, head_dim, n_rot, 0, base, style);
    EXPECT_TRUE(testing::same_bits(x, y)) << "position 0 must be the identity";
  }
}

std::vector<double> reference_attention(const std::vector<float>& q, const std::vector<float>& k,
                                        const std::vector<float>& v, int n_kv, int n_head,
                                        int n_head_kv, int head_dim, double scale,
                                        const float* slopes) {
  std::vector<double> out(n_head * head_dim, 0.0);
  for (int h = 0; h < n_head; ++h) {
    int g = h / (n_head / n_head_kv);
    std::vector<double> s(n_kv);
    double max = -INFINITY, sum = 0.0;
    for (int j = 0; j < n_kv; ++j) {
      double dot = 0.0;
      for (int d = 0; d < head_dim; ++d) {
        dot += double{q[h * head_dim + d]} * k[(j * n_head_kv + g) * head_dim + d];
      }
      s[j] = dot * scale + (slopes ? slopes[h] * double(j - (n_kv - 1)) : 0.0);
      max = std::max(max, s[j]);
    }
    for (int j = 0; j < n_kv; ++j) sum += std::exp(s[j] - max);
    for (int j = 0; j < n_kv; ++j) {
      double p = std::exp(s[j] - max) / sum;
      for (int d = 0; d < head_dim; ++d) {
        out[h * head_dim + d] += p * v[(j * n_head_kv + g) * head_dim + d];
      }
    }
  }
  return out;
}

TEST(AttentionTest, GqaAndAlibiMatchReferenceOnEveryIsa) {
  std::mt19937 rng(25);
  const int n_head = 6, n_head_kv = 2, head_dim = 20, n_ctx = 40;
  const float scale = 1.0f / std::sqrt(float{head_dim});
  std::vector<float> q = random_floats(rng, n_head * head_dim);
  std::vector<float> k = random_floats(rng, n_ctx * n_head_kv * head_dim);
  std::vector<float> v = random_floats(rng, n_ctx * n_head_kv * head_dim);
  const float slopes[n_head] = {0.5f, 0.25f, 0.125f, 0.0625f, 0.03125f, 0.015625f};
  for (const float* alibi : {static_cast<const float*>(nullptr), slopes}) {
    for (int n_kv : {1, 2, 17, n_ctx}) {
      std::vector<double> ref =
          reference_attention(q, k, v, n_kv, n_head, n_head_kv, head_dim, scale, alibi);
      for (Isa isa : testing::test_isas()) {
        std::vector<float> out(n_head * head_dim);
        attention(q.data(), k.data(), v.data(), n_kv, n_head, n_head_kv, head_dim, scale,
                  out.data(), alibi, isa);
        // Outputs are convex combinations of O(1) values: absolute tolerance.
        for (size_t i = 0; i < out.size(); ++i) {
          ASSERT_NEAR(out[i], ref[i], 2e-5) << isa_name(isa) << " n_kv " << n_kv << " i " << i;
        }
      }
    }
  }
}

// A query's result must not depend on cache contents past n_kv nor on whether it was
// computed alone (decode) or after other queries (prefill): same bits.
TEST(AttentionTest, ResultDependsOnlyOnVisiblePositions) {
  std::mt19937 rng(26);
  const int n_head = 4, n_head_kv = 4, head_dim = 32, n_ctx = 24, n_kv = 9;
  std::vector<float> q = random_floats(rng, n_head * head_dim);
  std::vector<float> k = random_floats(rng, n_ctx * n_head_kv * head_dim);
  std::vector<float> v = random_floats(rng, n_ctx * n_head_kv * head_dim);
  std::vector<float> a(n_head * head_dim), b(n_head * head_dim);
  attention(q.data(), k.data(), v.data(), n_kv, n_head, n_head_kv, head_dim, 0.2f, a.data(),
            nullptr);
  // Another query in between, then garbage beyond the visible range.
  attention(k.data(), k.data(), v.data(), n_ctx, n_head, n_head_kv, head_dim, 0.2f, b.data(),
            nullptr);
  for (size_t i = n_kv * n_head_kv * head_dim; i < k.size(); ++i) k[i] = v[i] = 1e3f;
  attention(q.data(), k.data(), v.data(), n_kv, n_head, n_head_kv, head_dim, 0.2f, b.data(),
            nullptr);
  EXPECT_TRUE(testing::same_bits(a, b));
}

// A table's own attention head (AVX2: several keys at once, the output in registers) gives the
// generic loop's bits over that table's dot_f32 and axpy_f32, with and without ALiBi, for every
// head size it takes and position counts around its 4-key step.
TEST(AttentionTest, TableHeadKernelsMatchGenericLoopBits) {
  std::mt19937 rng(27);
  int checked = 0;
  for (const internal::KernelTable* kt : testing::kernel_tables()) {
    if (kt->attend_head == nullptr) continue;
    for (int head_dim : {32, 64, 128, 20}) {
      const int n_head_kv = 2, n_ctx = 41;
      const int64_t pos_stride = int64_t{n_head_kv} * head_dim;
      std::vector<float> q = random_floats(rng, head_dim);
      std::vector<float> k = random_floats(rng, n_ctx * pos_stride);
      std::vector<float> v = random_floats(rng, n_ctx * pos_stride);
      for (float& x : q) x *= 3.0f;  // spread the softmax
      const float slope = 0.0625f;
      for (const float* alibi : {static_cast<const float*>(nullptr), &slope}) {
        for (int n_kv : {1, 3, 4, 5, 8, 9, n_ctx}) {
          std::vector<float> scores(n_kv), want(head_dim, NAN), got(head_dim, NAN);
          internal::AttendHead h{q.data(),
                                 k.data() + head_dim,
                                 v.data() + head_dim,
                                 n_kv,
                                 pos_stride,
                                 head_dim,
                                 0.125f,
                                 alibi,
                                 scores.data(),
                                 want.data()};
          internal::attend_head_generic(*kt, h);
          h.out = got.data();
          if (!kt->attend_head(h)) {
            EXPECT_EQ(head_dim, 20) << "the AVX2 head kernel takes 32, 64 and 128";
            continue;
          }
          ASSERT_TRUE(testing::same_bits(got, want))
              << isa_name(kt->isa) << " head_dim " << head_dim << " n_kv " << n_kv
              << (alibi ? " alibi" : "");
          ++checked;
        }
      }
    }
  }
#if defined(__x86_64__)
  if (isa_supported(Isa::kAvx2)) EXPECT_GT(checked, 0);
#endif
}

TEST(BandwidthTest, ReportsPositiveFiniteRate) {
  ThreadPool pool(2);
  double one = measure_read_bandwidth_gbs(nullptr, size_t{8} << 20);
  double two = measure_read_bandwidth_gbs(&pool, size_t{8} << 20);
  EXPECT_GT(one, 0.1);
  EXPECT_TRUE(std::isfinite(one));
  EXPECT_GT(two, 0.1);
  EXPECT_TRUE(std::isfinite(two));
}

}  // namespace
}  // namespace ll::kernels
