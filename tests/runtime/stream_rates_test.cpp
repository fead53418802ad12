#include "runtime/stream_rates.h"

#include <gtest/gtest.h>

namespace ll::runtime {
namespace {

// Two streams: A's tokens at 0, 1, 2, ..., 10; B's first token at 4 (its prompt came late),
// then 5, 6, ..., 14. Both generate from 4 to 10 (A's last token).
StreamRates two_staggered_streams() {
  StreamRates r(2);
  for (int t = 0; t <= 14; ++t) {
    if (t <= 10) r.on_token(0, t);
    if (t >= 4) r.on_token(1, t + 0.5);
  }
  return r;
}

TEST(StreamRates, DecodeRateSpansFirstToLastTokenWithoutPrefills) {
  StreamRates r = two_staggered_streams();
  ASSERT_EQ(r.n_tokens(), 11u + 11u);
  // 22 tokens, 2 of them prefills, from 0 to 14.5.
  EXPECT_NEAR(r.decode_tok_s(), 20 / 14.5, 1e-12);
}

TEST(StreamRates, SteadyRateCountsOnlyWhileEveryStreamGenerates) {
  StreamRates r = two_staggered_streams();
  // From B's first token (4.5) to A's last (10): A's 5..10 and B's 5.5..9.5 = 6 + 5 tokens.
  EXPECT_NEAR(r.steady_tok_s(), 11 / 5.5, 1e-12);
}

TEST(StreamRates, NoSteadyRateWithoutOverlapOrBeforeEveryStreamStarted) {
  StreamRates one_after_other(2);
  for (int t = 0; t < 5; ++t) one_after_other.on_token(0, t);
  EXPECT_EQ(one_after_other.steady_tok_s(), 0) << "stream 1 has not started";
  for (int t = 5; t < 10; ++t) one_after_other.on_token(1, t);
  EXPECT_EQ(one_after_other.steady_tok_s(), 0) << "the streams never generated together";
  EXPECT_GT(one_after_other.decode_tok_s(), 0);
}

TEST(StreamRates, AWindowOfAFewTokensIsNoRate) {
  StreamRates r(2);
  r.on_token(0, 0);
  r.on_token(1, 1);
  r.on_token(0, 2);
  r.on_token(1, 3);
  EXPECT_EQ(r.steady_tok_s(), 0) << "one token in the window, fewer than two per stream";
  r.on_token(5, 4);  // no such stream: ignored
  EXPECT_EQ(r.n_tokens(), 4u);
}

}  // namespace
}  // namespace ll::runtime
